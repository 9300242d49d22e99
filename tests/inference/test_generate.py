"""The generation commands as library functions (musicvae.inference.generate): typed
parameters in, result dataclasses out, nothing printed; a loaded TrainedModel is accepted."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from musicvae.builders import build_model
from musicvae.configs import get_config
from musicvae.inference import TrainedModel, generate
from musicvae.music.midi_io import read_midi
from tests.conftest import FIXTURES

FOLK = sorted((FIXTURES / "golden" / "corpus" / "folk" / "airds").glob("*.mid"))


@pytest.fixture(scope="module")
def model() -> TrainedModel:
    torch.manual_seed(0)
    config = get_config("debug-cat-mel_2bar")
    return TrainedModel(build_model(config), config, batch_size=4)


def test_sample_returns_written_files_and_prints_nothing(model, tmp_path, capsys):
    result = generate.sample(model=model, output=tmp_path / "s", n=3, seed=7, audio=False)
    assert capsys.readouterr().out == ""
    assert (result.model, result.seed, result.seed_drawn) == ("debug-cat-mel_2bar", 7, False)
    assert [sorted(f) for f in result.files] == [["midi", "png"]] * 3
    assert [f["midi"].name for f in result.files] == [f"sample_{i:03d}.mid" for i in range(3)]
    assert all(len(read_midi(f["midi"])) for f in result.files)
    again = generate.sample(model=model, output=tmp_path / "t", n=3, seed=7, audio=False)
    assert [f["midi"].read_bytes() for f in again.files] == [
        f["midi"].read_bytes() for f in result.files
    ]
    drawn = generate.sample(model=model, output=tmp_path / "u", n=1, audio=False)
    assert drawn.seed_drawn and 0 <= drawn.seed < 2**31


def test_encode_returns_the_codes_it_wrote(model, tmp_path):
    result = generate.encode(model=model, inputs=[FOLK[1]], output=tmp_path, window=3, seed=1)
    assert result.z.shape == result.mu.shape == (1, model.z_size)
    assert np.array_equal(np.load(tmp_path / "mu.npy"), result.mu)
    info = json.loads((tmp_path / "codes.json").read_text())
    assert info["codes"][0]["window"] == 3 and info["config"] == "debug-cat-mel_2bar"
    # the code of window 3 is the encoder's mean of that window, computed independently
    _, mu, _ = model.encode(model.windows(FOLK[1]).inputs[3:4].astype(np.float32))
    np.testing.assert_allclose(result.mu, mu, rtol=1e-5, atol=1e-6)


def test_reconstruct_counts_windows_per_input(model, tmp_path):
    result = generate.reconstruct(model=model, inputs=[FOLK[1]], output=tmp_path, audio=False)
    count = len(model.windows(FOLK[1]))
    assert result.windows == [(str(FOLK[1]), count)]
    assert len(result.files) == 2 * count  # an input and a reconstruction per window


def test_errors_are_one_line_value_errors(model, tmp_path):
    # A batch command reports an input's error and goes on (issue 8, item 1).
    result = generate.encode(model=model, inputs=[FOLK[0]], output=tmp_path / "codes")
    assert len(result.z) == 0 and len(result.failed) == 1
    assert "windows of 2 bars" in result.failed[0][1]
    assert "choose one with --window K" in result.failed[0][1]
    with pytest.raises(ValueError, match="unknown attribute"):
        generate.apply_attribute(model=model, input=FOLK[0], attribute="loudness", output=tmp_path)


def _card_temperature(value) -> dict:
    """The part of an evaluated card that names its recommended temperature."""
    return {"evaluation": {"realism": {"recommended_temperature": {"value": value}}}}


def test_sample_defaults_to_the_cards_recommended_temperature(model, tmp_path):
    from musicvae.inference.model_dir import save_model_dir

    argmax_dir = save_model_dir(model.model, model.config, tmp_path / "m0", _card_temperature(0.0))
    plain_dir = save_model_dir(model.model, model.config, tmp_path / "m1")
    card = generate.sample(model=argmax_dir, output=tmp_path / "a", n=4, seed=3, audio=False)
    assert card.temperature is None  # the card says 0 = argmax
    loaded = TrainedModel.load(argmax_dir)
    argmax = [read_midi(f["midi"]) for f in card.files]
    expected = loaded.sample(4, temperature=None, seed=3)
    assert [list(s.pitch) for s in argmax] == [list(s.pitch) for s in expected]
    plain = generate.sample(model=plain_dir, output=tmp_path / "b", n=2, seed=3, audio=False)
    assert plain.temperature == 0.5  # no evaluated card: Magenta's usual 0.5
    chosen = generate.sample(
        model=argmax_dir, output=tmp_path / "c", n=2, seed=3, audio=False, temperature=1.0
    )
    assert chosen.temperature == 1.0  # an explicit temperature wins over the card
