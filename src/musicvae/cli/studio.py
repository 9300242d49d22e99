"""`musicvae studio`: the local web app (musicvae.studio) until Ctrl+C."""

from __future__ import annotations

import argparse

from musicvae.cli.common import Command

DESCRIPTION = (
    "Serve MusicVAE Studio (a page plus a JSON API) on this machine. It offers the bundled "
    "models and every --model folder; nothing is fetched from the network. Open the printed "
    "address in a browser."
)


def add_studio(p: argparse.ArgumentParser) -> None:
    p.description = DESCRIPTION
    p.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="MODEL_DIR",
        help="model folder or training run to offer (repeatable; the first is the default; "
        "attributes.npz beside its weights enables the Attributes view)",
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, this machine only)",
    )
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    p.add_argument("--open", action="store_true", help="open the page in the default browser")
    p.add_argument("--device", default="cpu", help="cpu, cuda (or cuda:N) (default: cpu)")


def run_studio(args: argparse.Namespace) -> int:
    """The Studio web app over the bundled models and --model folders, until Ctrl+C."""
    from importlib.util import find_spec

    missing = [m for m in ("fastapi", "uvicorn", "python_multipart") if find_spec(m) is None]
    if missing:
        raise ValueError(
            f"musicvae studio needs {', '.join(missing)}: pip install 'musicvae[studio]'"
        )
    from musicvae.studio.server import serve

    serve(args.model, args.host, args.port, args.open, args.device, announce=print)
    return 0


COMMANDS = [
    Command(
        "studio",
        "local web app: sample, interpolate, blend and move melodies in the browser",
        add_studio,
        run_studio,
    ),
]
