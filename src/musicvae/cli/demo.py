"""demo: parse, call musicvae.demo.run_demo, print where the page is."""

from __future__ import annotations

import argparse

from musicvae.cli.common import MODEL_HELP, Command


def add_demo(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--output", default="musicvae-demo", help="folder of the page and files, new or empty"
    )
    p.add_argument("--overwrite", action="store_true", help="replace an earlier demo in --output")
    p.add_argument(
        "--model",
        help=MODEL_HELP.replace("model folder", "melody, drums or trio model folder")
        + "; without --model the page also shows the bundled 16-bar model",
    )
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N, mps or gpu")
    p.add_argument("--seed", type=int, default=0, help="seed of the samples and moves")
    p.add_argument("--no-audio", action="store_true", help="skip WAV rendering")
    p.add_argument("--quiet", action="store_true", help="no progress bars (default: on a terminal)")


def run_demo(args) -> int:
    """A model samples, interpolates and (melody) moves a tune; writes an HTML page."""
    from musicvae.demo import run_demo as demo
    from musicvae.render import audio_available

    page = demo(
        args.output,
        model_path=args.model,
        seed=args.seed,
        audio=not args.no_audio,
        overwrite=args.overwrite,
        device=args.device,
        progress=False if args.quiet else None,
    )
    has_audio, note = audio_available()
    if not has_audio and not args.no_audio:
        print(note)
    print(f"demo: {page} (open it in a browser)")
    return 0


COMMANDS = [
    Command(
        "demo",
        "offline demo of a model (default: the bundled one): samples, an interpolation and "
        "attribute moves as MIDI, piano rolls and audio on one HTML page",
        add_demo,
        run_demo,
    ),
]
