"""Progress bars that show on a terminal and stay quiet in pipes, logs and CI."""

from __future__ import annotations

import sys


def show_progress(progress: bool | None) -> bool:
    """progress True/False as asked; None (the commands' default): only when stderr is a TTY."""
    if progress is None:
        return bool(getattr(sys.stderr, "isatty", lambda: False)())
    return bool(progress)


def bar(
    iterable=None,
    *,
    total: int | None = None,
    desc: str = "",
    unit: str = "it",
    progress: bool | None = None,
):
    """A tqdm bar over `iterable` (or a manual one with `total`), disabled unless show_progress."""
    from tqdm import tqdm

    disable = not show_progress(progress)
    return tqdm(iterable, total=total, desc=desc, unit=unit, disable=disable, leave=False)
