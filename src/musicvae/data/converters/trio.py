"""TrioConverter: melody + bass + drums windows (Magenta data.py TrioConverter).

Each instrument track is typed (drums; program 0-31 melody; 32-39 bass; else invalid), encoded
over the whole piece (melody 90, bass 90, drums 512), and every `slice_bars` window covered by
one melody, one bass and one drum track (cross product of candidates, coverage gaps of up to
`gap_bars` bars tolerated) is emitted as their concatenation: 692 dims per step.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import numpy as np

from musicvae.data.converters.base import ConverterTensors, WindowConverter, one_hot
from musicvae.data.converters.drums import DrumsConverter
from musicvae.data.converters.melody import MelodyConverter, quantize_for_bars
from musicvae.music.notes import DEFAULT_QPM, NOTE_FIELDS, NoteSequence

MAX_INSTRUMENT_NUMBER = 127
MELODY, BASS, DRUMS, INVALID = 1, 2, 3, 4  # instrument types; 0: an instrument number unused
ELECTRIC_BASS_PROGRAM = 33


def _program_types(programs: np.ndarray, is_drum: np.ndarray) -> np.ndarray:
    types = np.full(len(programs), INVALID, dtype=np.uint8)
    types[(programs >= 0) & (programs < 32)] = MELODY
    types[(programs >= 32) & (programs < 40)] = BASS
    types[is_drum] = DRUMS
    return types


@dataclass(frozen=True)
class TrioConverter(WindowConverter):
    slice_bars: int = 16
    gap_bars: int = 2
    max_bars: int = 1024
    steps_per_quarter: int = 4
    quarters_per_bar: int = 4
    max_tensors_per_notesequence: int | None = 5
    presplit_on_time_changes: bool = True

    kind = "trio"
    window_description = "section with melody, bass and drums together"

    def _track_settings(self) -> dict:
        """Whole-piece, unsliced, unsplit tracks: Magenta's trio sub-converters."""
        return dict(
            slice_bars=None,
            gap_bars=None,
            max_bars=None,
            steps_per_quarter=self.steps_per_quarter,
            quarters_per_bar=self.quarters_per_bar,
            presplit_on_time_changes=False,
            max_tensors_per_notesequence=None,
        )

    @functools.cached_property
    def melody(self) -> MelodyConverter:
        return MelodyConverter(**self._track_settings())

    @functools.cached_property
    def drums(self) -> DrumsConverter:
        return DrumsConverter(**self._track_settings())

    @property
    def split_depths(self) -> tuple[int, int, int]:
        return (self.melody.depth, self.melody.depth, self.drums.output_depth)

    @property
    def stream_depths(self) -> tuple[int, ...]:
        return self.split_depths

    @property
    def output_depth(self) -> int:
        return sum(self.split_depths)

    input_depth = output_depth
    control_depth = 0

    def empty(self) -> ConverterTensors:
        return ConverterTensors.empty(self.output_depth, self.output_depth)

    def _melody_track(self, seq: NoteSequence) -> np.ndarray | None:
        """One instrument's melody over the whole piece, one-hot (T, 90), or None."""
        melodies, quantized = self.melody.melodies(seq)
        if not melodies:
            return None
        rows = []
        for m in melodies:  # pad_to_total_time
            m.pad_left_to_zero()
            m.set_length(quantized.total_quantized_steps)
            rows.append(tuple(m.events))
        events = np.asarray(sorted(set(rows))[0], dtype=np.int64)
        return one_hot(self.melody.encode_events(events), self.melody.depth)

    def _drum_track(self, seq: NoteSequence) -> np.ndarray | None:
        """One instrument's drums over the whole piece, one-hot (T, 512), or None."""
        tracks, quantized = self.drums.tracks(seq)
        if not tracks:
            return None
        rows = []
        for t in tracks:
            t.pad_left_to_zero()
            t.set_length(quantized.total_quantized_steps)
            rows.append(tuple(t.events))
        masks = np.asarray(sorted(set(rows))[0], dtype=np.int64)
        return one_hot(masks, self.drums.output_depth)

    def _piece_tensors(self, piece: NoteSequence) -> ConverterTensors:
        windows = [window for _, _, window in self.piece_windows(piece)]
        if not windows:
            return self.empty()
        stacked = np.stack(windows)  # (N, T, 692)
        return ConverterTensors.from_windows(stacked, stacked)

    def piece_windows(
        self, piece: NoteSequence
    ) -> list[tuple[tuple[int, int, int], int, np.ndarray]]:
        """The windows of one piece in Magenta's order, each with its (melody, bass, drums)
        instruments and first bar: [(group, bar, window (T, 692))]."""
        spb = self.steps_per_bar
        quantized = quantize_for_bars(piece, self.steps_per_quarter, spb)
        if quantized is None:
            return []
        total_bars = min(int(np.ceil(quantized.total_quantized_steps / spb)), self.max_bars)
        by_type, coverage = _typed_instruments(quantized, total_bars, spb)
        if not all(by_type.values()):
            return []
        encoded = self._encode_candidates(piece, by_type, total_bars)
        for i in set(by_type[MELODY] + by_type[BASS] + by_type[DRUMS]) - set(encoded):
            coverage[:, i] = False  # a candidate without a track covers nothing
        return self._covered_windows(by_type, encoded, _fill_gaps(coverage, self.gap_bars))

    def _encode_candidates(
        self, piece: NoteSequence, by_type: dict[int, list[int]], total_bars: int
    ) -> dict[int, np.ndarray]:
        """Each candidate instrument encoded over the whole piece, padded to whole bars (Magenta
        sets the piece's total_time to total_bars bars first): {instrument: (T, 90 | 512)}."""
        qpm = piece.tempos[0].qpm if piece.tempos else DEFAULT_QPM
        seconds = total_bars * self.steps_per_bar * 60 / qpm / self.steps_per_quarter
        padded = piece.replace(total_time=seconds)
        encoded: dict[int, np.ndarray] = {}
        for i in by_type[MELODY] + by_type[BASS] + by_type[DRUMS]:
            track_seq = padded.select(padded.instrument == i)
            encode = self._drum_track if i in by_type[DRUMS] else self._melody_track
            track = encode(track_seq)
            if track is not None:
                encoded[i] = track
        return encoded

    def _covered_windows(
        self, by_type: dict[int, list[int]], encoded: dict[int, np.ndarray], coverage: np.ndarray
    ) -> list[tuple[tuple[int, int, int], int, np.ndarray]]:
        """Every slice_bars window covered by one (melody, bass, drums) group, with that group
        and its first bar: [(group, bar, window (T, 692))]."""
        gap, spb, total_bars = self.gap_bars, self.steps_per_bar, len(coverage)
        windows = []
        for group in itertools.product(by_type[MELODY], by_type[BASS], by_type[DRUMS]):
            if not all(i in encoded for i in group):
                continue
            covered = coverage[:, group].all(axis=1)  # (bars,)
            covered[:gap] = coverage[:gap, group].any()
            covered[-gap:] = coverage[-gap:, group].any()
            for j in range(total_bars - self.slice_bars + 1):
                if covered[j : j + self.slice_bars].all():
                    lo, hi = j * spb, (j + self.slice_bars) * spb
                    window = np.concatenate([encoded[i][lo:hi] for i in group], axis=-1)
                    windows.append((group, j, window))
        return windows

    def from_tensors(self, samples, qpm: float | None = None) -> list[NoteSequence]:
        """(N, T, 692) -> NoteSequences: melody program 0, bass program 33, drums channel 10;
        tempo `qpm` (default 120), a 4/4 time signature."""
        samples = np.asarray(samples)
        m, b, _ = self.split_depths
        out = []
        for s in samples:
            mel = self.melody.from_tensors(s[None, :, :m], qpm)[0]
            bass = self.melody.from_tensors(s[None, :, m : m + b], qpm)[0]
            drums = self.drums.from_tensors(s[None, :, m + b :], qpm)[0]
            bass = bass.replace(
                instrument=np.ones(len(bass), np.int32),
                program=np.full(len(bass), ELECTRIC_BASS_PROGRAM, np.int16),
            )
            out.append(_merge([mel, bass, drums]))
        return out


