"""The bundled 16-bar hierarchical melody model (issue 11): found by name everywhere a model is
taken, loads, and its prior samples are 16-bar melodies that meet the card's bar, measured here
on fresh samples rather than read from the card."""

from __future__ import annotations

import pytest

import musicvae
from musicvae.cli import main
from musicvae.inference.bundled import (
    BUNDLED_16BAR,
    BUNDLED_MODELS,
    bundled_model_dir,
    bundled_names,
    model_location,
)
from musicvae.inference.model_dir import read_card
from musicvae.music.midi_io import read_midi
from tests.inference.prior_bar import assert_meets_prior_bar

STEPS_PER_BAR = 16


@pytest.fixture(scope="module")
def model():
    return musicvae.load(BUNDLED_16BAR)


def test_every_bundled_model_is_installed_and_named_in_the_cli_help():
    from musicvae.cli.common import BUNDLED_MODEL_NAMES

    assert BUNDLED_MODEL_NAMES == BUNDLED_MODELS
    assert bundled_names() == list(BUNDLED_MODELS)


def test_names_resolve_to_the_bundled_folders_unless_a_path_of_that_name_exists(
    tmp_path, monkeypatch
):
    assert model_location(None) == bundled_model_dir()
    assert model_location(BUNDLED_16BAR) == bundled_model_dir(BUNDLED_16BAR)
    monkeypatch.chdir(tmp_path)
    (tmp_path / BUNDLED_16BAR).mkdir()  # a user's own folder of the same name wins
    assert model_location(BUNDLED_16BAR) == tmp_path.joinpath(BUNDLED_16BAR).relative_to(tmp_path)
    unknown = "no bundled model 'folk-mel_4bar'; bundled: folk-mel_2bar"
    with pytest.raises(ValueError, match=unknown):
        bundled_model_dir("folk-mel_4bar")


def test_it_is_a_hierarchical_16_bar_melody_model(model):
    assert model.config.data.kind == "melody" and model.config.data.slice_bars == 16
    assert model.config.hparams.max_seq_len == 16 * STEPS_PER_BAR
    # a conductor over 16 bars, each bar decoded in 16 steps
    assert model.config.decoder == "hierarchical" and tuple(model.config.level_lengths) == (16, 16)
    assert model.source == str(bundled_model_dir(BUNDLED_16BAR))


def test_prior_samples_at_the_card_temperature_are_16_bar_melodies_not_noise(model):
    temperature = model.sampling_temperature("card")
    card = read_card(model.source)
    recommended = card["evaluation"]["realism"]["recommended_temperature"]["value"]
    assert (temperature or 0.0) == recommended
    tunes = model.sample(200, temperature=temperature, seed=11)  # other codes than the card's
    assert_meets_prior_bar(tunes, card, bars=16)  # 224 onsets in 16 bars


def test_sample_command_writes_16_bar_midi(tmp_path, capsys):
    out = tmp_path / "s"
    argv = ["sample", "--model", BUNDLED_16BAR, "--n", "3", "--seed", "0", "--no-audio"]
    assert main(argv + ["--output", str(out)]) == 0
    files = sorted(out.glob("*.mid"))
    assert len(files) == 3
    for path in files:
        seq = read_midi(path)
        bar_seconds = 4 * 60.0 / seq.tempos[0].qpm
        end = max(n.end for n in seq.notes())
        # 16 bars long: notes reach past bar 8 and none lasts past bar 16
        assert 8 * bar_seconds < end <= 16 * bar_seconds + 1e-6


def test_interpolate_command_between_16_bar_windows_of_the_bundled_tunes(tmp_path, capsys):
    from musicvae.inference.bundled import bundled_tunes

    a, b = (str(t) for t in bundled_tunes())
    argv = ["interpolate", a, b, "--model", BUNDLED_16BAR, "--steps", "3", "--no-audio"]
    # tune A holds many 16-bar windows: the one-line error says how to pick and list them
    assert main(argv + ["--output", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "windows of 16 bars" in err and f"--model {BUNDLED_16BAR}` writes them all" in err
    windows = ["--start-window", "0", "--end-window", "0"]
    assert main(argv + windows + ["--output", str(tmp_path / "i")]) == 0
    files = sorted((tmp_path / "i").glob("*.mid"))
    assert len(files) == 3
    seq = read_midi(files[1])
    assert max(n.end for n in seq.notes()) > 8 * 4 * 60.0 / seq.tempos[0].qpm  # past bar 8
