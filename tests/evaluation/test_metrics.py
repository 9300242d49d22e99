"""The evaluation's pure formulas on hand-built arrays: cross-entropy, KL, pooled accuracy,
distribution overlap, the temperature rule, data-space interpolation, relative change."""

from __future__ import annotations

import math

import numpy as np
import pytest

from musicvae.configs import get_config
from musicvae.evaluation.attributes_matrix import relative_change
from musicvae.evaluation.interpolation import choose_pairs, data_space_path, hamming
from musicvae.evaluation.realism import overlap, passes, recommend, window_features
from musicvae.evaluation.reconstruction import (
    correct_counts,
    cross_entropy_sum,
    kl_nats,
    valid_mask,
)


def test_cross_entropy_sum_over_valid_steps():
    logits = np.zeros((2, 3, 4))  # uniform: log 4 per step
    logits[1, 0] = [math.log(3), 0, 0, 0]  # p(target 0) = 3 / 6
    target = np.zeros((2, 3), np.int64)
    mask = valid_mask([3, 2], 3)
    got = cross_entropy_sum(logits, target, mask)
    assert got == pytest.approx([3 * math.log(4), math.log(2) + math.log(4)])


def test_kl_nats():
    mu = np.array([[0.0, 0.0], [1.0, 0.0]])
    sigma = np.array([[1.0, 1.0], [1.0, math.e]])
    # dim-wise 0.5 (s^2 + m^2 - 1 - 2 ln s): 0.5 for mu = 1; 0.5 (e^2 - 3) for sigma = e
    assert kl_nats(mu, sigma) == pytest.approx([0.0, 0.5 + 0.5 * (math.e**2 - 3)])


def test_correct_counts_pool_valid_steps_only():
    predicted = np.array([[1, 2, 3], [1, 1, 1]])
    target = np.array([[1, 0, 3], [1, 1, 0]])
    assert correct_counts(predicted, target, valid_mask([3, 1], 3)) == (3, 4)


def test_overlap():
    assert overlap([1, 2, 3], [3, 2, 1]) == 1.0
    assert overlap([0, 0], [5, 5]) == 0.0
    assert overlap([0, 0, 1, 1], [1, 1, 1, 1]) == pytest.approx(0.5)
    assert overlap([2.0, 2.0], [2.0]) == 1.0  # one value: identical
    # real values: 32 equal bins over [0, 1]; halves fall into disjoint bins
    assert overlap([0.0, 0.1, 0.2], [0.9, 1.0]) == 0.0
    assert math.isnan(overlap([], [1.0]))


def _entry(degenerate: float, *relative: float) -> dict:
    return {
        "degenerate_rate": degenerate,
        "relative_difference": {f"f{i}": r for i, r in enumerate(relative)},
    }


def test_recommended_temperature_is_the_highest_that_passes():
    grid = {
        "0": _entry(0.0, 0.05, 0.1),
        "0.5": _entry(0.05, -0.2, 0.19),  # on the bar: passes
        "0.8": _entry(0.051, 0.0, 0.0),  # 5.1% degenerate: fails
        "1": _entry(0.0, 0.21, 0.0),  # 21% off: fails
    }
    assert [passes(e) for e in grid.values()] == [True, True, False, False]
    r = recommend(grid)
    assert r["value"] == 0.5 and r["passes"] is True


def test_recommended_temperature_falls_back_to_the_best():
    grid = {"0": _entry(0.15, 0.8, 1.4), "0.5": _entry(0.40, 0.7, 3.5), "1": _entry(0.4, 1, 3)}
    r = recommend(grid)
    assert r["value"] == 0.0 and r["passes"] is False  # 0.15 + 1.4 is the lowest score


def test_trio_features_are_prefixed_by_stream():
    config = get_config("debug-flat-trio_16bar")
    tokens = np.zeros((2, 256, 3), np.int16)  # no events anywhere
    tokens[0, ::16, 0] = 2 + 60 - 21  # melody: C4 every bar
    tokens[0, ::4, 2] = 1  # drums: kick every beat
    feats, degenerate = window_features(config, tokens)
    assert feats["melody/note_count"].tolist() == [16, 0]
    assert feats["bass/note_count"].tolist() == [0, 0]
    assert feats["drums/hits_kick"].tolist() == [64, 0]
    assert degenerate.tolist() == [True, True]  # an empty bass makes a trio degenerate


def test_data_space_path():
    a = np.zeros((8, 1), np.int64)
    b = a.copy()
    b[:4, 0] = [5, 6, 7, 8]  # d(A, B) = 4
    alphas = np.linspace(0, 1, 5)
    path = data_space_path(a, b, alphas, np.random.default_rng(0))
    assert (path[0] == a).all() and (path[-1] == b).all()
    assert hamming(path, a[None]).tolist() == [0, 1, 2, 3, 4]
    assert hamming(path, b[None]).tolist() == [4, 3, 2, 1, 0]
    assert (path[:, 4:] == 0).all()  # equal steps never change


def test_data_space_path_switches_a_growing_share_of_differing_steps():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 90, (64, 1))
    b = a.copy()
    b[::3] = (a[::3] + 1) % 90  # 22 differing steps
    alphas = np.linspace(0, 1, 11)
    path = data_space_path(a, b, alphas, np.random.default_rng(1))  # (11, 64, 1)
    assert (path[0] == a).all() and (path[-1] == b).all()
    assert [int((p != a).sum()) for p in path] == [round(x * 22) for x in alphas]
    for earlier, later in zip(path[:-1], path[1:], strict=True):
        assert ((earlier != a) <= (later != a)).all()  # switched steps stay switched


def test_choose_pairs_skips_identical_windows():
    tokens = np.zeros((6, 4, 1), np.int64)
    tokens[3, 0, 0] = 1
    pairs = choose_pairs(tokens, 3, np.random.default_rng(0))
    assert len(pairs) == 1 and 3 in pairs[0]  # only the pair holding window 3 differs


def test_relative_change():
    assert relative_change(0.5, 0.75) == 0.5
    assert relative_change(-2.0, -1.0) == 0.5
    assert relative_change(0.0, 0.0) == 0.0
    assert relative_change(0.0, 0.1) == math.inf
