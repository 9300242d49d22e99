"""Drum classes, extraction, encoding and decoding against note_seq / Magenta 2.1.4 rules.

Expected values are written by hand from:
  SPEC section 4 / note_seq DEFAULT_DRUM_TYPE_PITCHES: the 9 classes and their pitches (the first
    pitch decodes a class).
  magenta data.py DrumsConverter._to_tensors: non-drum notes and drum pitches outside the classes
    are removed and each pitch becomes its class BEFORE extraction; windows
    l[i - slice : i] for i in range(slice, len + 1, steps_per_bar), de-duplicated; output token =
    MultiDrumOneHotEncoding = sum of 2**class; roll input = multi-hot of the classes plus a final
    "nothing hit" bit (np.all(roll == 0)).
  note_seq DrumTrack.from_quantized_sequence: all drum notes of every instrument, velocity > 0,
    grouped by start step; the track starts on the bar line at or before the first hit; a hit
    >= gap steps after (last hit step + 1) ends the track; padded to a bar with empty steps.
  magenta drum_pipelines.extract_drum_tracks: the next search starts on the bar line after the
    track end; too-long tracks are cut to max_steps_truncate - max_steps_truncate % steps_per_bar.
  DrumTrack.to_sequence(velocity=80) at 120 qpm: each hit lasts one step (0.125 s), instrument 9.
"""

from __future__ import annotations

import numpy as np

from musicvae.data.converters.drums import DrumsConverter
from musicvae.music.drums import (
    DRUM_CLASS_PITCHES,
    drums_to_notes,
    extract_drum_tracks,
    masks_to_roll,
    pitch_class_table,
)
from musicvae.music.notes import Note, NoteSequence, Tempo, TimeSignature
from musicvae.music.sequences import quantize

STEP = 0.125  # seconds per 16th step at 120 qpm: 60 / 120 / 4
T120 = (Tempo(0.0, 120.0),)
TS44 = (TimeSignature(0.0, 4, 4),)

# SPEC section 4, copied from the table there (not from our code).
SPEC_CLASSES = {
    0: (36, 35),  # kick
    1: (38, 27, 28, 31, 32, 33, 34, 37, 39, 40, 56, 65, 66, 75, 85),  # snare
    2: (42, 44, 54, 68, 69, 70, 71, 73, 78, 80, 22),  # closed hi-hat
    3: (46, 67, 72, 74, 79, 81, 26),  # open hi-hat
    4: (45, 29, 41, 43, 61, 64, 84),  # low tom
    5: (48, 47, 60, 63, 77, 86, 87),  # mid tom
    6: (50, 30, 62, 76, 83),  # high tom
    7: (49, 52, 55, 57, 58),  # crash
    8: (51, 53, 59, 82),  # ride
}
KICK, SNARE, CLOSED_HH, RIDE = 1, 2, 4, 256  # 2 ** class


def _d(pitch: int, step: int, **kwargs) -> Note:
    """A drum hit at a 16th step (120 qpm), one step long."""
    kwargs.setdefault("is_drum", True)
    kwargs.setdefault("instrument", 9)
    return Note(pitch, step * STEP, (step + 1) * STEP, **kwargs)


def _seq(notes, **kwargs) -> NoteSequence:
    return NoteSequence.from_notes(list(notes), tempos=T120, time_signatures=TS44, **kwargs)


def _tracks(notes, **kwargs) -> list[tuple[int, list[int]]]:
    tracks, _ = DrumsConverter(**kwargs).tracks(_seq(notes))
    return [(t.start_step, list(t.events)) for t in tracks]


def _windows(tensors) -> set[tuple[int, ...]]:
    return {tuple(row) for row in np.argmax(tensors.outputs, axis=-1).tolist()}


# --- classes -----------------------------------------------------------------------------------


def test_pitch_class_table_matches_spec():
    table = pitch_class_table()
    assert table.shape == (128,)
    expected = np.full(128, -1)
    for c, pitches in SPEC_CLASSES.items():
        expected[list(pitches)] = c
    assert table.tolist() == expected.tolist()
    assert (table >= 0).sum() == 63  # 2 + 15 + 11 + 7 + 7 + 7 + 5 + 5 + 4


def test_first_pitch_of_each_class_decodes_it():
    assert [p[0] for p in DRUM_CLASS_PITCHES] == [SPEC_CLASSES[c][0] for c in range(9)]
    assert [p[0] for p in DRUM_CLASS_PITCHES] == [36, 38, 42, 46, 45, 48, 50, 49, 51]