def _typed_instruments(
    quantized: NoteSequence, total_bars: int, steps_per_bar: int
) -> tuple[dict[int, list[int]], np.ndarray]:
    """Types each instrument (mixed types -> invalid) and marks the bars it covers ->
    ({MELODY | BASS | DRUMS: instruments}, coverage (bars, instruments) bool)."""
    valid = quantized.instrument <= MAX_INSTRUMENT_NUMBER
    inst = quantized.instrument[valid].astype(np.int64)
    note_types = _program_types(quantized.program[valid], quantized.is_drum[valid])
    instrument_type = np.zeros(MAX_INSTRUMENT_NUMBER + 1, np.uint8)
    for i in np.unique(inst):
        kinds = np.unique(note_types[inst == i])
        instrument_type[i] = kinds[0] if len(kinds) == 1 else INVALID
    coverage = np.zeros((total_bars, MAX_INSTRUMENT_NUMBER + 1), bool)
    start_bar = quantized.start_step[valid] // steps_per_bar
    end_bar = np.ceil(quantized.end_step[valid] / steps_per_bar).astype(np.int64)
    for i, s, e in zip(inst.tolist(), start_bar.tolist(), end_bar.tolist(), strict=False):
        if s < total_bars:
            coverage[s : min(e, total_bars), i] = True
    by_type = {t: np.flatnonzero(instrument_type == t).tolist() for t in (MELODY, BASS, DRUMS)}
    return by_type, coverage


def _fill_gaps(coverage: np.ndarray, gap: int) -> np.ndarray:
    """Coverage (bars, instruments) with gaps of up to `gap` bars tolerated."""
    total_bars = len(coverage)
    filled = coverage.copy()
    for j in range(total_bars):
        filled[j] = coverage[max(0, j - gap) : min(total_bars, j + gap) + 1].any(axis=0)
    return filled


def _merge(parts: list[NoteSequence]) -> NoteSequence:
    first = parts[0]
    cols = {name: np.concatenate([getattr(p, name) for p in parts]) for name in NOTE_FIELDS}
    return first.replace(**cols, total_time=max(p.total_time for p in parts))
