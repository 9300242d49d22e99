"""Realism features and the degenerate rule on hand-built windows with hand-computed answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from musicvae.evaluation import features as F

_, OFF = -2, -1

# SPEC section 7's check case: "Mary had a little lamb" in 8ths, then 16th and 8th syncopation.
CHECK = [67, _, 65, _, 63, _, 65, _, 67, _, 67, _, 67, _, OFF, _]
CHECK += [_, 65, _, 65, _, 65, _, OFF, _, _, 67, _, OFF, _, 70, _]
# C, D, C# (2 steps, then silence), E held to the end: 30 sounding steps.
CSHARP = [60, _, _, _, 62, _, _, _, 61, _, OFF, _, 64] + [_] * 19
# The same bar twice: 5 notes repeat.
BAR = [60, _, 62, _, 64, _, 65, _, 67, _, _, _, _, _, _, _]
EMPTY = [_] * 32


def test_check_case_counts_range_and_interval():
    events = np.array([CHECK, EMPTY])
    assert F.note_count(events).tolist() == [12, 0]
    assert F.pitch_range(events).tolist() == [70 - 63, 0]
    assert F.mean_interval(events) == pytest.approx([15 / 11, 0])


def test_pitch_class_entropy():
    # onsets: G x5, F x5, Eb x1, Bb x1 of 12
    p = np.array([5, 5, 1, 1]) / 12
    expected = -sum(x * math.log2(x) for x in p)
    uniform = [[60 + k if s == 0 else _ for s in range(2)] for k in range(12)]
    uniform = np.array(uniform).reshape(1, -1)  # 12 pitch classes once each
    got = F.pitch_class_entropy(np.array([CHECK, EMPTY]))
    assert got == pytest.approx([expected, 0.0])
    assert F.pitch_class_entropy(uniform) == pytest.approx([math.log2(12)])


def test_sounding_pitches_follow_note_offs():
    events = np.array([[_, 60, _, OFF, _, 62, 64, _]])
    assert F.sounding_pitches(events).tolist() == [[-1, 60, 60, -1, -1, 62, 64, 64]]


def test_in_scale_takes_the_best_diatonic_set():
    # Eb major holds every pitch class of the check case; C major (or G, F) holds 28 of 30
    # sounding steps of CSHARP (D major holds C#, D, E but not C: 26).
    got = F.in_scale(np.array([CHECK, CSHARP, EMPTY]))
    assert got == pytest.approx([1.0, 28 / 30, 0.0])


def test_longest_repeat():
    all_sixteenths = [60] * 32  # 32 equal notes: 16 repeat without overlapping themselves
    got = F.longest_repeat(np.array([CHECK, BAR + BAR, all_sixteenths, EMPTY]))
    assert got.tolist() == [1, 5, 16, 0]
    one_note = np.array([[60] + [_] * 31])
    assert F.longest_repeat(one_note).tolist() == [0]


def test_drum_features():
    masks = np.zeros((1, 32), np.int64)
    masks[0, :4] = [1, 0, 2, 3]  # kick, -, snare, kick + snare
    masks[0, 10] = 1 << 8  # ride
    f = F.drum_features(masks)
    assert f["hits_kick"].tolist() == [2] and f["hits_snare"].tolist() == [2]
    assert f["hits_ride"].tolist() == [1] and f["hits_crash"].tolist() == [0]
    assert f["density"] == pytest.approx([4 / 32])
    assert F.degenerate_drums(np.vstack([masks, np.zeros((1, 32))])).tolist() == [False, True]


def _alternating(onsets: int, low: int, high: int, steps: int = 32) -> list[int]:
    return [(low if k % 2 else high) if k < onsets else _ for k in range(steps)]


def test_degenerate_rule():
    rows = [
        EMPTY,
        _alternating(32, 21, 69),  # 32 onsets, range 48: noise
        _alternating(32, 21, 68),  # range 47: kept
        _alternating(28, 40, 88),  # 28 onsets, range 48: noise
        _alternating(27, 40, 88),  # 27 onsets: kept
        CHECK,
    ]
    got = F.degenerate_melody(np.array(rows))
    assert got.tolist() == [True, True, False, True, False, False]


def test_degenerate_onsets_scale_with_length():
    # 64 steps: 56 onsets (= 28 * 64 / 32) with range 60 are noise, 55 are not
    rows = [_alternating(56, 30, 90, 64), _alternating(55, 30, 90, 64)]
    assert F.degenerate_melody(np.array(rows)).tolist() == [True, False]
