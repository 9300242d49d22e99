"""Quantization and splitting against note_seq 0.0.3's sequences_lib rules (Magenta 2.1.4).

Every expected value below is worked out by hand from the original code, quoted in the comments:
  quantize_to_step:      int(seconds * steps_per_second + (1 - 0.5))
  steps_per_second:      steps_per_quarter * qpm / 60.0  (8.0 at 120 qpm, 4 steps per quarter)
  _quantize_notes:       end == start -> end += 1; negative start/end -> NegativeTimeError;
                         total_quantized_steps grows to the largest note end
  quantize_note_sequence: implicit 4/4 and 120 qpm at time 0; the rest must equal the
                         (unsorted) first entry
  _extract_subsequences / split_note_sequence_on_time_changes: see the split tests.
"""

from __future__ import annotations

import pytest

from musicvae.music import sequences
from musicvae.music.notes import Note, NoteSequence, Tempo, TimeSignature
from musicvae.music.sequences import (
    BadTimeSignatureError,
    MultipleTempoError,
    MultipleTimeSignatureError,
    NegativeTimeError,
    extract_subsequences,
    quantize,
    split_on_time_changes,
    steps_per_bar,
)

T120 = (Tempo(0.0, 120.0),)
TS44 = (TimeSignature(0.0, 4, 4),)


def _seq(notes, *, tempos=T120, time_signatures=TS44, **kwargs) -> NoteSequence:
    return NoteSequence.from_notes(
        list(notes), tempos=tempos, time_signatures=time_signatures, **kwargs
    )


def _steps(seq: NoteSequence) -> list[tuple[int, int]]:
    return list(zip(seq.start_step.tolist(), seq.end_step.tolist(), strict=True))


# --- quantize_to_step ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0.37, 3),  # 0.37 * 8 = 2.96 -> int(2.96 + 0.5) = int(3.46) = 3
        (0.31, 2),  # 2.48 -> int(2.98) = 2
        (0.32, 3),  # 2.56 -> int(3.06) = 3
        (0.0625, 1),  # exactly half a step: 0.5 -> int(1.0) = 1 (half rounds up)
        (0.0624, 0),  # 0.4992 -> int(0.9992) = 0 (just below half)
        (0.0626, 1),  # 0.5008 -> int(1.0008) = 1 (just above half)
        (0.1875, 2),  # 1.5 steps -> int(2.0) = 2
        (0.18749, 1),  # 1.49992 -> int(1.99992) = 1
        (-0.1, 0),  # -0.8 -> int(-0.3) = 0: Python int() truncates toward zero
        (-0.2, -1),  # -1.6 -> int(-1.1) = -1
    ],
)
def test_quantize_to_step_rounds_at_half_a_step(seconds, expected):
    assert sequences.quantize_to_step(seconds, 8.0) == expected


def test_steps_per_second_formula():
    # steps_per_quarter * qpm / 60.0
    assert sequences.steps_per_second(4, 120.0) == 8.0
    assert sequences.steps_per_second(4, 90.0) == 6.0


# --- quantize ----------------------------------------------------------------------------------


def test_quantize_note_starts_and_ends_round_to_nearest_step():
    seq = _seq(
        [
            Note(60, 0.37, 0.9),  # start 2.96 -> 3; end 7.2 -> int(7.7) = 7
            Note(62, 0.0624, 0.31),  # start 0.4992 -> 0; end 2.48 -> int(2.98) = 2
            Note(64, 0.0626, 0.32),  # start 0.5008 -> 1; end 2.56 -> int(3.06) = 3
            Note(65, 0.0625, 0.1875),  # start 0.5 -> 1; end 1.5 -> 2
        ]
    )
    q = quantize(seq, 4)
    assert q.is_quantized and q.steps_per_quarter == 4
    assert _steps(q) == [(3, 7), (0, 2), (1, 3), (1, 2)]


def test_quantize_uses_the_sequence_tempo():
    # 90 qpm: 4 * 90 / 60 = 6 steps per second.
    seq = _seq([Note(60, 0.25, 0.24 + 1.0)], tempos=(Tempo(0.0, 90.0),))
    q = quantize(seq, 4)
    # start 0.25 * 6 = 1.5 -> int(2.0) = 2; end 1.24 * 6 = 7.44 -> int(7.94) = 7
    assert _steps(q) == [(2, 7)]
    assert q.tempos == (Tempo(0.0, 90.0),)


