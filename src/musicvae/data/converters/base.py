"""The converter seam shared by melody, drums and trio: ConverterTensors and window sampling.

Magenta's `to_tensors(item)` runs per piece of the input (after splitting at tempo and time
signature changes), keeps at most `max_tensors_per_notesequence` windows per piece (random when
training), then does the same once more over all pieces (data.py split_process_and_combine).
Here `rng=None` means "all windows, deterministic order" (the parity interface), and an explicit
numpy Generator means training mode.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from musicvae.music.notes import DEFAULT_QPM, NoteSequence, TimeSignature
from musicvae.music.sequences import split_on_time_changes


@dataclass(frozen=True, eq=False)
class ConverterTensors:
    """Windows of one input: inputs (N, T, D_in), outputs (N, T, D_out), controls (N, T, C),
    lengths (N,) int32. All windows of a converter have the same T."""

    inputs: np.ndarray
    outputs: np.ndarray
    controls: np.ndarray
    lengths: np.ndarray

    def __len__(self) -> int:
        return len(self.lengths)

    def __repr__(self) -> str:
        return (
            f"ConverterTensors({len(self)} windows, inputs {list(self.inputs.shape)}, "
            f"outputs {list(self.outputs.shape)}, controls {list(self.controls.shape)})"
        )

    @classmethod
    def empty(cls, input_depth: int, output_depth: int, control_depth: int = 0):
        return cls(
            np.zeros((0, 0, input_depth), bool),
            np.zeros((0, 0, output_depth), bool),
            np.zeros((0, 0, control_depth), bool),
            np.zeros((0,), np.int32),
        )

    @classmethod
    def from_windows(cls, inputs: np.ndarray, outputs: np.ndarray, control_depth: int = 0):
        """Windows of equal length T: inputs (N, T, D_in), outputs (N, T, D_out)."""
        n, t = outputs.shape[:2]
        return cls(
            inputs,
            outputs,
            np.zeros((n, t, control_depth), bool),
            np.full((n,), t, np.int32),
        )

    def take(self, index) -> ConverterTensors:
        return ConverterTensors(
            self.inputs[index], self.outputs[index], self.controls[index], self.lengths[index]
        )


def concat_tensors(parts: list[ConverterTensors], empty: ConverterTensors) -> ConverterTensors:
    parts = [p for p in parts if len(p)]
    if not parts:
        return empty
    if len(parts) == 1:
        return parts[0]
    return ConverterTensors(
        np.concatenate([p.inputs for p in parts]),
        np.concatenate([p.outputs for p in parts]),
        np.concatenate([p.controls for p in parts]),
        np.concatenate([p.lengths for p in parts]),
    )


def sample_windows(
    tensors: ConverterTensors, limit: int | None, rng: np.random.Generator | None
) -> ConverterTensors:
    """Magenta's maybe_sample_items: random `limit` windows when training, else all of them."""
    if rng is None or not limit or len(tensors) <= limit:
        return tensors
    chosen = np.sort(rng.choice(len(tensors), size=limit, replace=False))
    return tensors.take(chosen)


def unique_rows(windows: np.ndarray) -> np.ndarray:
    """Distinct windows (N, T) in a deterministic (sorted) order: Magenta's set() dedupe."""
    if len(windows) <= 1:
        return windows
    return np.unique(windows, axis=0)


def split_process_and_combine(
    seq: NoteSequence,
    to_tensors_fn: Callable[[NoteSequence], ConverterTensors],
    empty: ConverterTensors,
    *,
    presplit: bool,
    limit: int | None,
    rng: np.random.Generator | None,
) -> ConverterTensors:
    """Magenta data.split_process_and_combine: per piece, sample, concatenate, sample again."""
    pieces = split_on_time_changes(seq) if presplit else [seq]
    results = [sample_windows(to_tensors_fn(piece), limit, rng) for piece in pieces]
    return sample_windows(concat_tensors(results, empty), limit, rng)


def slice_tracks(tracks: list[list[int]], slice_steps: int | None, hop: int) -> np.ndarray | None:
    """Magenta's slicing of extracted event lists: every `slice_steps` window starting on each
    bar (hop) of every track, stacked (N, slice_steps); the unsliced tracks when slice_steps is
    None. None when there is no window."""
    windows = []
    for track in tracks:
        events = np.asarray(track, dtype=np.int64)
        if slice_steps is None:
            windows.append(events[None])
        elif len(events) >= slice_steps:
            view = np.lib.stride_tricks.sliding_window_view(events, slice_steps)
            windows.append(view[::hop])
    if not windows:
        return None
    if len({w.shape[1] for w in windows}) > 1:
        raise ValueError("unsliced tracks of different lengths cannot be stacked")
    return np.concatenate(windows)


