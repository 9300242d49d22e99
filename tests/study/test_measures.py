"""The study's own measures, and its adapters of musicvae.evaluation, against hand-computed
values."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from musicvae.builders import build_model
from musicvae.configs import get_config
from musicvae.evaluation.interpolation import data_space_path
from musicvae.inference.model_dir import model_from_state
from musicvae.inference.trained_model import TrainedModel
from musicvae.study import measures
from musicvae.study.evaluate import attribute_matrix, reconstruction_accuracy

R = -2  # no event
OFF = -1

# 32 steps, 2 bars of 16 (hand-written): C4 quarter, D4 quarter, rest, E4 8th x2 (repeat),
# then bar 2 = bar 1 exactly.
BAR = [60, R, R, R, 62, R, R, OFF, R, R, R, R, 64, R, 64, R]
MELODY = np.array([BAR + BAR])


def test_hand_computed_features():
    f = measures.realism_features(MELODY)
    assert f["note_density"][0] == pytest.approx(8 / 32)
    assert f["pitch_range"][0] == 4
    assert f["mean_pitch"][0] == pytest.approx((60 + 62 + 64 + 64) * 2 / 8)
    # intervals between consecutive onsets: 2, 2, 0, 4, 2, 2, 0 (bar 2 starts after 64 -> 60)
    assert f["leap_share"][0] == 0.0
    assert f["repeated_pitch_share"][0] == pytest.approx(2 / 7)
    assert f["average_interval"][0] == pytest.approx(12 / 7)
    assert f["scale_fit"][0] == 1.0  # C, D, E: in C major
    # sounding: 60 steps 0-3, 62 steps 4-6, silent 7-11, 64 steps 12-15: 5 silent of 16
    assert f["rest_share"][0] == pytest.approx(5 / 16)
    assert f["mean_note_length"][0] == pytest.approx(22 / 8)
    assert f["beat_onset_share"][0] == pytest.approx(6 / 8)  # steps 0, 4, 12 of each bar
    assert f["bar_repetition"][0] == 1.0  # bar 2 repeats bar 1
    assert f["rhythm_repetition"][0] == 1.0
    assert f["half_agreement"][0] == 1.0
    entropy = -(2 * (1 / 4) * np.log2(1 / 4) + (1 / 2) * np.log2(1 / 2))  # C, D 1/4; E 1/2
    assert f["pitch_class_entropy"][0] == pytest.approx(entropy)


def test_structure_features_see_a_changed_bar():
    other = np.array([BAR + [67] + BAR[1:]])  # bar 2 starts on G: notes differ, rhythm same
    f = measures.realism_features(other)
    assert f["bar_repetition"][0] == 0.0 and f["rhythm_repetition"][0] == 1.0
    assert f["half_agreement"][0] == pytest.approx(15 / 16)
    # intervals 2, 2, 0, 3, 5, 2, 0: none above a fifth; an octave is a leap
    assert f["leap_share"][0] == 0.0
    assert measures.leap_share(np.array([[60, R, 72, R]]))[0] == 1.0


def test_relative_differences():
    real = {"a": np.array([1.0, 3.0]), "b": np.array([0.0, 0.0])}
    gen = {"a": np.array([3.0, 3.0]), "b": np.array([1.0, 1.0])}
    diff = measures.relative_differences(gen, real)
    assert diff["a"] == pytest.approx(0.5) and np.isnan(diff["b"])


def test_path_curves_of_a_data_space_path():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 90, 64)
    b = a.copy()
    b[::3] = (a[::3] + 1) % 90  # 22 differing steps
    alphas = np.linspace(0, 1, 11)
    path = data_space_path(a[:, None], b[:, None], alphas, np.random.default_rng(1))[..., 0]
    d = 22
    curves = measures.path_curves(path[None], a[None], b[None], lambda c: -c.sum(-1) * 1.0)
    assert curves["hamming_to_a"] == pytest.approx([round(x * d) / d for x in alphas])
    assert curves["lm_nats_per_step"] == pytest.approx([-p.sum() / 64 for p in path])


def test_path_curves_pool_pairs_as_a_ratio_of_sums():
    # Pair 1: A, B differ in 1 step of 4; pair 2 in all 4. The middle point of each path
    # is 2 steps from its A: pooled 4 / 5 = 0.8 (a mean of ratios would give (2 + 0.5) / 2).
    a = np.zeros((2, 4), np.int64)
    b = np.array([[1, 0, 0, 0], [1, 1, 1, 1]])
    mid = np.array([[1, 1, 0, 0], [1, 1, 0, 0]])
    paths = np.stack([a, mid, b], axis=1)  # (2, 3, 4)
    curves = measures.path_curves(paths, a, b)
    assert curves["hamming_to_a"] == pytest.approx([0.0, 0.8, 1.0])


def constant_model(cls: int) -> TrainedModel:
    """A real debug model whose output layer always prefers `cls` (weights zero, bias high)."""
    config = get_config("debug-study-flat-mel_16bar")
    torch.manual_seed(0)
    state = build_model(config).state_dict()
    state["decoder.core.projection.weight"].zero_()
    state["decoder.core.projection.bias"].fill_(-10.0)
    state["decoder.core.projection.bias"][cls] = 10.0
    return TrainedModel(model_from_state(state, config, "test"), config)


def test_reconstruction_accuracy_of_a_constant_decoder():
    model = constant_model(0)
    rng = np.random.default_rng(0)
    classes = rng.integers(0, 90, (5, 256))
    classes[:, :100] = 0  # 500 of the 1280 steps are class 0, plus the random ones
    expected = float((classes == 0).mean())
    acc = reconstruction_accuracy(model, classes, chunk=2)
    assert acc["teacher_forced"] == pytest.approx(expected)
    assert acc["argmax"] == pytest.approx(expected)
    # At temperature 1.0 the softmax gives class 0 probability 1 - 89 e^-20: still always 0.
    assert acc["sampled"] == pytest.approx(expected) and acc["windows"] == 5
    assert acc["drop"] == pytest.approx(0.0)


def test_latent_paths_of_a_constant_decoder():
    model = constant_model(2)  # always note-on 21
    a = np.zeros((2, 256), np.int64)
    b = np.ones((2, 256), np.int64)
    paths = measures.latent_paths(model, a, b, 5)
    assert paths.shape == (2, 5, 256) and (paths == 2).all()
    curves = measures.path_curves(paths, a, b)
    assert curves["hamming_to_a"] == pytest.approx([1.0] * 5)  # every step differs from A


def test_attribute_matrix_of_a_decoder_that_ignores_z():
    """Always note-on 21 (pitch class A, in C major): every vector changes nothing; attributes
    that measure 0 on the unchanged decodings have no % change (nan)."""
    model = constant_model(2)
    rng = np.random.default_rng(0)
    train, held = rng.integers(0, 90, (8, 256)), rng.integers(0, 90, (3, 256))
    result = attribute_matrix(model, train, held)
    names = result["names"]
    base = dict(zip(names, result["base"], strict=True))
    assert base["c_diatonic"] == 1.0 and base["note_density"] == 1.0
    assert base["average_interval"] == base["syncopation_16th"] == base["syncopation_8th"] == 0
    matrix = np.array(result["matrix"])
    measured = [names.index("c_diatonic"), names.index("note_density")]
    assert (matrix[:, measured] == 0).all()
    assert np.isnan(np.delete(matrix, measured, axis=1)).all()
    assert result["windows"] == 3