def test_note_shorter_than_half_a_step_is_lengthened_to_one_step():
    # start 0.5 s -> 4.0 -> 4; end 0.55 s -> 4.4 -> int(4.9) = 4 == start -> end = 5
    seq = _seq([Note(60, 0.5, 0.55)], total_time=0.55)
    q = quantize(seq, 4)
    assert _steps(q) == [(4, 5)]
    # total_quantized_steps = quantize(0.55) = 4, then raised to the note end 5
    assert q.total_quantized_steps == 5


def test_zero_length_note_is_lengthened_to_one_step():
    seq = _seq([Note(60, 1.0, 1.0)], total_time=1.0)
    q = quantize(seq, 4)
    assert _steps(q) == [(8, 9)]  # 1.0 s -> 8, end == start -> 9
    assert q.total_quantized_steps == 9


def test_total_quantized_steps_from_total_time_when_longer_than_notes():
    # total_time 2.0 s -> 16 steps; the only note ends at step 4
    seq = _seq([Note(60, 0.0, 0.5)], total_time=2.0)
    assert quantize(seq, 4).total_quantized_steps == 16


def test_total_quantized_steps_extended_by_rounded_note_end():
    # total_time 1.0 s -> 8; a note end of 1.05 s -> 8.4 -> int(8.9) = 8: no change;
    # a note end of 1.07 s -> 8.56 -> int(9.06) = 9 > 8 -> total becomes 9
    seq = _seq([Note(60, 0.0, 1.05)], total_time=1.0)
    assert quantize(seq, 4).total_quantized_steps == 8
    seq = _seq([Note(60, 0.0, 1.07)], total_time=1.0)
    assert quantize(seq, 4).total_quantized_steps == 9


def test_negative_time_error_only_when_the_step_is_negative():
    # -0.1 s -> int(-0.8 + 0.5) = int(-0.3) = 0: allowed
    q = quantize(_seq([Note(60, -0.1, 0.5)], total_time=0.5), 4)
    assert _steps(q) == [(0, 4)]
    # -0.2 s -> int(-1.6 + 0.5) = int(-1.1) = -1: NegativeTimeError
    with pytest.raises(NegativeTimeError):
        quantize(_seq([Note(60, -0.2, 0.5)], total_time=0.5), 4)


def test_quantize_without_tempo_or_time_signature_defaults_to_120_and_4_4():
    seq = NoteSequence.from_notes([Note(60, 0.125, 0.25)])
    q = quantize(seq, 4)
    assert q.tempos == (Tempo(0.0, 120.0),)
    assert q.time_signatures == (TimeSignature(0.0, 4, 4),)
    assert _steps(q) == [(1, 2)]


@pytest.mark.parametrize(
    ("numerator", "denominator"),
    [(3, 3), (4, 6), (0, 4), (4, 0)],  # denominator not a power of 2; numerator 0
)
def test_bad_time_signature(numerator, denominator):
    seq = _seq([Note(60, 0.0, 1.0)], time_signatures=(TimeSignature(0.0, numerator, denominator),))
    with pytest.raises(BadTimeSignatureError):
        quantize(seq, 4)


def test_time_signature_change_raises():
    seq = _seq(
        [Note(60, 0.0, 4.0)],
        time_signatures=(TimeSignature(0.0, 4, 4), TimeSignature(2.0, 3, 4)),
    )
    with pytest.raises(MultipleTimeSignatureError):
        quantize(seq, 4)


def test_first_time_signature_after_zero_that_is_not_4_4_raises():
    # Implicit 4/4 at time 0, then 3/4 at 1 s: a change.
    seq = _seq([Note(60, 0.0, 4.0)], time_signatures=(TimeSignature(1.0, 3, 4),))
    with pytest.raises(MultipleTimeSignatureError):
        quantize(seq, 4)


def test_first_time_signature_after_zero_that_is_4_4_is_fine_and_moves_to_zero():
    seq = _seq([Note(60, 0.0, 4.0)], time_signatures=(TimeSignature(1.0, 4, 4),))
    assert quantize(seq, 4).time_signatures == (TimeSignature(0.0, 4, 4),)


def test_repeated_identical_time_signature_is_not_a_change():
    seq = _seq(
        [Note(60, 0.0, 4.0)],
        time_signatures=(TimeSignature(0.0, 3, 4), TimeSignature(2.0, 3, 4)),
    )
    q = quantize(seq, 4)
    assert q.time_signatures == (TimeSignature(0.0, 3, 4),)


