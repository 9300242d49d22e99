"""The bundled 2-bar folk model meets issue 10's bar, measured here rather than read from its
card: held-out teacher-forced accuracy >= 0.971 (on 400 held-out windows, computed from the
model's logits), and prior samples that are melodies, not noise (counted from the notes of fresh
samples: <= 5% degenerate, note count and pitch range within 20% of the held-out data's)."""

from __future__ import annotations

import numpy as np
import pytest

import musicvae
from musicvae.data.windows import load_windows
from musicvae.inference.model_dir import read_card
from tests.conftest import FIXTURES
from tests.inference.prior_bar import assert_meets_prior_bar

HELD_OUT = FIXTURES / "folk-mel2-heldout" / "windows.npz"


@pytest.fixture(scope="module")
def model():
    return musicvae.load("folk-mel_2bar")


def test_held_out_teacher_forced_accuracy_meets_the_bar(model):
    windows = load_windows(HELD_OUT)
    _, mu, _ = model.encode_tensors(windows.inputs, windows.lengths)
    logits = model.teacher_forced_logits(windows.outputs, windows.lengths, mu)  # (N, T, 90)
    valid = np.arange(logits.shape[1])[None, :] < windows.lengths[:, None]  # (N, T)
    right = logits.argmax(-1) == windows.outputs.argmax(-1)
    accuracy = right[valid].mean()
    assert accuracy >= 0.971, accuracy  # the first bundled model's, which the issue keeps


@pytest.mark.parametrize("temperature", [0.5, "card"])
def test_prior_samples_are_melodies_not_noise(model, temperature):
    card = read_card(model.source)
    if temperature == "card":
        temperature = card["evaluation"]["realism"]["recommended_temperature"]["value"]
    tunes = model.sample(300, temperature=temperature, seed=11)  # other codes than the card's
    assert_meets_prior_bar(tunes, card, bars=2)
