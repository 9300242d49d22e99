"""Melody extraction, encoding and decoding against note_seq / Magenta 2.1.4 rules.

Expected events are written by hand from:
  note_seq Melody.from_quantized_sequence: notes of one instrument from `search_start_step` on,
    sorted by (start step, -pitch); the melody starts on the bar line at or before the first
    note (bars counted from `search_start_step`); a note starting on the last note's start step
    is skipped (ignore_polyphonic_notes keeps the highest); a note starting >= gap steps after
    the last NOTE_OFF ends the melody; `_add_note` = set_length(end + 1), events[start] = pitch,
    NO_EVENT until end, events[end] = NOTE_OFF (so an overlapping next note cuts the previous);
    drums and velocity-0 notes are skipped; the final NOTE_OFF is stripped, then the melody is
    padded to a bar with Melody.set_length, which ends a held note with a NOTE_OFF when (and
    only when) it extends the melody.
  magenta melody_pipelines.extract_melodies: per instrument; the next search starts on the bar
    line after the melody's (untruncated) end; too-long melodies are cut to
    max_steps_truncate - max_steps_truncate % steps_per_bar (set_length shortening adds no
    NOTE_OFF).
  magenta data.py OneHotMelodyConverter: notes outside [min_pitch, max_pitch] or valid_programs
    are removed, windows l[i - slice : i] for i in range(slice, len + 1, steps_per_bar); slicing a
    Melody turns NOTE_OFFs before its first note-on into NO_EVENT (Melody._from_event_list);
    identical windows are de-duplicated (set of tuples); MelodyOneHotEncoding: 0 = NO_EVENT,
    1 = NOTE_OFF, 2 + pitch - min_pitch = note-on; decoding: Melody.to_sequence(velocity=80,
    qpm=120), 60 / 120 / 4 = 0.125 s per step.
"""

from __future__ import annotations

import numpy as np

from musicvae.data.converters.melody import MelodyConverter
from musicvae.music.melody import (
    NO_EVENT,
    NOTE_OFF,
    Melody,
    clean_leading_note_offs,
    extract_melodies,
    melodies_to_notes,
    melody_to_notes,
)
from musicvae.music.notes import Note, NoteSequence, Tempo, TimeSignature
from musicvae.music.sequences import quantize

NE, OFF = NO_EVENT, NOTE_OFF
STEP = 0.125  # seconds per 16th step at 120 qpm: 60 / 120 / 4
T120 = (Tempo(0.0, 120.0),)
TS44 = (TimeSignature(0.0, 4, 4),)


def _n(pitch: int, start: int, end: int, **kwargs) -> Note:
    """A note given in 16th steps at 120 qpm (times exact in binary, so they quantize exactly)."""
    return Note(pitch, start * STEP, end * STEP, **kwargs)


def _seq(notes, *, time_signatures=TS44, **kwargs) -> NoteSequence:
    return NoteSequence.from_notes(
        list(notes), tempos=T120, time_signatures=time_signatures, **kwargs
    )


def _melodies(notes, **kwargs) -> list[Melody]:
    kwargs.setdefault("steps_per_bar", 16)
    return extract_melodies(quantize(_seq(notes), 4), **kwargs)


def _events(melodies: list[Melody]) -> list[tuple[int, list[int]]]:
    return [(m.start_step, list(m.events)) for m in melodies]


def _windows(tensors) -> set[tuple[int, ...]]:
    """Distinct windows as tuples of class indices (Magenta's set order is arbitrary)."""
    return {tuple(row) for row in np.argmax(tensors.outputs, axis=-1).tolist()}


# --- Melody.set_length / clean_leading_note_offs -----------------------------------------------


def test_set_length_extension_ends_a_held_note():
    m = Melody([60, NE, NE])
    m.set_length(5)
    assert m.events == [60, NE, NE, OFF, NE]  # events[old_len] = NOTE_OFF


def test_set_length_extension_after_a_note_off_adds_nothing():
    m = Melody([60, NE, OFF])
    m.set_length(5)
    assert m.events == [60, NE, OFF, NE, NE]
    m = Melody([NE, NE])
    m.set_length(4)
    assert m.events == [NE, NE, NE, NE]