def test_tempo_change_raises():
    seq = _seq([Note(60, 0.0, 4.0)], tempos=(Tempo(0.0, 120.0), Tempo(1.0, 90.0)))
    with pytest.raises(MultipleTempoError):
        quantize(seq, 4)


def test_first_tempo_after_zero_that_is_not_120_raises():
    # Implicit 120 qpm at 0, then 100 qpm at 1 s.
    seq = _seq([Note(60, 0.0, 4.0)], tempos=(Tempo(1.0, 100.0),))
    with pytest.raises(MultipleTempoError):
        quantize(seq, 4)


def test_first_tempo_after_zero_that_is_120_is_fine():
    seq = _seq([Note(60, 0.0, 4.0)], tempos=(Tempo(1.0, 120.0),))
    assert quantize(seq, 4).tempos == (Tempo(0.0, 120.0),)


def test_repeated_identical_tempo_is_not_a_change():
    # 100 qpm: 4 * 100 / 60 = 6.666.. steps/s; 0.3 s -> 2.0 -> int(2.5) = 2
    seq = _seq([Note(60, 0.3, 1.5)], tempos=(Tempo(0.0, 100.0), Tempo(2.0, 100.0)))
    q = quantize(seq, 4)
    assert q.tempos == (Tempo(0.0, 100.0),)
    assert q.start_step.tolist() == [2]  # 1.5 s -> 10.0 -> 10
    assert q.end_step.tolist() == [10]


def test_tempos_are_compared_with_the_unsorted_first_entry():
    # note_seq compares every later (sorted) tempo with qns.tempos[0], the first in storage order,
    # and keeps that one: [100 @ 2 s, 120 @ 0 s] sorts to [120 @ 0, 100 @ 2]; the only compared
    # entry (100 @ 2 s) equals tempos[0] (100), so no error, and the sequence quantizes at 100 qpm.
    seq = _seq([Note(60, 0.3, 1.5)], tempos=(Tempo(2.0, 100.0), Tempo(0.0, 120.0)))
    q = quantize(seq, 4)
    assert q.tempos == (Tempo(0.0, 100.0),)
    assert q.start_step.tolist() == [2]  # 0.3 * 6.666.. = 2.0 -> 2 (it would be 2.4 -> 2 at 120)
    assert q.end_step.tolist() == [10]  # 1.5 * 6.666.. = 10 (at 120 qpm it would be 12)


# --- steps_per_bar ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [
        (4, 4, 16.0),  # 4 spq * (4/4 * 4) quarters
        (2, 2, 16.0),  # (4/2) * 2 = 4 quarters -> 16
        (3, 4, 12.0),  # 3 quarters -> 12
        (6, 8, 12.0),  # (4/8) * 6 = 3 quarters -> 12
        (7, 8, 14.0),  # 3.5 quarters -> 14
    ],
)
def test_steps_per_bar(numerator, denominator, expected):
    seq = _seq([Note(60, 0.0, 1.0)], time_signatures=(TimeSignature(0.0, numerator, denominator),))
    assert steps_per_bar(quantize(seq, 4)) == expected


def test_steps_per_bar_needs_a_quantized_sequence():
    with pytest.raises(ValueError):
        steps_per_bar(_seq([Note(60, 0.0, 1.0)]))


# --- split_on_time_changes ---------------------------------------------------------------------


def _notes(seq: NoteSequence) -> list[tuple[int, float, float]]:
    return [(n.pitch, n.start, n.end) for n in seq.notes()]


def test_split_at_a_tempo_change_cuts_shifts_and_carries_state():
    seq = _seq(
        [
            Note(60, 0.5, 1.0),
            Note(62, 1.5, 2.5),  # crosses the split at 2.0: cut to end at 2.0
            Note(64, 2.0, 2.25),  # starts exactly at the split: goes to the second piece
            Note(65, 3.0, 3.5),
        ],
        tempos=(Tempo(0.0, 120.0), Tempo(2.0, 60.0)),
        total_time=3.5,
    )
    first, second = split_on_time_changes(seq)  # split times [0.0, 2.0, 3.5]
    assert _notes(first) == [(60, 0.5, 1.0), (62, 1.5, 2.0)]
    assert first.total_time == 2.0  # the largest (cut) note end in the piece
    # The cut note does not continue into the next piece; times shift by -2.0.
    assert _notes(second) == [(64, 0.0, 0.25), (65, 1.0, 1.5)]
    assert second.total_time == 1.5
    # Each piece carries the tempo / time signature in force at its start, at time 0.
    assert first.tempos == (Tempo(0.0, 120.0),)
    assert second.tempos == (Tempo(0.0, 60.0),)
    assert first.time_signatures == (TimeSignature(0.0, 4, 4),)
    assert second.time_signatures == (TimeSignature(0.0, 4, 4),)
    # Each piece now quantizes: second piece at 60 qpm = 4 steps/s, 1.0 s -> step 4.
    assert _steps(quantize(second, 4)) == [(0, 1), (4, 6)]