def test_masks_to_roll():
    roll = masks_to_roll(np.array([0, 7, 256, 511]))
    assert roll.shape == (4, 9)
    assert roll.astype(int).tolist() == [
        [0] * 9,
        [1, 1, 1, 0, 0, 0, 0, 0, 0],  # 7 = 1 + 2 + 4: kick, snare, closed hi-hat
        [0] * 8 + [1],  # 256 = 2 ** 8: ride
        [1] * 9,
    ]


# --- extraction --------------------------------------------------------------------------------


def test_hits_are_grouped_by_step_into_class_bitmasks():
    notes = [
        _d(36, 0),
        _d(38, 0),  # kick + snare -> 1 + 2 = 3
        _d(42, 2),  # closed hi-hat -> 4
        _d(35, 4),  # the second kick pitch -> 1
        _d(42, 6),
        _d(44, 6),  # two closed hi-hat pitches: one class -> 4
        _d(25, 8),  # not in any class: dropped
        _d(38, 10, velocity=0),  # velocity 0: ignored
        _d(36, 12, is_drum=False, instrument=0),  # not a drum: ignored
        _d(49, 14, instrument=10),  # crash on another drum instrument -> 2 ** 7 = 128
    ]
    # Last hit at 14 -> 15 events -> padded to 16 with empty steps.
    expected = [3, 0, 4, 0, 1, 0, 4, 0, 0, 0, 0, 0, 0, 0, 128, 0]
    assert _tracks(notes) == [(0, expected)]


def test_gap_counts_from_the_step_after_the_last_hit():
    # Hits at 0 and 16: 16 - (0 + 1) = 15 < 16 -> one track, 17 events padded to 32.
    assert _tracks([_d(36, 0), _d(36, 16)]) == [(0, [KICK] + [0] * 15 + [KICK] + [0] * 15)]
    # Hits at 0 and 17: 17 - 1 = 16 >= 16 -> two tracks; the second starts on bar line 16.
    assert _tracks([_d(36, 0), _d(36, 17)]) == [
        (0, [KICK] + [0] * 15),
        (16, [0, KICK] + [0] * 14),
    ]


def test_gap_spans_all_drum_instruments_but_not_dropped_pitches():
    # A snare on another drum instrument at 10 bridges 0 -> 25 (25 - 11 = 14 < 16).
    bridged = [_d(36, 0), _d(38, 10, instrument=10), _d(36, 25)]
    assert _tracks(bridged) == [(0, [KICK] + [0] * 9 + [SNARE] + [0] * 14 + [KICK] + [0] * 6)]
    # An unmapped pitch (25) or a non-drum note at 10 is removed before extraction: no bridge.
    for filler in (_d(25, 10), _d(38, 10, is_drum=False, instrument=0)):
        assert _tracks([_d(36, 0), filler, _d(36, 17)]) == [
            (0, [KICK] + [0] * 15),
            (16, [0, KICK] + [0] * 14),
        ]


def test_track_start_is_the_bar_line_before_the_first_hit():
    assert _tracks([_d(36, 37)]) == [(32, [0] * 5 + [KICK] + [0] * 10)]


def test_truncation_is_bar_aligned():
    q = quantize(_seq([_d(36, 0), _d(38, 15), _d(42, 30), _d(51, 45)]), 4)
    classes = pitch_class_table()[q.pitch]
    # One 46-event track padded to 48; 40 - 40 % 16 = 32; the rest is not re-extracted.
    tracks = extract_drum_tracks(q, classes, steps_per_bar=16, max_steps_truncate=40)
    assert [(t.start_step, t.events) for t in tracks] == [
        (0, [KICK] + [0] * 14 + [SNARE] + [0] * 14 + [CLOSED_HH] + [0])
    ]


# --- DrumsConverter ----------------------------------------------------------------------------


# Hits: kick at 0, snare at 16, closed hi-hat at 32 -> 33 events padded to 48.
THREE_BARS = [_d(36, 0), _d(38, 16), _d(42, 32)]
WINDOW_1 = (KICK,) + (0,) * 15 + (SNARE,) + (0,) * 15  # slice [0:32]
WINDOW_2 = (SNARE,) + (0,) * 15 + (CLOSED_HH,) + (0,) * 15  # slice [16:48]


def test_depths():
    assert DrumsConverter().output_depth == 512  # 2 ** 9
    assert DrumsConverter().input_depth == 512
    assert DrumsConverter(roll_input=True).input_depth == 10  # 9 classes + "nothing hit"


