"""demo: parse, call musicvae.demo.run_demo, print where the page is."""

from __future__ import annotations

import argparse

from musicvae.cli.common import Command


def add_demo(p: argparse.ArgumentParser) -> None:
    p.add_argument("--output", default="musicvae-demo", help="folder of the page and files")
    p.add_argument("--model", help="model folder (default: the bundled folk melody model)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-audio", action="store_true", help="skip WAV rendering")


def run_demo(args) -> int:
    """The bundled model samples, interpolates and moves a tune; writes an HTML page."""
    from musicvae.demo import run_demo as demo
    from musicvae.render import audio_available

    page = demo(args.output, model_path=args.model, seed=args.seed, audio=not args.no_audio)
    has_audio, note = audio_available()
    if not has_audio and not args.no_audio:
        print(note)
    print(f"demo: {page} (open it in a browser)")
    return 0


COMMANDS = [
    Command(
        "demo",
        "offline demo with the bundled model: samples, an interpolation and attribute "
        "moves as MIDI, piano rolls and audio on one HTML page",
        add_demo,
        run_demo,
    ),
]
