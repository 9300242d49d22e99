"""DrumsConverter: drum tracks <-> tensors (Magenta data.py with note_seq's drum encodings).

Output: 512-way one-hot of the per-step class bitmask (MultiDrumOneHotEncoding). With
`roll_input` the encoder input is the 9-class multi-hot plus a "nothing hit" bit (10 dims).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from musicvae.data.converters.base import (
    ConverterTensors,
    WindowConverter,
    check_qpm,
    one_hot,
    slice_tracks,
    unique_rows,
    with_meter,
)
from musicvae.data.converters.melody import quantize_for_bars
from musicvae.music.drums import (
    NUM_DRUM_CLASSES,
    DrumTrack,
    drums_to_notes,
    extract_drum_tracks,
    masks_to_roll,
    pitch_class_table,
)
from musicvae.music.notes import NoteSequence

_CLASS_OF_PITCH = pitch_class_table()


@dataclass(frozen=True)
class DrumsConverter(WindowConverter):
    slice_bars: int | None = 2
    roll_input: bool = False
    gap_bars: float | None = 1.0
    max_bars: int | None = 100
    steps_per_quarter: int = 4
    quarters_per_bar: int = 4
    presplit_on_time_changes: bool = True
    max_tensors_per_notesequence: int | None = 5

    kind = "drums"
    window_description = "drum track"

    @property
    def output_depth(self) -> int:
        return 2**NUM_DRUM_CLASSES

    @property
    def stream_depths(self) -> tuple[int, ...]:
        return (self.output_depth,)

    @property
    def input_depth(self) -> int:
        return NUM_DRUM_CLASSES + 1 if self.roll_input else self.output_depth

    control_depth = 0

    def empty(self) -> ConverterTensors:
        return ConverterTensors.empty(self.input_depth, self.output_depth)

    def tracks(self, piece: NoteSequence) -> tuple[list[DrumTrack], NoteSequence | None]:
        """The drum tracks of one piece (already split), and the quantized piece."""
        quantized = quantize_for_bars(piece, self.steps_per_quarter, self.steps_per_bar)
        if quantized is None:
            return [], None
        tracks = extract_drum_tracks(
            quantized,
            _CLASS_OF_PITCH[quantized.pitch.astype(np.int64) & 127],
            steps_per_bar=self.steps_per_bar,
            gap_bars=self.gap_bars or float("inf"),
            max_steps_truncate=self.steps_per_bar * self.max_bars if self.max_bars else None,
        )
        return tracks, quantized

    def encode_masks(self, masks: np.ndarray) -> ConverterTensors:
        """(N, T) class bitmasks -> tensors (roll or one-hot inputs, one-hot outputs)."""
        outputs = one_hot(masks, self.output_depth)  # (N, T, 512)
        inputs = self._roll(masks) if self.roll_input else outputs
        return ConverterTensors.from_windows(inputs, outputs)

    @staticmethod
    def _roll(masks: np.ndarray) -> np.ndarray:
        """(..., T) class bitmasks -> (..., T, 10) multi-hot roll plus a "nothing hit" bit."""
        masks = np.asarray(masks, dtype=np.int64)
        return np.concatenate([masks_to_roll(masks), (masks == 0)[..., None]], axis=-1)

    def tokens_to_inputs(self, tokens: np.ndarray) -> np.ndarray:
        """(..., T, 1) class indices -> (..., T, D_in) encoder inputs (the roll when set)."""
        if self.roll_input:
            return self._roll(tokens[..., 0])
        return self.tokens_to_outputs(tokens)

    def no_window_reason(self, seq: NoteSequence, model: str = "this") -> str:
        if len(seq) and not bool(seq.is_drum.any()):
            return f"it has no drum notes (MIDI channel 10), and {model} is a drum model"
        return super().no_window_reason(seq, model)

    def _piece_tensors(self, piece: NoteSequence) -> ConverterTensors:
        tracks, _ = self.tracks(piece)
        slice_steps = self.steps_per_bar * self.slice_bars if self.slice_bars else None
        windows = slice_tracks([t.events for t in tracks], slice_steps, self.steps_per_bar)
        if windows is None:
            return self.empty()
        return self.encode_masks(unique_rows(windows))

    def from_tensors(self, samples, qpm: float | None = None) -> list[NoteSequence]:
        """(N, T, 512) one-hot or logits -> one drum NoteSequence per sample: tempo `qpm`
        (default 120), a 4/4 time signature."""
        masks = np.argmax(np.asarray(samples), axis=-1)
        qpm = check_qpm(qpm)
        return [
            with_meter(
                drums_to_notes(row, steps_per_quarter=self.steps_per_quarter, qpm=qpm),
                self.quarters_per_bar,
            )
            for row in masks
        ]