def test_windows_of_a_three_bar_track():
    out = DrumsConverter().to_tensors(_seq(THREE_BARS))
    assert out.outputs.shape == (2, 32, 512) and out.outputs.dtype == np.bool_
    assert np.array_equal(out.inputs, out.outputs)
    assert out.lengths.tolist() == [32, 32]
    assert _windows(out) == {WINDOW_1, WINDOW_2}


def test_roll_input_is_multi_hot_plus_nothing_hit_bit():
    # kick + snare + closed hi-hat + ride at step 0 -> token 1 + 2 + 4 + 256 = 263; kicks at 15
    # (gap 15 - 1 = 14) and 31 (31 - 16 = 15) keep one track of exactly 2 bars.
    notes = [_d(36, 0), _d(38, 0), _d(42, 0), _d(51, 0), _d(36, 15), _d(36, 31)]
    out = DrumsConverter(roll_input=True).to_tensors(_seq(notes))
    assert _windows(out) == {(263,) + (0,) * 14 + (KICK,) + (0,) * 15 + (KICK,)}
    assert out.inputs.shape == (1, 32, 10) and out.outputs.shape == (1, 32, 512)
    roll = out.inputs[0].astype(int)
    assert roll[0].tolist() == [1, 1, 1, 0, 0, 0, 0, 0, 1, 0]
    assert roll[1].tolist() == [0] * 9 + [1]  # nothing hit
    assert roll[15].tolist() == roll[31].tolist() == [1] + [0] * 9
    assert roll[:, 9].sum() == 29  # every step but 0, 15 and 31 is empty


def test_identical_windows_are_deduplicated():
    # Four identical bars (kick on every quarter): last hit at 60 -> 61 events padded to 64.
    notes = [_d(36, s) for s in range(0, 64, 4)]
    out = DrumsConverter().to_tensors(_seq(notes))
    bar = (KICK, 0, 0, 0) * 4
    assert len(out) == 1
    assert _windows(out) == {bar + bar}


def test_non_drum_and_unmapped_only_sequences_give_nothing():
    notes = [_d(36, s, is_drum=False, instrument=0) for s in range(0, 32, 4)]
    notes += [_d(25, s) for s in range(0, 32, 4)]
    assert len(DrumsConverter().to_tensors(_seq(notes))) == 0


def test_not_16_steps_per_bar_gives_nothing():
    seq = NoteSequence.from_notes(
        [_d(36, s) for s in range(0, 48, 4)],
        tempos=T120,
        time_signatures=(TimeSignature(0.0, 3, 4),),
    )
    assert len(DrumsConverter().to_tensors(seq)) == 0


# --- decoding ----------------------------------------------------------------------------------


def _decoded(seq: NoteSequence) -> list[tuple[int, float, float, int, bool, int]]:
    return sorted(
        (n.pitch, n.start, n.end, n.velocity, n.is_drum, n.instrument) for n in seq.notes()
    )


def test_from_tensors_decodes_a_hand_written_one_hot():
    samples = np.eye(512, dtype=bool)[[3, 0, 256, 511]][None]  # (1, 4, 512)
    (seq,) = DrumsConverter().from_tensors(samples)
    expected = [(36, 0.0, 0.125), (38, 0.0, 0.125)]  # 3 = kick + snare at step 0
    expected += [(51, 0.25, 0.375)]  # 256 = ride at step 2
    expected += [(p, 0.375, 0.5) for p in (36, 38, 42, 46, 45, 48, 50, 49, 51)]  # 511: all
    assert _decoded(seq) == sorted((p, s, e, 80, True, 9) for p, s, e in expected)
    assert seq.total_time == 0.5
    assert seq.tempos == (Tempo(0.0, 120.0),)


def test_from_tensors_of_silence_is_empty():
    (seq,) = DrumsConverter().from_tensors(np.eye(512, dtype=bool)[[0, 0]][None])
    assert len(seq) == 0 and seq.total_time == 0.0


def test_drums_to_notes_at_another_tempo():
    # 60 qpm: 0.25 s per step
    seq = drums_to_notes([0, 128], qpm=60.0)
    assert _decoded(seq) == [(49, 0.25, 0.5, 80, True, 9)]


def test_decoded_drums_re_encode_to_the_same_window():
    conv = DrumsConverter()
    (seq,) = conv.from_tensors(np.eye(512, dtype=bool)[list(WINDOW_1)][None])
    # Magenta: kick at 0-0.125 s, snare at 2.0-2.125 s, total 2.125 s -> 17 steps, padded to 32.
    assert _windows(conv.to_tensors(seq)) == {WINDOW_1}
