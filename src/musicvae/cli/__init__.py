"""The `musicvae` command line: a table of subcommands, one module per group.

Each command is a Command(name, help, add_arguments, run) in its module's COMMANDS; `run`
parses nothing itself: it takes the parsed arguments, calls one library function
(musicvae.inference.generate, musicvae.data.prepare, musicvae.train.loop, ...) and prints
the result. Modules import the library inside `run`, so `musicvae --help` and
`musicvae configs` never import torch. A new command is a new entry in COMMANDS.

What every command shares (here): `-v/--verbose` before or after the subcommand; `--help`
shows each option's default; errors a user can act on are one line on stderr with exit code
2; Ctrl-C exits 130 and SIGTERM 143; a closed stdout (`musicvae ... | head`) does not stop
the work: the rest of the output is dropped and every file is still written.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from musicvae import __version__
from musicvae.cli import checkpoints, data, demo, evaluate, generate, studio, train
from musicvae.cli.common import Command, HelpFormatter

# The command table, in the order `musicvae --help` lists it.
COMMANDS: list[Command] = [
    *data.COMMANDS,  # configs, convert, prepare, windows
    *train.COMMANDS,  # train
    *demo.COMMANDS,  # demo
    *checkpoints.COMMANDS,  # import-magenta, export-magenta-js
    *generate.COMMANDS,  # sample, interpolate, reconstruct, encode, attributes
    *evaluate.COMMANDS,  # evaluate
    *studio.COMMANDS,  # studio
]

EXIT_SIGINT = 128 + signal.SIGINT  # 130
EXIT_SIGTERM = 128 + signal.SIGTERM  # 143


def add_verbose(p: argparse.ArgumentParser, top: bool = False) -> None:
    """-v/--verbose; on a subcommand it defaults to SUPPRESS so it never undoes the top one."""
    p.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="log progress details (also after the subcommand)",
    )


def build_parser(commands: list[Command] = COMMANDS) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="musicvae",
        description="MusicVAE in PyTorch, faithful to Magenta.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"musicvae {__version__}")
    add_verbose(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True)
    for command in commands:
        p = sub.add_parser(
            command.name, help=command.help, description=command.help, formatter_class=HelpFormatter
        )
        command.add_arguments(p)
        for action in p._actions:  # nested subcommands (attributes compute/apply) too
            if isinstance(action, argparse._SubParsersAction):
                for nested in action.choices.values():
                    add_verbose(nested)
        add_verbose(p)
        p.set_defaults(run=command.run)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM outside training (training saves a checkpoint first, then stops)."""


def _on_sigterm(signum, frame) -> None:
    raise Terminated("terminated")


class _PipeSafe:
    """stdout that survives its reader going away: after a BrokenPipeError the rest of the
    output is dropped (the command goes on and writes its files)."""

    def __init__(self, stream):
        self._stream = stream
        self.broken = False

    def write(self, text: str) -> int:
        if not self.broken:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._broke()
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._broke()

    def _broke(self) -> None:
        self.broken = True
        try:  # later writes at exit (the interpreter's own flush) go nowhere, quietly
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
        except (OSError, ValueError):
            pass

    def __getattr__(self, name):
        return getattr(self._stream, name)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    from musicvae.errors import TrainingError

    stdout = sys.stdout
    sys.stdout = _PipeSafe(stdout)
    previous = None
    if threading_main():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    # ConfigError, CheckpointError, NoInputError, DatasetError, ... are ValueErrors.
    try:
        code = args.run(args)
        sys.stdout.flush()
        return code
    except (ValueError, TrainingError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        sig = getattr(e, "signal_name", "SIGTERM" if isinstance(e, Terminated) else "SIGINT")
        if not getattr(e, "signal_name", None):  # training said what it kept already
            print("interrupted" if sig == "SIGINT" else "terminated", file=sys.stderr)
        return EXIT_SIGTERM if sig == "SIGTERM" else EXIT_SIGINT
    finally:
        sys.stdout = stdout
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def threading_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


if __name__ == "__main__":
    raise SystemExit(main())
