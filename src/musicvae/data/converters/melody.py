"""OneHotMelodyConverter: melodies <-> one-hot tensors (Magenta data.py, note_seq encodings).

Index 0 = NO_EVENT, 1 = NOTE_OFF, 2 + (pitch - min_pitch) = note-on; 90 classes for Magenta's
21..108 range, 130 for the paper's 0..127 variant.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from musicvae.data.converters.base import (
    ConverterTensors,
    WindowConverter,
    check_qpm,
    meter,
    one_hot,
    slice_tracks,
    unique_rows,
)
from musicvae.music import sequences
from musicvae.music.melody import (
    NO_EVENT,
    Melody,
    clean_leading_note_offs,
    extract_melodies,
    melodies_to_notes,
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


@dataclass(frozen=True)
class MelodyConverter(WindowConverter):
    slice_bars: int | None = 2
    min_pitch: int = 21
    max_pitch: int = 108
    valid_programs: tuple[int, int] | None = None  # [lo, hi) like Magenta's range(0, 32)
    any_program: bool = False  # every non-drum program, whatever valid_programs says
    gap_bars: float | None = 1.0
    max_bars: int | None = 100
    steps_per_quarter: int = 4
    quarters_per_bar: int = 4
    presplit_on_time_changes: bool = True
    max_tensors_per_notesequence: int | None = 5
    dedupe: bool = True

    kind = "melody"
    window_description = "monophonic melody"
    has_melody_events = True

    def __post_init__(self) -> None:
        if not 0 <= self.min_pitch <= self.max_pitch <= 127:
            raise ValueError(f"bad pitch range {self.min_pitch}..{self.max_pitch}")

    @property
    def depth(self) -> int:
        return self.max_pitch - self.min_pitch + 1 + 2

    input_depth = depth
    output_depth = depth
    control_depth = 0

    @property
    def stream_depths(self) -> tuple[int, ...]:
        return (self.depth,)

    def transpose_tokens(
        self, tokens: np.ndarray, low: int, high: int, rng: np.random.Generator
    ) -> np.ndarray:
        """Magenta's transposition augmentation on stored windows (random_transpose_tokens)."""
        return random_transpose_tokens(tokens, self.depth, low, high, rng)

    def melody_events(self, indices: np.ndarray) -> np.ndarray:
        return self.decode_indices(np.asarray(indices, dtype=np.int64))

    def no_window_reason(self, seq: NoteSequence, model: str = "this") -> str:
        if len(seq) and bool(seq.is_drum.all()):
            return f"it has only drum notes, and {model} is a melody model (use a drum model)"
        return super().no_window_reason(seq, model)

    def _shape_reason(self, seq: NoteSequence) -> str:
        """The real reason: instruments outside valid_programs, pitch range, or line shape."""
        from musicvae.data.diagnose import explain_melody

        return explain_melody(self, seq)

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
        if self.valid_programs is not None and not self.any_program:
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
        windows = slice_tracks([m.events for m in melodies], slice_steps, self.steps_per_bar)
        if windows is None:
            return self.empty()
        windows = clean_leading_note_offs(windows)  # (N, T), as slicing a note_seq Melody does
        if self.dedupe:
            windows = unique_rows(windows)
        encoded = one_hot(self.encode_events(windows), self.depth)  # (N, T, D)
        return ConverterTensors.from_windows(encoded, encoded)

    def from_tensors(self, samples, qpm: float | None = None) -> list[NoteSequence]:
        """(N, T, depth) one-hot or logits -> one NoteSequence per sample: velocity 80, tempo
        `qpm` (default 120, Magenta's), a 4/4 time signature."""
        indices = np.argmax(np.asarray(samples), axis=-1)  # (N, T)
        return melodies_to_notes(
            self.decode_indices(indices),
            steps_per_quarter=self.steps_per_quarter,
            qpm=check_qpm(qpm),
            time_signatures=meter(self.quarters_per_bar),
        )


def random_transpose_tokens(
    tokens: np.ndarray, depth: int, low: int, high: int, rng: np.random.Generator
) -> np.ndarray:
    """Training-time transposition of melody windows: tokens (N, T, 1) -> (N, T, 1).

    Magenta transposes the NoteSequence by a uniform shift in [low, high] before extracting
    melodies, deleting notes that leave the range. Stored windows cannot re-run extraction, so
    per window we draw the shift uniformly among those that keep all its notes inside
    [2, depth) (note-on classes): identical to Magenta's whenever no note would leave it.
    """
    notes = tokens[..., 0].astype(np.int64)  # (N, T)
    is_note = notes >= 2
    lowest = np.where(is_note, notes, depth).min(axis=1)  # (N,)
    highest = np.where(is_note, notes, 1).max(axis=1)
    lo = np.maximum(low, 2 - lowest)  # keep lowest >= 2
    hi = np.minimum(high, depth - 1 - highest)
    lo = np.minimum(lo, 0)
    hi = np.maximum(hi, 0)
    shift = lo + np.floor(rng.random(len(notes)) * (hi - lo + 1)).astype(np.int64)  # (N,)
    moved = np.where(is_note, notes + shift[:, None], notes)
    return moved[..., None].astype(np.int16)


__all__ = ["MelodyConverter", "NO_EVENT", "quantize_for_bars", "random_transpose_tokens"]
