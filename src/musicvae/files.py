"""Writing files so that a reader never sees half of one: a temp file beside it, then a rename.

Used for dataset shards and manifests, training checkpoints, model folders and the folk cache;
and where the user's cache folder is (cache_root).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def atomic_write(
    path: str | os.PathLike, write: Callable[[Path], object], unique: bool = False
) -> Path:
    """write(tmp) fills a temp file beside `path`, which then replaces `path` in one rename.

    On failure the temp file is removed and `path` keeps its old content. unique=True names the
    temp file after the process (.NAME.PID.tmp), for several processes writing the same path.
    """
    path = Path(path)
    name = f".{path.name}.{os.getpid()}.tmp" if unique else f"{path.name}.tmp"
    tmp = path.with_name(name)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes, unique: bool = False) -> Path:
    """`data` written atomically to `path`."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data), unique)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """`text` (UTF-8) written atomically to `path`."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def save_npy(path: Path, array) -> None:
    """np.save to exactly `path` (np.save given a name without .npy would append it)."""
    import numpy as np

    with open(path, "wb") as f:
        np.save(f, array)


def cache_root() -> Path:
    """The user's cache folder: $MUSICVAE_CACHE, else $XDG_CACHE_HOME/musicvae, else ~/.cache."""
    if os.environ.get("MUSICVAE_CACHE"):
        return Path(os.environ["MUSICVAE_CACHE"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "musicvae"
    return Path.home() / ".cache" / "musicvae"
