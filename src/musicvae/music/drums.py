"""Drum-track extraction and decoding, as note_seq's DrumTrack and Magenta's extract_drum_tracks.

A drum track is one event per 16th step: the set of drum classes hit at that step, stored as a
9-bit mask (bit c = class c hit), which is also Magenta's 512-way one-hot token.
"""

from __future__ import annotations

import numpy as np

from musicvae.music.events import EventTrack
from musicvae.music.notes import DEFAULT_QPM, Note, NoteSequence, Tempo

# note_seq.drums_encoder_decoder.DEFAULT_DRUM_TYPE_PITCHES; the first pitch decodes a class.
DRUM_CLASS_PITCHES: tuple[tuple[int, ...], ...] = (
    (36, 35),  # kick
    (38, 27, 28, 31, 32, 33, 34, 37, 39, 40, 56, 65, 66, 75, 85),  # snare
    (42, 44, 54, 68, 69, 70, 71, 73, 78, 80, 22),  # closed hi-hat
    (46, 67, 72, 74, 79, 81, 26),  # open hi-hat
    (45, 29, 41, 43, 61, 64, 84),  # low tom
    (48, 47, 60, 63, 77, 86, 87),  # mid tom
    (50, 30, 62, 76, 83),  # high tom
    (49, 52, 55, 57, 58),  # crash
    (51, 53, 59, 82),  # ride
)
NUM_DRUM_CLASSES = len(DRUM_CLASS_PITCHES)


def pitch_class_table(classes=DRUM_CLASS_PITCHES) -> np.ndarray:
    """(128,) int array: drum class of each MIDI pitch, -1 where unmapped (later lists win)."""
    table = np.full(128, -1, dtype=np.int64)
    for c, pitches in enumerate(classes):
        table[list(pitches)] = c
    return table


class DrumTrack(EventTrack):
    """Per step, the bitmask of drum classes hit (0 = nothing)."""

    PAD = 0


def _track_from_hits(
    steps: np.ndarray,
    masks: np.ndarray,
    search_start: int,
    steps_per_bar: int,
    gap_steps: float,
    pad_end: bool,
) -> DrumTrack:
    """DrumTrack.from_quantized_sequence over hits grouped by step (steps ascending)."""
    track = DrumTrack()
    if not len(steps):
        return track
    origin = int(steps[0]) - (int(steps[0]) - search_start) % steps_per_bar
    events = track.events
    gap_start = 0
    for step, mask in zip(steps.tolist(), masks.tolist(), strict=False):
        index = step - origin
        if events and index - gap_start >= gap_steps:
            break
        events.extend([0] * (index + 1 - len(events)))
        events[index] = mask
        gap_start = index + 1
    track.start_step = origin
    track.finish(steps_per_bar, pad_end)
    return track


def extract_drum_tracks(
    seq: NoteSequence,
    drum_class: np.ndarray,
    *,
    steps_per_bar: int,
    gap_bars: float = 1.0,
    min_bars: int = 1,
    max_steps_truncate: int | None = None,
    pad_end: bool = True,
) -> list[DrumTrack]:
    """Magenta's drum_pipelines.extract_drum_tracks over all drum notes of a quantized sequence.

    `drum_class` (N,) is each note's class (-1 = dropped); only drum notes with velocity count.
    """
    if not seq.is_quantized:
        raise ValueError("extract_drum_tracks needs a quantized sequence")
    use = seq.is_drum & (seq.velocity != 0) & (drum_class >= 0)
    steps_all = seq.start_step[use]
    bits = np.left_shift(1, drum_class[use])
    # Group hits by start step into one bitmask per step.
    uniq, inverse = np.unique(steps_all, return_inverse=True)
    masks = np.zeros(len(uniq), dtype=np.int64)
    np.bitwise_or.at(masks, inverse, bits)
    gap_steps = gap_bars * steps_per_bar
    tracks = []
    search_start = 0
    while True:
        first = np.searchsorted(uniq, search_start, side="left")
        track = _track_from_hits(
            uniq[first:], masks[first:], search_start, steps_per_bar, gap_steps, pad_end
        )
        search_start = track.end_step + (search_start - track.end_step) % steps_per_bar
        if not track.events:
            break
        if len(track) < steps_per_bar * min_bars:
            continue
        track.truncate(max_steps_truncate, steps_per_bar, pad_end)
        tracks.append(track)
    return tracks


def masks_to_roll(masks: np.ndarray) -> np.ndarray:
    """(..., T) class bitmasks -> (..., T, 9) bool multi-hot."""
    return (masks[..., None] >> np.arange(NUM_DRUM_CLASSES)) & 1 == 1


def drums_to_notes(
    masks,
    *,
    steps_per_quarter: int = 4,
    qpm: float = DEFAULT_QPM,
    velocity: int = 80,
    instrument: int = 9,
    classes=DRUM_CLASS_PITCHES,
) -> NoteSequence:
    """note_seq DrumTrack.to_sequence: each hit lasts one step, at its class's first pitch."""
    seconds_per_step = 60.0 / qpm / steps_per_quarter
    notes = []
    for step, mask in enumerate(np.asarray(masks, dtype=np.int64).tolist()):
        for c in range(len(classes)):
            if mask >> c & 1:
                notes.append(
                    Note(
                        pitch=classes[c][0],
                        start=step * seconds_per_step,
                        end=(step + 1) * seconds_per_step,
                        velocity=velocity,
                        is_drum=True,
                        instrument=instrument,
                    )
                )
    # Unquantized, like note_seq's DrumTrack.to_sequence, so it can be converted again.
    return NoteSequence.from_notes(
        notes, tempos=(Tempo(0.0, qpm),), total_time=notes[-1].end if notes else 0.0
    )