def test_set_length_shortening_adds_no_note_off():
    m = Melody([60, NE, NE, NE], start_step=16)
    m.set_length(2)
    assert m.events == [60, NE]
    assert m.end_step == 18


def test_clean_leading_note_offs():
    events = np.array([[OFF, NE, OFF, 60, OFF, NE], [62, OFF, NE, OFF, NE, NE]])
    assert clean_leading_note_offs(events).tolist() == [
        [NE, NE, NE, 60, OFF, NE],  # NOTE_OFFs before the first note-on -> NO_EVENT
        [62, OFF, NE, OFF, NE, NE],  # nothing before the first note-on: unchanged
    ]


# --- extract_melodies --------------------------------------------------------------------------


def test_one_bar_gap_ends_a_melody_and_the_next_starts_on_a_bar_line():
    # 60 at 0-4; 62 at 40: off distance 40 - 4 = 36 >= 16 -> a new melody.
    melodies = _melodies([_n(60, 0, 4), _n(62, 40, 44)])
    # First: [60, NE, NE, NE, OFF] -> strip the final OFF (len 4) -> pad to 16, which ends the
    # held note: events[4] = OFF.
    first = [60, NE, NE, NE, OFF] + [NE] * 11
    # Next search starts at 16 (bar after the end); 40 - (40 - 16) % 16 = 32 is the start step.
    second = [NE] * 8 + [62, NE, NE, NE, OFF] + [NE] * 3
    assert _events(melodies) == [(0, first), (32, second)]


def test_gap_of_exactly_one_bar_splits_and_one_step_less_does_not():
    # 62 at 20: off distance 20 - 4 = 16 >= 16 -> split; next melody starts at bar line 16.
    melodies = _melodies([_n(60, 0, 4), _n(62, 20, 24)])
    assert _events(melodies) == [
        (0, [60, NE, NE, NE, OFF] + [NE] * 11),
        (16, [NE] * 4 + [62, NE, NE, NE, OFF] + [NE] * 7),
    ]
    # 62 at 19: off distance 15 < 16 -> same melody; OFF at 23 stripped (len 23), padded to 32
    # with events[23] = OFF.
    melodies = _melodies([_n(60, 0, 4), _n(62, 19, 23)])
    expected = [60, NE, NE, NE, OFF] + [NE] * 14 + [62, NE, NE, NE, OFF] + [NE] * 8
    assert _events(melodies) == [(0, expected)]


def test_simultaneous_onsets_keep_the_highest_pitch():
    # Sorted by (start, -pitch): 64 first; 60 and 55 start on the same step and are skipped.
    melodies = _melodies([_n(60, 0, 4), _n(55, 0, 2), _n(64, 0, 8)])
    assert _events(melodies) == [(0, [64] + [NE] * 7 + [OFF] + [NE] * 7)]


def test_overlapping_next_note_cuts_the_previous_one():
    # 60 at 0-8, 62 at 4-6: set_length(7) cuts the events, 60 ends where 62 starts.
    melodies = _melodies([_n(60, 0, 8), _n(62, 4, 6)])
    assert _events(melodies) == [(0, [60, NE, NE, NE, 62, NE, OFF] + [NE] * 9)]
    # 60 at 0-8, 62 at 4-12: 62 extends the melody to its own end.
    melodies = _melodies([_n(60, 0, 8), _n(62, 4, 12)])
    assert _events(melodies) == [(0, [60, NE, NE, NE, 62] + [NE] * 7 + [OFF] + [NE] * 3)]


def test_note_off_is_kept_or_added_only_when_padding_happens():
    # Ends on a bar line: the final OFF at 16 is stripped, no padding, no OFF.
    assert _events(_melodies([_n(60, 0, 16)])) == [(0, [60] + [NE] * 15)]
    assert _events(_melodies([_n(60, 0, 32)])) == [(0, [60] + [NE] * 31)]
    assert _events(_melodies([_n(60, 0, 4), _n(62, 8, 16)])) == [
        (0, [60, NE, NE, NE, OFF, NE, NE, NE, 62] + [NE] * 7)
    ]
    # Ends mid-bar: stripped, then padding to 16 puts the OFF back at 12.
    assert _events(_melodies([_n(60, 0, 12)])) == [(0, [60] + [NE] * 11 + [OFF] + [NE] * 3)]


