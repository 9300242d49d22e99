"""The listening-test proxy: a classifier that is right when classes differ and at chance
when they do not."""

from __future__ import annotations

import numpy as np
import pytest

from musicvae.study import realism_classifier as rc
from musicvae.study.measures import FEATURES


def test_logistic_fit_is_optimal_and_separates():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 3))
    y = (x[:, 0] + 0.5 * x[:, 1] + 0.3 * rng.standard_normal(400) > 0).astype(float)
    model = rc.fit_logistic(x, y, l2=1e-2)
    # The penalised log-loss gradient vanishes at the fitted weights.
    z = np.concatenate([(x - model.mean) / model.scale, np.ones((400, 1))], axis=1)
    p = 1 / (1 + np.exp(-(z @ model.weights)))
    penalty = np.array([1e-2, 1e-2, 1e-2, 0.0])
    assert np.abs(z.T @ (p - y) / 400 + penalty * model.weights).max() < 1e-8
    assert (model.predict(x) == y).mean() > 0.9
    assert model.weights[0] > model.weights[1] > abs(model.weights[2])


def test_cross_validated_accuracy_chance_and_separable():
    rng = np.random.default_rng(1)
    same_a, same_b = rng.standard_normal((300, 5)), rng.standard_normal((300, 5))
    chance = rc.cross_validated_accuracy(same_a, same_b, seed=0)
    assert 0.4 < chance["accuracy"] < 0.6 and chance["per_side"] == 300
    shifted = rng.standard_normal((500, 5)) + np.array([4.0, 0, 0, 0, 0])
    # Bayes rate of a 4-sigma shift: Phi(2) = 0.977.
    assert rc.cross_validated_accuracy(same_a, shifted, seed=0)["accuracy"] > 0.95
    with pytest.raises(ValueError, match="at least 5"):
        rc.cross_validated_accuracy(same_a[:3], same_b, folds=5)


def test_melodies_vs_noise():
    rng = np.random.default_rng(2)
    # "Real": quarter notes on a C major scale walk; "generated": random pitches every step.
    steps = np.arange(64)
    walk = 60 + np.array([0, 2, 4, 5, 7, 9, 11, 12])[rng.integers(0, 8, (60, 16))]
    real = np.full((60, 64), -2)
    real[:, steps % 4 == 0] = walk
    noise = rng.integers(40, 90, (60, 64))
    features, names = rc.feature_matrix(real)
    assert features.shape == (60, len(FEATURES)) and names == list(FEATURES)
    assert rc.realism_accuracy(real, noise)["accuracy"] == 1.0
    assert rc.realism_accuracy(real[:30], real[30:])["accuracy"] < 0.8
