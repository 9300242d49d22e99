from musicvae.cli import main

raise SystemExit(main())