def test_without_pad_end_the_final_note_off_is_stripped():
    melodies = _melodies([_n(60, 0, 12)], pad_end=False, min_bars=0)
    assert _events(melodies) == [(0, [60] + [NE] * 11)]


def test_instruments_are_separate_and_drums_and_silent_notes_are_skipped():
    notes = [
        _n(60, 0, 4, instrument=0),
        _n(100, 0, 1, instrument=0, is_drum=True),  # higher, same onset, but a drum: skipped
        _n(72, 2, 3, instrument=0, velocity=0),  # velocity 0: skipped
        _n(67, 16, 20, instrument=1, program=40),
        _n(36, 0, 1, instrument=9, is_drum=True),  # a drum-only instrument yields nothing
    ]
    melodies = _melodies(notes)
    assert _events(melodies) == [
        (0, [60, NE, NE, NE, OFF] + [NE] * 11),
        (16, [67, NE, NE, NE, OFF] + [NE] * 11),
    ]


def test_a_skipped_drum_note_still_sets_the_melody_start_bar():
    # note_seq picks the start bar from the first note of the instrument before skipping drums:
    # drum at step 3 -> start 3 - 3 % 16 = 0, so the melody begins with 20 NO_EVENTs.
    melodies = _melodies([_n(38, 3, 4, is_drum=True), _n(60, 20, 24)])
    # 60 at 20-24: OFF at 24 stripped (len 24), padded to 32 with events[24] = OFF.
    assert _events(melodies) == [(0, [NE] * 20 + [60, NE, NE, NE, OFF] + [NE] * 7)]


def test_truncation_is_bar_aligned_and_the_rest_is_not_re_extracted():
    # 60 at 0-20, 62 at 20-44, 64 at 46-47: one 48-step melody (OFF at 47 stripped, padded).
    notes = [_n(60, 0, 20), _n(62, 20, 44), _n(64, 46, 47)]
    (full,) = _melodies(notes)
    assert full.events == [60] + [NE] * 19 + [62] + [NE] * 23 + [OFF, NE, 64, OFF]
    # max_steps_truncate 40 -> 40 - 40 % 16 = 32; shortening adds no NOTE_OFF (62 stays held).
    # The next search starts after the untruncated end (48), so bar 3 is not a new melody.
    melodies = _melodies(notes, max_steps_truncate=40)
    assert _events(melodies) == [(0, [60] + [NE] * 19 + [62] + [NE] * 11)]


def test_min_unique_pitches_counts_pitch_classes():
    # 60 and 72 are one pitch class (C): 1 unique pitch < 2 -> dropped.
    assert _melodies([_n(60, 0, 4), _n(72, 4, 8)], min_unique_pitches=2) == []
    assert len(_melodies([_n(60, 0, 4), _n(62, 4, 8)], min_unique_pitches=2)) == 1


# --- MelodyConverter: encoding and windows -----------------------------------------------------


def test_encoding_indices_and_depth():
    conv = MelodyConverter()
    assert conv.depth == conv.input_depth == conv.output_depth == 90  # 108 - 21 + 1 + 2
    events = np.array([NE, OFF, 21, 60, 108])
    assert conv.encode_events(events).tolist() == [0, 1, 2, 41, 89]  # 2 + pitch - 21
    assert conv.decode_indices(np.array([0, 1, 2, 41, 89])).tolist() == events.tolist()


def test_130_class_variant_encoding():
    conv = MelodyConverter(min_pitch=0, max_pitch=127)
    assert conv.depth == 130  # 128 pitches + NO_EVENT + NOTE_OFF
    assert conv.encode_events(np.array([NE, OFF, 0, 60, 127])).tolist() == [0, 1, 2, 62, 129]


