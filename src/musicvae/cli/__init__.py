"""The `musicvae` command line: a table of subcommands, one module per group.

Each command is a Command(name, help, add_arguments, run) in its module's COMMANDS; `run`
parses nothing itself: it takes the parsed arguments, calls one library function
(musicvae.inference.generate, musicvae.data.prepare, musicvae.train.loop, ...) and prints
the result. Modules import the library inside `run`, so `musicvae --help` and
`musicvae configs` never import torch. A new command is a new entry in COMMANDS.
"""

from __future__ import annotations

import argparse
import logging
import sys

from musicvae import __version__
from musicvae.cli import checkpoints, data, demo, generate, train
from musicvae.cli.common import Command

# The command table, in the order `musicvae --help` lists it.
COMMANDS: list[Command] = [
    *data.COMMANDS,  # configs, convert, prepare
    *train.COMMANDS,  # train
    *demo.COMMANDS,  # demo
    *checkpoints.COMMANDS,  # import-magenta, export-magenta-js
    *generate.COMMANDS,  # sample, interpolate, reconstruct, encode, attributes
]


def build_parser(commands: list[Command] = COMMANDS) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="musicvae", description="MusicVAE in PyTorch, faithful to Magenta."
    )
    parser.add_argument("--version", action="version", version=f"musicvae {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in commands:
        p = sub.add_parser(command.name, help=command.help)
        command.add_arguments(p)
        p.set_defaults(run=command.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    from musicvae.errors import TrainingError

    # ConfigError, CheckpointError, NoInputError, DatasetError, ... are ValueErrors.
    try:
        return args.run(args)
    except (ValueError, TrainingError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
