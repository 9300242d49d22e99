"""The windows an evaluation runs on: a split of a prepared dataset, or every window of MIDI files.

Windows are kept as tokens (N, T, S): one class index per step and stream (the converter's
token codec), so 5,000 drum windows do not sit in memory as 512-wide one-hot tensors; `batch`
expands a chunk.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from musicvae.configs import Config
from musicvae.data.converters import build_converter
from musicvae.data.dataset import DatasetError, WindowDataset
from musicvae.data.windows import NoInputError, convert_many, find_midi_files

log = logging.getLogger(__name__)

SPLITS = ("eval", "train", "all")
STREAM_NAMES = {"melody": ("melody",), "drums": ("drums",), "trio": ("melody", "bass", "drums")}


class EvaluationError(ValueError):
    """Evaluation input a user can fix: no windows, a wrong split, a model/data mismatch."""


@dataclass(frozen=True, eq=False)
class EvalWindows:
    """tokens (N, T, S) int16 class indices, lengths (N,) int64, and where they came from."""

    tokens: np.ndarray
    lengths: np.ndarray
    source: str

    def __len__(self) -> int:
        return len(self.tokens)

    def take(self, rows) -> EvalWindows:
        return EvalWindows(self.tokens[rows], self.lengths[rows], self.source)

    def batch(self, config: Config, rows=slice(None)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """-> inputs (n, T, D_in) float32, outputs (n, T, D_out) float32, lengths (n,)."""
        tokens = self.tokens[rows]
        converter = build_converter(config.data)
        inputs = converter.tokens_to_inputs(tokens).astype(np.float32)
        outputs = converter.tokens_to_outputs(tokens).astype(np.float32)
        return inputs, outputs, self.lengths[rows]


def stream_names(config: Config) -> tuple[str, ...]:
    """melody | drums | melody, bass, drums: the output streams of a config, in token order."""
    return STREAM_NAMES[config.data.kind]


def windows_from_outputs(config: Config, outputs, lengths=None, source: str = "") -> EvalWindows:
    """One-hot decoder targets (N, T, D_out) (e.g. a golden file's `outputs`) -> EvalWindows."""
    outputs = np.asarray(outputs)
    bounds = np.cumsum((0,) + tuple(build_converter(config.data).stream_depths))
    tokens = np.stack(
        [outputs[..., lo:hi].argmax(-1) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)],
        axis=-1,
    ).astype(np.int16)  # (N, T, S)
    n, t = outputs.shape[:2]
    lengths = np.full(n, t, np.int64) if lengths is None else np.asarray(lengths, np.int64)
    return EvalWindows(tokens, lengths, source)


def _dataset_windows(config: Config, root: Path, split: str) -> EvalWindows:
    splits = ("train", "eval") if split == "all" else (split,)
    parts = []
    for name in splits:
        try:
            ds = WindowDataset(root, name, config)
        except DatasetError as e:
            missing = f"has no {name} windows" in str(e)
            if split == "all" and missing:
                continue  # `all` takes whichever splits exist
            if missing:
                other = "train" if name == "eval" else "eval"
                raise EvaluationError(
                    f"{e}; evaluate another split with --split {other} or --split all"
                ) from None
            raise EvaluationError(str(e)) from None
        parts.append(ds.tokens(np.arange(len(ds))))
    if not parts:
        raise EvaluationError(f"{root} has no windows in any split")
    tokens = np.concatenate(parts)
    return EvalWindows(tokens, np.full(len(tokens), tokens.shape[1], np.int64), f"{root} ({split})")


def _midi_windows(config: Config, inputs: Sequence[str | Path]) -> EvalWindows:
    sources = find_midi_files(inputs)
    shown = ", ".join(str(i) for i in inputs)
    if not sources:
        raise NoInputError(f"no .mid/.midi files found in {shown}")
    parts, failed = [], 0
    for result in convert_many(sources, config.data, seed=None):  # all windows, no cap
        if result.error is not None:
            failed += 1
            log.warning("skipped %s: %s", result.relative, result.error)
        elif result.count:
            parts.append(build_converter(config.data).to_tokens(result.tensors))
    if not parts:
        raise NoInputError(
            f"none of the {len(sources)} MIDI file(s) in {shown} yielded a {config.data.kind} "
            f"window for {config.name} ({failed} unreadable)"
        )
    tokens = np.concatenate(parts)
    lengths = np.full(len(tokens), tokens.shape[1], np.int64)
    return EvalWindows(tokens, lengths, f"{len(sources)} MIDI file(s) in {shown}")


def is_dataset(data) -> bool:
    """A folder made by `musicvae prepare` (it has a manifest.json)."""
    return isinstance(data, (str, Path)) and (Path(data) / "manifest.json").is_file()


def load_windows(
    config: Config,
    data: str | Path | Sequence[str | Path],
    split: str = "eval",
    max_windows: int | None = None,
    seed: int = 0,
) -> EvalWindows:
    """A prepared dataset folder (its `split`: eval, train or all) or MIDI files/folders (every
    window, converted with `config`'s converter) -> EvalWindows; at most `max_windows` (a seeded
    random subset, kept in order)."""
    if split not in SPLITS:
        raise EvaluationError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    items = [data] if isinstance(data, (str, Path)) else list(data)
    if not items:
        raise NoInputError("no evaluation data given")
    if len(items) == 1 and is_dataset(items[0]):
        windows = _dataset_windows(config, Path(items[0]), split)
    else:
        windows = _midi_windows(config, items)
    if max_windows is not None and max_windows < len(windows):
        if max_windows < 1:
            raise EvaluationError(f"max_windows must be positive, got {max_windows}")
        rng = np.random.default_rng(seed)
        windows = windows.take(np.sort(rng.choice(len(windows), max_windows, replace=False)))
    return windows