# 3-bar melody: 60 at 0-16 (ends on the bar line), 62 at 20-24, 64 at 32-48.
# Events: 60, NE x15, OFF(16), NE x3, 62(20), NE x3, OFF(24), NE x7, 64(32), NE x15 (OFF at 48
# stripped; 48 is a bar multiple, so no padding).
THREE_BARS = [_n(60, 0, 16), _n(62, 20, 24), _n(64, 32, 48)]
# 2-bar windows, hop 1 bar: i in range(32, 49, 16) = [32, 48] -> slices [0:32] and [16:48].
WINDOW_1 = (41,) + (0,) * 15 + (1,) + (0,) * 3 + (43,) + (0,) * 3 + (1,) + (0,) * 7
# The second slice starts with the OFF at 16, which slicing cleans to NO_EVENT (index 0).
WINDOW_2 = (0,) * 4 + (43,) + (0,) * 3 + (1,) + (0,) * 7 + (45,) + (0,) * 15


def test_windows_of_a_three_bar_melody():
    out = MelodyConverter().to_tensors(_seq(THREE_BARS))
    assert len(out) == 2
    assert out.outputs.shape == (2, 32, 90) and out.outputs.dtype == np.bool_
    assert np.array_equal(out.inputs, out.outputs)
    assert out.lengths.tolist() == [32, 32]
    assert out.controls.shape == (2, 32, 0)
    assert out.outputs.sum(axis=-1).tolist() == [[1] * 32] * 2  # one-hot
    assert _windows(out) == {WINDOW_1, WINDOW_2}


def test_identical_windows_are_deduplicated():
    # Four identical bars: 60 held 8 steps each bar. The last OFF at 56 is stripped, and padding
    # to 64 puts it back, so all 3 two-bar windows are equal.
    notes = [_n(60, 16 * b, 16 * b + 8) for b in range(4)]
    bar = (41,) + (0,) * 7 + (1,) + (0,) * 7
    assert _windows(MelodyConverter().to_tensors(_seq(notes))) == {bar + bar}
    assert len(MelodyConverter().to_tensors(_seq(notes))) == 1
    assert len(MelodyConverter(dedupe=False).to_tensors(_seq(notes))) == 3


def test_windows_equal_after_cleaning_the_leading_note_off_are_deduplicated():
    # 60 at 8-16, 24-32, 40-48: events NE x8, 60, NE x7, OFF(16), NE x7, 60, NE x7, OFF(32), ...
    # [0:32] starts NE x8; [16:48] starts with OFF(16), cleaned to NO_EVENT -> the same window.
    notes = [_n(60, 8, 16), _n(60, 24, 32), _n(60, 40, 48)]
    expected = (0,) * 8 + (41,) + (0,) * 7 + (1,) + (0,) * 7 + (41,) + (0,) * 7
    out = MelodyConverter().to_tensors(_seq(notes))
    assert len(out) == 1
    assert _windows(out) == {expected}


def test_valid_programs_filter():
    notes = [_n(60, 0, 32, instrument=0, program=0), _n(72, 0, 32, instrument=1, program=40)]
    all_programs = MelodyConverter().to_tensors(_seq(notes))
    assert _windows(all_programs) == {(41,) + (0,) * 31, (53,) + (0,) * 31}  # 72 -> 2 + 51
    # range(0, 32) in Magenta, (0, 32) here: program 40 is removed.
    only_low = MelodyConverter(valid_programs=(0, 32)).to_tensors(_seq(notes))
    assert _windows(only_low) == {(41,) + (0,) * 31}


def test_pitch_range_filter_happens_before_extraction():
    # 109 and 60 start together; 109 would win as the highest, but 109 > 108 is removed first.
    notes = [_n(109, 0, 4), _n(60, 0, 4), _n(62, 16, 32), _n(20, 20, 22, instrument=1)]
    out = MelodyConverter().to_tensors(_seq(notes))
    # 60 at 0-4: OFF at 4; 62 at 16-32: OFF at 32 stripped. Pitch 20 (< 21) is gone too.
    assert _windows(out) == {(41, 0, 0, 0, 1) + (0,) * 11 + (43,) + (0,) * 15}
    # The 130-class variant keeps 109 (index 2 + 109 = 111) and 20 (a one-bar melody: no window).
    out130 = MelodyConverter(min_pitch=0, max_pitch=127).to_tensors(_seq(notes))
    assert out130.outputs.shape == (1, 32, 130)
    assert _windows(out130) == {(111, 0, 0, 0, 1) + (0,) * 11 + (64,) + (0,) * 15}


