"""What every CLI module shares: the Command record of the command table."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    """One subcommand: its name, help line, argument definitions and the function running it
    (parse -> call one library function -> print; returns the exit code)."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def workers(value: str | None) -> int:
    """--workers, or every core."""
    return int(value) if value else max(1, (os.cpu_count() or 1))