def test_redundant_repeated_tempo_does_not_split():
    seq = _seq(
        [Note(60, 0.5, 1.0), Note(62, 1.5, 2.5)],
        tempos=(Tempo(0.0, 120.0), Tempo(1.0, 120.0)),
        total_time=2.5,
    )
    pieces = split_on_time_changes(seq)
    assert len(pieces) == 1  # split times [0.0, 2.5]
    assert _notes(pieces[0]) == [(60, 0.5, 1.0), (62, 1.5, 2.5)]
    assert pieces[0].total_time == 2.5
    # Both tempos lie inside the single piece: 120 @ 0 is state, 120 @ 1.0 is copied at 1.0.
    assert pieces[0].tempos == (Tempo(0.0, 120.0), Tempo(1.0, 120.0))


def test_first_tempo_at_zero_that_differs_from_120_does_not_split():
    # The "change" 120 -> 90 happens at 0.0, which is not > the last split time 0.0.
    seq = _seq([Note(60, 0.0, 1.0)], tempos=(Tempo(0.0, 90.0),), total_time=1.0)
    (piece,) = split_on_time_changes(seq)
    assert piece.tempos == (Tempo(0.0, 90.0),)


def test_tempo_and_time_signature_changes_at_equal_times_split_once():
    seq = _seq(
        [Note(60, 0.0, 1.0), Note(62, 2.5, 3.0)],
        tempos=(Tempo(0.0, 120.0), Tempo(2.0, 60.0), Tempo(3.0, 60.0)),
        time_signatures=(TimeSignature(0.0, 4, 4), TimeSignature(2.0, 3, 4)),
        total_time=4.0,
    )
    first, second = split_on_time_changes(seq)  # 3/4 splits at 2.0; tempo at 2.0 is not > 2.0
    assert _notes(first) == [(60, 0.0, 1.0)]
    assert _notes(second) == [(62, 0.5, 1.0)]
    assert first.time_signatures == (TimeSignature(0.0, 4, 4),)
    assert second.time_signatures == (TimeSignature(0.0, 3, 4),)
    assert first.tempos == (Tempo(0.0, 120.0),)
    # 60 @ 2.0 is the state at the piece start (time 0); the redundant 60 @ 3.0 lies inside the
    # piece and is shifted to 1.0.
    assert second.tempos == (Tempo(0.0, 60.0), Tempo(1.0, 60.0))
    assert steps_per_bar(quantize(second, 4)) == 12.0


def test_time_changes_at_or_after_total_time_are_ignored():
    seq = _seq(
        [Note(60, 0.0, 1.0)],
        tempos=(Tempo(0.0, 120.0), Tempo(1.0, 60.0)),
        total_time=1.0,
    )
    (piece,) = split_on_time_changes(seq)
    assert _notes(piece) == [(60, 0.0, 1.0)]


def test_split_of_an_empty_sequence_is_empty():
    assert split_on_time_changes(NoteSequence.empty(tempos=T120)) == []


def test_extract_subsequences_drops_notes_before_the_first_and_after_the_last_split():
    seq = _seq([Note(60, 0.0, 1.0), Note(62, 1.0, 3.0), Note(64, 3.0, 3.5)], total_time=3.5)
    (piece,) = extract_subsequences(seq, [0.5, 2.0])
    # 60 starts before 0.5: dropped; 62 -> (0.5, min(3.0, 2.0) - 0.5 = 1.5); 64 after 2.0: dropped
    assert _notes(piece) == [(62, 0.5, 1.5)]
    assert piece.total_time == 1.5


def test_extract_subsequences_rejects_quantized_input_and_single_split_time():
    seq = _seq([Note(60, 0.0, 1.0)])
    with pytest.raises(ValueError):
        extract_subsequences(quantize(seq, 4), [0.0, 1.0])
    with pytest.raises(ValueError):
        extract_subsequences(seq, [0.0])