def test_range_edges_21_and_108_are_kept():
    out = MelodyConverter().to_tensors(_seq([_n(108, 0, 16), _n(21, 16, 32)]))
    assert _windows(out) == {(89,) + (0,) * 15 + (2,) + (0,) * 15}


def test_melodies_shorter_than_the_window_give_nothing():
    assert len(MelodyConverter().to_tensors(_seq([_n(60, 0, 16)]))) == 0


def test_pieces_that_are_not_16_steps_per_bar_or_fail_quantization_give_nothing():
    conv = MelodyConverter()
    notes = [_n(60, 0, 32)]
    assert len(conv.to_tensors(_seq(notes, time_signatures=(TimeSignature(0.0, 3, 4),)))) == 0
    assert len(conv.to_tensors(_seq(notes, time_signatures=(TimeSignature(0.0, 3, 3),)))) == 0
    # 2/2 has 16 steps per bar too, so Magenta's check (steps per bar == 16) accepts it.
    cut = conv.to_tensors(_seq(notes, time_signatures=(TimeSignature(0.0, 2, 2),)))
    assert _windows(cut) == {(41,) + (0,) * 31}


def test_negative_time_skips_the_piece_unless_splitting_dropped_the_note():
    notes = [Note(60, -0.2, 4.0), Note(62, 0.0, 4.0)]
    # Without presplit: -0.2 s -> step int(-1.6 + 0.5) = -1 -> NegativeTimeError, caught by the
    # converter -> no windows for the whole piece.
    assert len(MelodyConverter(presplit_on_time_changes=False).to_tensors(_seq(notes))) == 0
    # With presplit, _extract_subsequences drops notes starting before split time 0.0 first, so
    # only 62 (0-4 s = 32 steps) is left.
    assert _windows(MelodyConverter().to_tensors(_seq(notes))) == {(43,) + (0,) * 31}


def test_sequence_is_split_at_a_tempo_change_before_extraction():
    # 0-4 s at 120 qpm (2 bars), then 60 qpm (0.25 s per step). 60 crosses the split and is cut
    # at 4.0 s -> 32 steps. 62 at 4-12 s -> 0-8 s in the second piece -> 8 * 4 = 32 steps.
    seq = NoteSequence.from_notes(
        [Note(60, 0.0, 5.0), Note(62, 4.0, 12.0)],
        tempos=(Tempo(0.0, 120.0), Tempo(4.0, 60.0)),
        time_signatures=TS44,
    )
    assert _windows(MelodyConverter().to_tensors(seq)) == {(41,) + (0,) * 31, (43,) + (0,) * 31}


def test_training_mode_keeps_at_most_max_tensors_per_notesequence():
    # 8 bars, a different pitch each bar -> 7 distinct 2-bar windows; training keeps 5.
    notes = [_n(60 + b, 16 * b, 16 * b + 16) for b in range(8)]
    conv = MelodyConverter()
    assert len(conv.to_tensors(_seq(notes))) == 7
    sampled = conv.to_tensors(_seq(notes), rng=np.random.default_rng(0))
    assert len(sampled) == 5
    assert _windows(sampled) <= _windows(conv.to_tensors(_seq(notes)))


# --- decoding ----------------------------------------------------------------------------------


def _one_hot(indices, depth):
    return np.eye(depth, dtype=bool)[np.asarray(indices)][None]  # (1, T, depth)


def _decoded(seq: NoteSequence) -> list[tuple[int, float, float, int]]:
    return [(n.pitch, n.start, n.end, n.velocity) for n in seq.notes()]


def test_from_tensors_decodes_a_hand_written_one_hot():
    # indices -> events: 60, NE, OFF, NE, 62, 64, NE, NE
    (seq,) = MelodyConverter().from_tensors(_one_hot([41, 0, 1, 0, 43, 45, 0, 0], 90))
    assert _decoded(seq) == [
        (60, 0.0, 0.25, 80),  # on at step 0, OFF at step 2 -> 2 * 0.125
        (62, 0.5, 0.625, 80),  # on at step 4, ended by the next note-on at step 5
        (64, 0.625, 1.0, 80),  # on at step 5, ended by the end of the melody (8 steps)
    ]
    assert seq.total_time == 1.0  # the last note's end
    assert seq.tempos == (Tempo(0.0, 120.0),)
    assert [(n.program, n.instrument, n.is_drum) for n in seq.notes()] == [(0, 0, False)] * 3


