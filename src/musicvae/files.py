"""Writing files so that a reader never sees half of one: temp file beside it, then rename."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> Path:
    """Calls write(f) on `path`.tmp, then renames it over `path` (the old file stays whole on
    failure, and the temp file is removed). Returns the path."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """`text` (UTF-8) written atomically to `path`."""
    return atomic_write(path, lambda f: f.write(text.encode()))
