"""MIDI files -> windows: per-file conversion and the `convert` command (parity interface).

Each file is converted on its own and its failure is recorded, never raised: a corrupt file
ends up in the report with a one-line reason and every other file still converts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from musicvae.configs import Config, DataConfig
from musicvae.data.augment import random_transpose
from musicvae.data.converters import ConverterTensors, build_converter
from musicvae.data.parallel import ordered_map
from musicvae.files import atomic_write
from musicvae.music import sequences
from musicvae.music.midi_io import MidiReadError, read_midi
from musicvae.music.notes import NoteSequence

log = logging.getLogger(__name__)

MIDI_SUFFIXES = (".mid", ".midi")


class NoInputError(ValueError):
    """No MIDI file was found, or none yielded a window."""


@dataclass(frozen=True)
class Source:
    """One input file and its path relative to the input it was found under."""

    path: Path
    relative: Path


def find_midi_files(inputs: Iterable[str | os.PathLike]) -> list[Source]:
    """Expands files and folders (searched recursively for .mid/.midi) in a stable order."""
    found: list[Source] = []
    for item in inputs:
        root = Path(item)
        if root.is_dir():
            files = sorted(
                p for p in root.rglob("*") if p.suffix.lower() in MIDI_SUFFIXES and not p.is_dir()
            )
            found.extend(Source(p, p.relative_to(root)) for p in files)
        elif root.exists():
            found.append(Source(root, Path(root.name)))
        else:
            raise NoInputError(f"input {str(root)!r} does not exist")
    return found


def windows_of(
    data: DataConfig, seq: NoteSequence, rng: np.random.Generator | None = None
) -> ConverterTensors:
    """All windows of a sequence, or (with rng) a training sample with Magenta's augmentation."""
    converter = build_converter(data)
    if rng is not None and data.transpose_range is not None:
        seq = random_transpose(seq, data.transpose_range, rng)
    return converter.to_tensors(seq, rng=rng)


@dataclass(frozen=True)
class FileResult:
    """What converting one file gave: windows, or an error, plus a reason when empty."""

    relative: str
    tensors: ConverterTensors | None
    error: str | None = None
    note: str | None = None

    @property
    def count(self) -> int:
        return len(self.tensors) if self.tensors is not None else 0


def file_seed(seed: int, relative: str) -> int:
    """A per-file seed independent of processing order and worker count."""
    digest = hashlib.sha256(f"{seed}:{relative}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def convert_file(
    source: Source, data: DataConfig, seed: int | None = None, max_windows: int | None = None
) -> FileResult:
    """Reads and converts one file; never raises for a bad file.

    seed=None: all windows (the parity interface). Otherwise Magenta's training mode with a
    numpy Generator seeded from (seed, file): augmentation and at most the config's cap.
    `max_windows` then overrides the cap.
    """
    rel = source.relative.as_posix()
    try:
        seq = read_midi(source.path)
    except MidiReadError as e:
        return FileResult(rel, None, error=str(e))
    except OSError as e:
        return FileResult(rel, None, error=f"cannot read file: {e.strerror or e}")
    if max_windows is not None:
        data = dataclasses.replace(data, max_tensors_per_notesequence=max_windows)
    rng = None if seed is None else np.random.default_rng(file_seed(seed, rel))
    try:
        tensors = windows_of(data, seq, rng)
    except sequences.QuantizationError as e:
        # Magenta's converter raises here too (it only skips bad meters and negative times).
        return FileResult(rel, None, error=f"{type(e).__name__}: {e}")
    note = None if len(tensors) else build_converter(data).no_window_reason(seq)
    return FileResult(rel, tensors, note=note)


def _convert_task(args) -> FileResult:
    return convert_file(*args)


def convert_many(
    sources: list[Source],
    data: DataConfig,
    *,
    seed: int | None = None,
    max_windows: int | None = None,
    workers: int = 1,
) -> Iterator[FileResult]:
    """Converts files, in parallel processes when workers > 1; yields in input order."""
    tasks = ((s, data, seed, max_windows) for s in sources)
    yield from ordered_map(_convert_task, tasks, workers)


