"""Table 1 on Magenta's golden checkpoints equals what Magenta's own outputs imply.

Golden: ../shared/magenta-golden/checkpoints/<name>/golden.npz (Magenta 2.1.4 on real windows):
teacher-forced accuracy = argmax of Magenta's `tf_logits` vs `outputs`, pooled over valid steps
(mean over streams for trio, as Magenta's metrics/accuracy); r_loss = mean of `tf_r_loss`;
kl = mean of `kl`. Skipped where ../shared is absent.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from musicvae.checkpoints.magenta import load_magenta_checkpoint
from musicvae.configs import Config, HParams
from musicvae.evaluation.reconstruction import (
    correct_counts,
    reconstruction,
    split_streams,
    valid_mask,
)
from musicvae.evaluation.windows import windows_from_outputs
from musicvae.inference.trained_model import TrainedModel
from tests.conftest import shared_path

NAMES = ["mel2_small", "drums2_small", "hierdec_mel16_tiny", "hierdec_trio16_tiny"]
TOL = 1e-4


def _golden(name: str):
    shared_path("magenta-golden", "checkpoints", name)  # skip (not cached) when absent
    return _load(name)


@functools.cache
def _load(name: str):
    folder = shared_path("magenta-golden", "checkpoints", name)
    name = (folder / "config.txt").read_text().strip()
    hparams = (folder / "hparams.txt").read_text().strip()
    config = Config.from_name(name, **HParams.parse(hparams))
    model = load_magenta_checkpoint(folder / "model.ckpt", config)
    golden = dict(np.load(folder / "golden.npz"))
    return TrainedModel(model, config, batch_size=16), golden


def _magenta_accuracy(golden: dict, depths) -> float:
    """Pooled argmax accuracy of Magenta's teacher-forced logits, mean over streams."""
    mask = valid_mask(golden["lengths"], golden["outputs"].shape[1])
    per_stream = [
        ((lg.argmax(-1) == tg.argmax(-1)) & mask).sum() / mask.sum()
        for lg, tg in zip(
            split_streams(golden["tf_logits"], depths),
            split_streams(golden["outputs"], depths),
            strict=True,
        )
    ]
    return float(np.mean(per_stream))


@pytest.mark.parametrize("name", NAMES)
def test_table1_equals_magenta(name):
    model, g = _golden(name)
    windows = windows_from_outputs(model.config, g["outputs"], g["lengths"], name)
    inputs, outputs, _ = windows.batch(model.config)
    np.testing.assert_array_equal(inputs, g["inputs"])  # drum rolls rebuilt from the tokens
    np.testing.assert_array_equal(outputs, g["outputs"])
    rec, mu = reconstruction(model, windows, seed=0, chunk=10)  # several chunks
    np.testing.assert_allclose(mu, g["mu"], atol=1e-4)
    expected = {
        "teacher_forced_accuracy": _magenta_accuracy(g, model.model.depths),
        "r_loss": float(g["tf_r_loss"].mean()),
        "kl": float(g["kl"].mean()),
    }
    print(name, {k: (rec[k], v) for k, v in expected.items()})
    assert rec["teacher_forced_accuracy"] == pytest.approx(
        expected["teacher_forced_accuracy"], abs=TOL
    )
    assert rec["r_loss"] == pytest.approx(expected["r_loss"], rel=TOL)
    assert rec["kl"] == pytest.approx(expected["kl"], rel=TOL)
    assert rec["elbo"] == pytest.approx(-(expected["r_loss"] + expected["kl"]), rel=TOL)
    assert rec["windows"] == len(g["outputs"])
    assert 0.0 <= rec["sampled_accuracy"] <= 1.0 and 0.0 <= rec["argmax_accuracy"] <= 1.0


@pytest.mark.parametrize("name", NAMES)
def test_teacher_forced_predictions_are_magentas_step_for_step(name):
    """Random golden weights score 0 on both sides; the predictions behind the accuracy are
    Magenta's at every valid step, so the two accuracies agree for any targets."""
    model, g = _golden(name)
    logits = model.teacher_forced_logits(g["outputs"], g["lengths"], g["mu"])
    mask = valid_mask(g["lengths"], logits.shape[1])
    depths = model.model.depths
    for ours, theirs in zip(
        split_streams(logits, depths), split_streams(g["tf_logits"], depths), strict=True
    ):
        same, valid = correct_counts(ours.argmax(-1), theirs.argmax(-1), mask)
        assert same == valid