class WindowConverter:
    """What a kind of music (melody, drums, trio) knows, behind one seam.

    Shared here: `to_tensors` (Magenta's seam), the compact token codec of datasets (one class
    index per step and stream), and the "why no window" explanation. A subclass converts one
    piece (`_piece_tensors`) and defines `kind`, `stream_depths`, `input_depth`, `empty()`,
    `from_tensors`, `presplit_on_time_changes`, `max_tensors_per_notesequence`,
    `steps_per_quarter`, `quarters_per_bar` and `slice_bars`; it may override
    `tokens_to_inputs`, `transpose_tokens`, `window_description` and `no_window_reason`.
    """

    kind: str = ""
    window_description: str = "window"  # what a window holds, for "no window" messages
    has_melody_events: bool = False  # whether melody_events() applies (melody attributes)

    @property
    def steps_per_bar(self) -> int:
        return self.steps_per_quarter * self.quarters_per_bar

    # ---------------------------------------------------------------- token codec

    def to_tokens(self, tensors: ConverterTensors) -> np.ndarray:
        """(N, T, D_out) one-hot outputs -> (N, T, S) int16 class indices, S streams."""
        bounds = np.cumsum((0,) + tuple(self.stream_depths))
        outputs = tensors.outputs
        streams = [
            outputs[..., lo:hi].argmax(-1) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)
        ]
        return np.stack(streams, axis=-1).astype(np.int16)

    def tokens_to_outputs(self, tokens: np.ndarray) -> np.ndarray:
        """(..., T, S) class indices -> (..., T, D_out) bool one-hot decoder targets."""
        tokens = np.asarray(tokens, dtype=np.int64)
        parts = [one_hot(tokens[..., s], d) for s, d in enumerate(self.stream_depths)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=-1)

    def tokens_to_inputs(self, tokens: np.ndarray) -> np.ndarray:
        """(..., T, S) class indices -> (..., T, D_in) bool encoder inputs."""
        return self.tokens_to_outputs(tokens)

    def transpose_tokens(
        self, tokens: np.ndarray, low: int, high: int, rng: np.random.Generator
    ) -> np.ndarray:
        """Training-time transposition of stored windows (N, T, S); none unless a kind has it."""
        return tokens

    def melody_events(self, indices: np.ndarray) -> np.ndarray:
        """(..., T) class indices -> melody events (..., T), for kinds with one melody stream."""
        raise ValueError(f"a {self.kind} window has no single melody")

    # ---------------------------------------------------------------- explanations

    def no_window_reason(self, seq: NoteSequence, model: str = "this") -> str:
        """A one-line reason why a readable sequence yields no window of this converter
        (`model` names the model in kind mismatches, e.g. "cat-mel_2bar_small")."""
        if len(seq) == 0:
            return "no notes"
        meters = sorted({(ts.numerator, ts.denominator) for ts in seq.time_signatures}) or [(4, 4)]
        bar = self.steps_per_bar
        if all(self.steps_per_quarter * 4 * n / d != bar for n, d in meters):
            shown = ", ".join(f"{n}/{d}" for n, d in meters)
            return f"not in 4/4 (time signatures: {shown}); only 4/4 bars are kept"
        return self._shape_reason(seq)

    def _shape_reason(self, seq: NoteSequence) -> str:
        """Why a sequence with notes, some in 4/4, yields no window; a kind may say more."""
        return f"no {self.window_description} spanning {self.slice_bars} bars of 4/4"

    def to_tensors(
        self, seq: NoteSequence, rng: np.random.Generator | None = None
    ) -> ConverterTensors:
        """All distinct windows of `seq` (rng=None), or a random training sample of them."""
        return split_process_and_combine(
            seq,
            self._piece_tensors,
            self.empty(),
            presplit=self.presplit_on_time_changes,
            limit=self.max_tensors_per_notesequence,
            rng=rng,
        )


def check_qpm(qpm: float | None) -> float:
    """A tempo for decoded output: None -> 120 (Magenta's), else a finite 4..1000 quarters per
    minute (a MIDI set_tempo event holds at most 16.7 s per quarter)."""
    if qpm is None:
        return DEFAULT_QPM
    value = float(qpm)
    if not (np.isfinite(value) and 4.0 <= value <= 1000.0):
        raise ValueError(f"qpm must be a tempo in 4..1000 quarters per minute, got {qpm!r}")
    return value


def meter(quarters_per_bar: int) -> tuple[TimeSignature]:
    """The time signature of a decoded sequence (4/4 for every MusicVAE config), at time 0."""
    return (TimeSignature(0.0, quarters_per_bar, 4),)


def with_meter(seq: NoteSequence, quarters_per_bar: int) -> NoteSequence:
    """A decoded sequence marked with its meter."""
    return seq.replace(time_signatures=meter(quarters_per_bar))


def one_hot(indices: np.ndarray, depth: int) -> np.ndarray:
    """(..., T) int -> (..., T, depth) bool."""
    out = np.zeros(indices.shape + (depth,), dtype=bool)
    np.put_along_axis(out, indices[..., None], True, axis=-1)
    return out
