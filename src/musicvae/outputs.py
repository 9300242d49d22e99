"""Output folders that never mix runs, and never stay behind empty when a command fails.

The one convention of every command that writes a folder (convert, sample, interpolate,
reconstruct, encode, attributes apply, demo, import-magenta, export-magenta-js): the folder
must be new or empty; one that holds files from an earlier run is refused with a message naming
`--overwrite`, which first removes that run's files. A folder musicvae wrote carries a marker
file (MARKER); `--overwrite` never empties a folder without it (it may be anything). A file
output (attributes compute) is refused when it exists, unless `--overwrite`.

`prepare` and `train` continue their own earlier run instead (resume): see their docs.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

MARKER = ".musicvae-output.json"


class OutputError(ValueError):
    """An output folder or file that cannot be used: not writable, or holding an earlier run."""


def _missing_parents(path: Path) -> list[Path]:
    """`path` and its ancestors that do not exist yet, innermost first."""
    missing = []
    for p in [path, *path.parents]:
        if p.exists():
            break
        missing.append(p)
    return missing


def check_writable(folder: Path, option: str = "--output") -> None:
    """Creates `folder` (and parents) and proves a file can be written there."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        raise OutputError(f"cannot write to {option} {folder}: {e.strerror or e}") from None


def _remove_if_empty(created: list[Path]) -> None:
    """Removes the folders this run created (innermost first) while they hold nothing but the
    marker, so a failed command leaves no empty output folder behind."""
    for folder in created:
        try:
            (folder / MARKER).unlink(missing_ok=True)
            folder.rmdir()
        except OSError:
            return


def _clear(folder: Path) -> None:
    for child in folder.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


@contextlib.contextmanager
def output_folder(
    path: str | os.PathLike,
    *,
    overwrite: bool = False,
    command: str = "",
    option: str = "--output",
    ours: tuple[str, ...] = (),
) -> Iterator[Path]:
    """A usable output folder for the body of a command (see the module docstring).

    Raises OutputError before any work when the folder cannot be written, or holds files and
    `overwrite` is False (or holds files musicvae did not write). If the body raises, folders
    this call created are removed again while empty. `ours`: file names that also mark a
    folder as musicvae's (a model folder's weights, from before the marker existed).
    """
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{option} {folder} is a file, not a folder")
    created = _missing_parents(folder)
    held = sorted(p.name for p in folder.iterdir()) if folder.is_dir() and not created else []
    if held:
        ours = MARKER in held or any(name in held for name in ours)
        if not overwrite:
            raise OutputError(
                f"{option} {folder} already holds files ({_shown(held)}); pass --overwrite to "
                f"replace {'that earlier run' if ours else 'them'}, or choose another {option}"
            )
        if not ours:
            raise OutputError(
                f"{option} {folder} holds files that musicvae did not write ({_shown(held)}); "
                f"--overwrite only replaces an earlier musicvae output: choose another {option}"
            )
    check_writable(folder, option)
    try:
        if held:
            _clear(folder)
        info = {"command": command, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        (folder / MARKER).write_text(json.dumps(info) + "\n")
    except OSError as e:
        _remove_if_empty(created)
        raise OutputError(f"cannot write to {option} {folder}: {e.strerror or e}") from None
    try:
        yield folder
    except BaseException:
        _remove_if_empty(created)
        raise


@contextlib.contextmanager
def output_file(
    path: str | os.PathLike, *, overwrite: bool = False, option: str = "--output"
) -> Iterator[Path]:
    """A usable output file path: refused when it exists (unless `overwrite`) or its folder is
    not writable; folders created for it are removed again if the body raises."""
    file = Path(path)
    if file.is_dir():
        raise OutputError(f"{option} {file} is a folder; give a file name")
    if file.exists() and not overwrite:
        raise OutputError(
            f"{option} {file} exists (from an earlier run?); pass --overwrite to replace it, "
            f"or choose another {option}"
        )
    parent = file.parent if str(file.parent) else Path(".")
    created = _missing_parents(parent)
    check_writable(parent, option)
    try:
        yield file
    except BaseException:
        _remove_if_empty(created)
        raise


def _shown(names: list[str]) -> str:
    names = [n for n in names if n != MARKER] or names
    return ", ".join(names[:3]) + (f", ... {len(names)} in all" if len(names) > 3 else "")
