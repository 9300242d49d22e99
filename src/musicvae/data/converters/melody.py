"""OneHotMelodyConverter: melodies <-> one-hot tensors (Magenta data.py, note_seq encodings).

Index 0 = NO_EVENT, 1 = NOTE_OFF, 2 + (pitch - min_pitch) = note-on; 90 classes for Magenta's
21..108 range, 130 for the paper's 0..127 variant.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from musicvae.data.converters.base import (
    ConverterTensors,
    one_hot,
    split_process_and_combine,
    unique_rows,
)
from musicvae.music import sequences
from musicvae.music.melody import (
    NO_EVENT,
    Melody,
    clean_leading_note_offs,
    extract_melodies,
    melody_to_notes,
)
from musicvae.music.notes import NoteSequence

# Errors note_seq raises while quantizing that Magenta's converters turn into "no windows".
SKIPPED_QUANTIZATION_ERRORS = (sequences.BadTimeSignatureError, sequences.NegativeTimeError)


def quantize_for_bars(
    seq: NoteSequence, steps_per_quarter: int, steps_per_bar: int
) -> NoteSequence | None:
    """Quantizes, or None where Magenta's converters skip the piece (bad meter, not 4/4)."""
    try:
        quantized = sequences.quantize(seq, steps_per_quarter)
    except SKIPPED_QUANTIZATION_ERRORS:
        return None
    if sequences.steps_per_bar(quantized) != steps_per_bar:
        return None
    return quantized


def window_starts(length: int, slice_steps: int, hop: int) -> range:
    """Start steps of the windows Magenta slices: range(slice, len + 1, hop) shifted by -slice."""
    return range(0, length - slice_steps + 1, hop)


@dataclass(frozen=True)
class MelodyConverter:
    slice_bars: int | None = 2
    min_pitch: int = 21
    max_pitch: int = 108
    valid_programs: tuple[int, int] | None = None  # [lo, hi) like Magenta's range(0, 32)
    gap_bars: float | None = 1.0
    max_bars: int | None = 100
    steps_per_quarter: int = 4
    quarters_per_bar: int = 4
    presplit_on_time_changes: bool = True
    max_tensors_per_notesequence: int | None = 5
    dedupe: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.min_pitch <= self.max_pitch <= 127:
            raise ValueError(f"bad pitch range {self.min_pitch}..{self.max_pitch}")

    @property
    def steps_per_bar(self) -> int:
        return self.steps_per_quarter * self.quarters_per_bar

    @property
    def depth(self) -> int:
        return self.max_pitch - self.min_pitch + 1 + 2

    input_depth = depth
    output_depth = depth
    control_depth = 0

    def empty(self) -> ConverterTensors:
        return ConverterTensors.empty(self.depth, self.depth)

    def encode_events(self, events: np.ndarray) -> np.ndarray:
        """Melody events (..., T) -> class indices (..., T)."""
        return np.where(events >= 0, events - self.min_pitch + 2, events + 2)

    def decode_indices(self, indices: np.ndarray) -> np.ndarray:
        """Class indices (..., T) -> melody events (..., T)."""
        return np.where(indices >= 2, indices - 2 + self.min_pitch, indices - 2)

    def keep_notes(self, seq: NoteSequence) -> NoteSequence:
        """Drops notes outside the pitch range or the valid programs (before quantizing)."""
        mask = (seq.pitch >= self.min_pitch) & (seq.pitch <= self.max_pitch)
        if self.valid_programs is not None:
            lo, hi = self.valid_programs
            mask &= (seq.program >= lo) & (seq.program < hi)
        return seq.select(mask)

    def melodies(self, piece: NoteSequence) -> tuple[list[Melody], NoteSequence | None]:
        """The melodies of one piece (already split), and the quantized piece they came from."""
        quantized = quantize_for_bars(
            self.keep_notes(piece), self.steps_per_quarter, self.steps_per_bar
        )
        if quantized is None:
            return [], None
        melodies = extract_melodies(
            quantized,
            steps_per_bar=self.steps_per_bar,
            gap_bars=self.gap_bars or float("inf"),
            max_steps_truncate=self.steps_per_bar * self.max_bars if self.max_bars else None,
        )
        return melodies, quantized

    def _piece_tensors(self, piece: NoteSequence) -> ConverterTensors:
        melodies, _ = self.melodies(piece)
        slice_steps = self.steps_per_bar * self.slice_bars if self.slice_bars else None
        windows = []
        for melody in melodies:
            events = np.asarray(melody.events, dtype=np.int64)
            if slice_steps is None:
                windows.append(events[None])
                continue
            starts = window_starts(len(events), slice_steps, self.steps_per_bar)
            if len(starts):
                view = np.lib.stride_tricks.sliding_window_view(events, slice_steps)
                windows.append(view[starts.start : starts.stop : starts.step])
        if not windows:
            return self.empty()
        if slice_steps is None and len({w.shape[1] for w in windows}) > 1:
            raise ValueError("unsliced melodies of different lengths cannot be stacked")
        stacked = clean_leading_note_offs(np.concatenate(windows))  # (N, T)
        if self.dedupe:
            stacked = unique_rows(stacked)
        encoded = one_hot(self.encode_events(stacked), self.depth)  # (N, T, D)
        return ConverterTensors.from_windows(encoded, encoded)

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

    def from_tensors(self, samples) -> list[NoteSequence]:
        """(N, T, depth) one-hot or logits -> one NoteSequence per sample (120 qpm, velocity 80)."""
        indices = np.argmax(np.asarray(samples), axis=-1)
        return [
            melody_to_notes(self.decode_indices(row), steps_per_quarter=self.steps_per_quarter)
            for row in indices
        ]


__all__ = ["MelodyConverter", "NO_EVENT", "quantize_for_bars", "window_starts"]