def test_from_tensors_ignores_leading_note_offs_and_takes_the_argmax_of_logits():
    logits = np.full((1, 4, 90), -1.0)
    for t, k in enumerate([1, 1, 89, 1]):  # OFF, OFF, 108, OFF
        logits[0, t, k] = 3.0
    (seq,) = MelodyConverter().from_tensors(logits)
    assert _decoded(seq) == [(108, 0.25, 0.375, 80)]


def test_from_tensors_of_silence_is_empty():
    (seq,) = MelodyConverter().from_tensors(_one_hot([0, 1, 0, 0], 90))
    assert len(seq) == 0 and seq.total_time == 0.0


def test_melody_to_notes_at_another_tempo():
    # 60 qpm: 60 / 60 / 4 = 0.25 s per step
    seq = melody_to_notes([NE, 60, NE, OFF], qpm=60.0)
    assert _decoded(seq) == [(60, 0.25, 0.75, 80)]


def test_melody_to_notes_hand_computed_ends():
    # 120 qpm, 4 steps per quarter: 0.125 s per step. A leading NOTE_OFF ends nothing; a
    # note-on ends the held note; NOTE_OFF ends it; a stray NOTE_OFF does nothing; the last
    # note is held to the end of the list.
    seq = melody_to_notes([OFF, 60, NE, 62, OFF, OFF, NE, 64, NE])
    assert _decoded(seq) == [(60, 0.125, 0.375, 80), (62, 0.375, 0.5, 80), (64, 0.875, 1.125, 80)]
    assert seq.total_time == 1.125
    assert len(melody_to_notes([NE, OFF, NE])) == 0 and melody_to_notes([]).total_time == 0.0


def _to_sequence_loop(events, seconds_per_step):
    """note_seq's Melody.to_sequence written as its loop: (pitch, start s, end s) per note."""
    notes, held, seen = [], None, False
    for step, event in enumerate(events):
        if event >= 0 or (event == OFF and seen):
            if held is not None:
                notes.append((held[0], held[1], step * seconds_per_step))
                held = None
        if event >= 0:
            held, seen = (event, step * seconds_per_step), True
    if held is not None:
        notes.append((held[0], held[1], len(events) * seconds_per_step))
    return notes


def test_melodies_to_notes_matches_the_step_loop_on_random_batches():
    rng = np.random.default_rng(7)
    for steps, qpm, spq in [(32, 120.0, 4), (1, 90.0, 4), (256, 77.0, 3)]:
        # mostly NO_EVENT, some NOTE_OFFs and note-ons, and some rows with no note at all
        events = rng.choice([NE, NE, NE, OFF, 60, 64, 71], size=(50, steps))
        events[:5] = NE
        seqs = melodies_to_notes(events, steps_per_quarter=spq, qpm=qpm)
        assert len(seqs) == 50
        for row, seq in zip(events, seqs, strict=True):
            got = list(zip(seq.pitch.tolist(), seq.start.tolist(), seq.end.tolist(), strict=True))
            assert got == _to_sequence_loop(row.tolist(), 60.0 / qpm / spq)
            assert seq.total_time == (got[-1][2] if got else 0.0)
            assert seq.tempos[0].qpm == qpm and (seq.velocity == 80).all()
    assert melodies_to_notes(np.zeros((0, 32), int)) == []


def test_decoded_melody_re_encodes_to_the_same_window():
    window = (41,) + (0,) * 15 + (43,) + (0,) * 15
    conv = MelodyConverter()
    (seq,) = conv.from_tensors(_one_hot(window, 90))
    # Magenta: notes 60 at 0-2 s and 62 at 2-4 s, total 4 s -> the same window again.
    assert _windows(conv.to_tensors(seq)) == {window}
