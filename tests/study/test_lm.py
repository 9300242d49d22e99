"""The independent melody language model: exact likelihoods, learning, resuming."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from musicvae.study import lm

SMALL = lm.LMConfig(embed=8, hidden=16)


def test_uniform_model_gives_t_log_90():
    model = lm.MelodyLM(SMALL)
    with torch.no_grad():
        model.out.weight.zero_()
        model.out.bias.zero_()
    classes = np.random.default_rng(0).integers(0, 90, (3, 20))
    ll = lm.log_likelihood(model, classes)
    assert ll == pytest.approx([-20 * math.log(90)] * 3)
    one_hot = np.eye(90, dtype=np.float32)[classes]  # the same windows as one-hot
    assert lm.log_likelihood(model, one_hot) == pytest.approx(ll)
    with pytest.raises(ValueError, match="0..89"):
        lm.log_likelihood(model, np.full((1, 4), 90))


def test_learns_a_pattern_and_resumes_exactly(tmp_path):
    # Training windows: a rising motif repeated; held-out test: the motif vs shuffled steps.
    motif = np.tile(np.array([2, 0, 6, 0, 9, 1, 0, 0]), 4)  # (32,)
    train = np.repeat(motif[None], 64, axis=0)
    shuffled = np.random.default_rng(0).permuted(np.repeat(motif[None], 4, axis=0), axis=1)
    model = lm.train_lm(train, tmp_path / "a", steps=60, batch=16, config=SMALL, learning_rate=0.01)
    assert lm.log_likelihood(model, motif[None])[0] > lm.log_likelihood(model, shuffled).max() + 20
    assert lm.trained_steps(tmp_path / "a") == 60
    # 30 steps, then 30 more from the checkpoint = 60 at once (batches seeded by step).
    lm.train_lm(
        train,
        tmp_path / "b",
        steps=30,
        batch=16,
        config=SMALL,
        learning_rate=0.01,
        checkpoint_every=7,
    )
    resumed = lm.train_lm(
        train,
        tmp_path / "b",
        steps=60,
        batch=16,
        config=SMALL,
        learning_rate=0.01,
        checkpoint_every=7,
    )
    for p, q in zip(model.parameters(), resumed.parameters(), strict=True):
        torch.testing.assert_close(p, q)
    loaded = lm.load_lm(tmp_path / "b")
    assert lm.log_likelihood(loaded, motif[None]) == pytest.approx(
        lm.log_likelihood(model, motif[None]), rel=1e-5
    )
    with pytest.raises(ValueError, match="other sizes"):
        lm.train_lm(train, tmp_path / "b", steps=70, config=lm.LMConfig(embed=4, hidden=8))