WINDOWS_FORMAT = "musicvae-windows-1"


def save_windows(path, config: Config, tensors: ConverterTensors) -> None:
    """One file's windows, compactly, as a compressed .npz: `tokens` (N, T, S) int16 class
    indices (the converter's token codec), `lengths` (N,) int32, `controls` when the converter
    has any, and the config's name. load_windows expands them back to one-hot. Atomic."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = dict(
        tokens=build_converter(config.data).to_tokens(tensors),
        lengths=np.asarray(tensors.lengths, np.int32),
        config=np.asarray(config.name),
        format=np.asarray(WINDOWS_FORMAT),
    )
    if tensors.controls.shape[-1]:
        arrays["controls"] = tensors.controls

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)

    atomic_write(path, write)


def load_windows(path, data: DataConfig | None = None) -> ConverterTensors:
    """A .npz from save_windows (`musicvae convert`) -> ConverterTensors with the one-hot
    inputs (N, T, D_in) and outputs (N, T, D_out) that the converter gave; `data` defaults to
    the settings of the config named in the file."""
    with np.load(path) as f:
        if "tokens" not in f or str(f.get("format", "")) != WINDOWS_FORMAT:
            raise ValueError(f"{path}: not a windows file of `musicvae convert`")
        tokens, lengths = f["tokens"], f["lengths"]
        controls = f["controls"] if "controls" in f else None
        name = str(f["config"])
    if data is None:
        from musicvae.configs import get_config

        data = get_config(name).data
    converter = build_converter(data)
    n, t = tokens.shape[:2]
    if controls is None:
        controls = np.zeros((n, t, 0), bool)
    return ConverterTensors(
        converter.tokens_to_inputs(tokens), converter.tokens_to_outputs(tokens), controls, lengths
    )


def run_convert(
    config: Config,
    inputs: list[str],
    output: str | os.PathLike,
    *,
    all_windows: bool = True,
    seed: int = 0,
    workers: int = 1,
    progress: bool = True,
    overwrite: bool = False,
) -> dict:
    """The `convert` command: one .npz per input with windows, plus report.json. Returns it.
    `output` must be new or empty, or hold an earlier run and `overwrite` (musicvae.outputs)."""
    from musicvae.outputs import output_folder

    with output_folder(output, overwrite=overwrite, command="convert"):
        return _run_convert(config, inputs, output, all_windows, seed, workers, progress)


def _run_convert(config, inputs, output, all_windows, seed, workers, progress) -> dict:
    from tqdm import tqdm

    start = time.perf_counter()
    sources = find_midi_files(inputs)
    if not sources:
        raise NoInputError(f"no .mid/.midi files found in {', '.join(inputs)}")
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    report_files = []
    totals = dict(files=len(sources), with_windows=0, without_windows=0, failed=0, windows=0)
    results = convert_many(
        sources, config.data, seed=None if all_windows else seed, workers=workers
    )
    for result in tqdm(results, total=len(sources), disable=not progress, unit="file"):
        entry: dict = {"file": result.relative}
        if result.error is not None:
            entry["error"] = result.error
            totals["failed"] += 1
        else:
            entry["windows"] = result.count
            if result.count:
                target = out / Path(result.relative).with_suffix(".npz")
                save_windows(target, config, result.tensors)
                entry["output"] = target.relative_to(out).as_posix()
                totals["with_windows"] += 1
                totals["windows"] += result.count
            else:
                entry["reason"] = result.note
                totals["without_windows"] += 1
        report_files.append(entry)
    report = {
        "config": config.name,
        "mode": "all windows" if all_windows else f"training sample (seed {seed})",
        "totals": totals,
        "elapsed_s": round(time.perf_counter() - start, 3),
        "files": report_files,
    }
    (out / "report.json").write_text(json.dumps(report, indent=1))
    return report
