"""What every CLI module shares: the Command record of the command table, shared options."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from dataclasses import dataclass

# musicvae.inference.bundled.BUNDLED_MODELS, named here so that --help imports no torch (a test
# keeps the two equal); the first is every command's default model.
BUNDLED_MODEL_NAMES = ("folk-mel_2bar", "folk-mel_16bar")
MODEL_HELP = (
    "model folder, training run, or a bundled model's name: "
    + ", ".join(BUNDLED_MODEL_NAMES)
    + f" (default: {BUNDLED_MODEL_NAMES[0]}, the folk 2-bar melody model)"
)


@dataclass(frozen=True)
class Command:
    """One subcommand: its name, help line, argument definitions and the function running it
    (parse -> call one library function -> print; returns the exit code)."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


class HelpFormatter(argparse.HelpFormatter):
    """Shows every option's default: "(default: X)" unless the help text already says it;
    flags (store_true) and options without a default say nothing more."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default in (None, False, argparse.SUPPRESS):
            return text
        if not action.option_strings or action.nargs == 0:
            return text
        default = action.default
        if isinstance(default, (list, tuple)):
            default = " ".join(str(x) for x in default)
        return f"{text} (default: {default})" if text else f"default: {default}"


def workers(value: str | None) -> int:
    """--workers, or every core."""
    return int(value) if value else max(1, (os.cpu_count() or 1))


ANY_PROGRAM_HELP = (
    "melody configs: read melodies on every non-drum instrument (violin, flute, synth lead, "
    "...); default: Magenta's rule (2-bar configs read programs 0-31 only)"
)


def add_any_program(p: argparse.ArgumentParser) -> None:
    """--any-program (melody configs read every non-drum program)."""
    p.add_argument("--any-program", action="store_true", help=ANY_PROGRAM_HELP)


def config_of(name: str, any_program: bool = False):
    """The registered config `name`, reading every non-drum program when `any_program`."""
    from musicvae.configs import get_config, with_any_program

    config = get_config(name)
    return with_any_program(config) if any_program else config
