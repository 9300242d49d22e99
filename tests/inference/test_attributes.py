"""Melody attributes against hand-computed values (SPEC section 7's check case), attribute
vectors, and apply_attribute."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from musicvae.builders import build_model
from musicvae.configs import get_config
from musicvae.inference import TrainedModel
from musicvae.inference.attributes import (
    ATTRIBUTES,
    attribute_sweep,
    attribute_vectors,
    average_interval,
    c_diatonic,
    events_from_classes,
    load_vectors,
    measure,
    note_density,
    quartile_difference,
    save_vectors,
    syncopation_8th,
    syncopation_16th,
)

_, OFF = -2, -1
# SPEC section 7: "Mary had a little lamb" in 8ths, then a half bar of 16th syncopation and a
# half bar of 8th syncopation (a third-party implementation's unit test).
CHECK = [67, _, 65, _, 63, _, 65, _, 67, _, 67, _, 67, _, OFF, _]
CHECK += [_, 65, _, 65, _, 65, _, OFF, _, _, 67, _, OFF, _, 70, _]
CHECK_CLASSES = np.where(np.array(CHECK) >= 0, np.array(CHECK) - 21 + 2, np.array(CHECK) + 2)


def test_spec_check_case():
    assert len(CHECK) == 32
    assert note_density(CHECK) == pytest.approx(12 / 32)
    assert c_diatonic(CHECK) == pytest.approx(10 / 12)  # 63 and 70 are not in C major
    assert average_interval(CHECK) == pytest.approx(15 / 11)
    assert syncopation_16th(CHECK) == pytest.approx(3 / 12)  # steps 17, 19, 21
    assert syncopation_8th(CHECK) == pytest.approx(2 / 12)  # steps 26, 30


@pytest.mark.parametrize(
    "events",
    [[_] * 32, [OFF] * 32, [OFF, _, OFF, _], []],
    ids=["no-events", "note-offs", "short", "empty"],
)
def test_no_notes_measure_zero(events):
    for name, fn in ATTRIBUTES.items():
        assert fn(events) == 0.0, name


def test_small_hand_cases():
    one = [60, _, _, _]
    assert note_density(one) == 0.25 and average_interval(one) == 0.0
    assert c_diatonic([61, 60, OFF, 62]) == pytest.approx(2 / 3)
    assert average_interval([60, 67, OFF, 55]) == pytest.approx((7 + 12) / 2)
    # A note-off before an off-beat onset does not count as an onset.
    assert syncopation_16th([OFF, 60, _, _]) == 1.0
    assert syncopation_16th([59, 60, _, _]) == 0.0  # the previous step has an onset
    assert syncopation_8th([_, 60, 62, _]) == 0.0  # onset one step before step 2
    assert syncopation_8th([OFF, OFF, 62, _]) == 1.0
    assert syncopation_8th([60, _, _, _, _, _, 62, _]) == 0.5  # step 6; steps 4, 5 are quiet
    assert syncopation_16th([_, _, _, 62]) == 1.0 and syncopation_8th([_, _, _, 62]) == 0.0


def test_batches_equal_rows_and_class_forms():
    rng = np.random.default_rng(0)
    classes = rng.integers(0, 90, (6, 32))  # (N, T)
    events = events_from_classes(classes)
    assert events_from_classes(CHECK_CLASSES[None])[0].tolist() == CHECK
    one_hot = np.eye(90, dtype=bool)[classes]  # (N, T, 90)
    assert np.array_equal(events_from_classes(one_hot), events)
    assert np.array_equal(events_from_classes(classes[..., None].astype(np.int16)), events)
    batch = measure(events)
    for name, fn in ATTRIBUTES.items():
        assert batch[name].shape == (6,)
        np.testing.assert_allclose(batch[name], [fn(row) for row in events])


def test_quartile_difference_by_hand():
    values = np.array([5.0, 0, 7, 1, 6, 2, 4, 3])
    codes = np.stack([values, np.ones(8)], axis=1)  # code = (value, 1)
    vector, summary = quartile_difference(values, codes)
    np.testing.assert_allclose(vector, [6.5 - 0.5, 0.0])  # top {6, 7} minus bottom {0, 1}
    assert summary["quartile"] == 2 and summary["bottom_mean"] == 0.5 and summary["top_mean"] == 6.5
    with pytest.raises(ValueError, match="at least 4 windows"):
        quartile_difference(values[:3], codes[:3])


def _model(name="debug-cat-mel_2bar") -> TrainedModel:
    torch.manual_seed(0)
    config = get_config(name)
    return TrainedModel(build_model(config), config, batch_size=16)


def test_attribute_vectors_and_apply(tmp_path):
    model = _model()
    rng = np.random.default_rng(1)
    classes = rng.integers(0, 90, (40, 32))
    classes[:10] = 0  # some empty windows: density 0
    vectors, summaries = attribute_vectors(model, classes[..., None])
    assert set(vectors) == set(ATTRIBUTES) and all(v.shape == (8,) for v in vectors.values())
    mu = model.encode_tensors(np.eye(90, dtype=np.float32)[classes])[1]
    density = note_density(events_from_classes(classes))
    order = np.argsort(density, kind="stable")
    expected = mu[order[-10:]].mean(0) - mu[order[:10]].mean(0)
    np.testing.assert_allclose(vectors["note_density"], expected, atol=1e-6)
    assert summaries["note_density"]["bottom_mean"] == 0.0

    sub, _ = attribute_vectors(model, classes, ["c_diatonic"], max_windows=12, seed=3)
    assert list(sub) == ["c_diatonic"]

    path = save_vectors(tmp_path / "v.npz", vectors, {"config": model.config.name})
    loaded, info = load_vectors(path)
    assert info == {"config": model.config.name}
    assert all(np.array_equal(loaded[k], vectors[k]) for k in vectors)
    model.load_attribute_vectors(path)
    z = rng.normal(size=(3, 8)).astype(np.float32)
    np.testing.assert_allclose(
        model.apply_attribute(z, "note_density", 2.0), z + 2.0 * vectors["note_density"]
    )
    np.testing.assert_allclose(model.apply_attribute(z[0], np.ones(8), -1.0), z[0] - 1.0)
    sequences, measured = attribute_sweep(model, z[0], "note_density", [0.0, 1.0])
    assert len(sequences) == 2 and measured["note_density"].shape == (2,)


def test_attribute_errors(tmp_path):
    model = _model()
    with pytest.raises(ValueError, match="no attribute vector 'note_density'; available: none"):
        model.apply_attribute(np.zeros(8), "note_density", 1.0)
    with pytest.raises(ValueError, match=r"an attribute vector must be \(8,\)"):
        model.apply_attribute(np.zeros(8), np.zeros(3), 1.0)
    with pytest.raises(ValueError, match="unknown attribute"):
        attribute_vectors(model, np.zeros((8, 32), int), ["loudness"])
    with pytest.raises(ValueError, match="defined for melody models"):
        attribute_vectors(_model("debug-cat-drums_2bar"), np.zeros((8, 32), int))
    with pytest.raises(ValueError, match="no attribute vectors at"):
        load_vectors(tmp_path / "missing.npz")
    save_vectors(tmp_path / "wide.npz", {"note_density": np.zeros(16)}, {"config": "other"})
    with pytest.raises(ValueError, match="codes have 8 dims .*made for other"):
        model.load_attribute_vectors(tmp_path / "wide.npz")
