"""TrainedModel's sequence API (encode, decode, sample, interpolate, similar, reconstruct) on a
randomly initialised debug model and one-window MIDI cut from the folk fixtures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from musicvae.builders import build_model
from musicvae.configs import get_config
from musicvae.inference import (
    MultipleExtractedExamplesError,
    NoExtractedExamplesError,
    TrainedModel,
    save_model_dir,
)
from musicvae.music.midi_io import write_midi
from musicvae.music.notes import Note, NoteSequence, Tempo
from tests.conftest import FIXTURES

FOLK = sorted((FIXTURES / "golden" / "corpus" / "folk" / "airds").glob("*.mid"))


def debug_model(name: str = "debug-cat-mel_2bar", batch_size: int = 3) -> TrainedModel:
    """Randomly initialised (seeded); batch_size 3 so that requests run in several chunks."""
    torch.manual_seed(0)
    config = get_config(name)
    return TrainedModel(build_model(config), config, batch_size=batch_size)


@pytest.fixture(scope="module")
def model() -> TrainedModel:
    return debug_model()


def one_window_files(model: TrainedModel, folder: Path, count: int = 2) -> list[Path]:
    """2-bar excerpts of a folk tune (windows 0, 5, ...), each a MIDI file with one window."""
    paths = []
    for k, seq in enumerate(model.window_sequences(FOLK[1])[: 5 * count : 5]):
        path = folder / f"excerpt{k}.mid"
        write_midi(seq, path)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def excerpts(model, tmp_path_factory) -> list[Path]:
    return one_window_files(model, tmp_path_factory.mktemp("excerpts"))


def notes(seq: NoteSequence) -> list[tuple]:
    return list(zip(seq.pitch.tolist(), seq.start.tolist(), seq.end.tolist(), strict=True))


def test_encode_paths_sequences_and_tensors(model, excerpts):
    z, mu, sigma = model.encode(excerpts, seed=1)
    assert z.shape == mu.shape == sigma.shape == (2, 8) and z.dtype == np.float32
    window = model.windows(excerpts[0]).inputs.astype(np.float32)  # (1, 32, 90)
    assert window.shape == (1, 32, 90)
    seq = model.window_sequences(excerpts[0])[0]
    for same in (excerpts[0], str(excerpts[0]), seq, window, window[0], torch.from_numpy(window)):
        np.testing.assert_allclose(model.encode(same)[1][0], mu[0], atol=1e-6)
    again = model.encode(excerpts, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(again, (z, mu, sigma), strict=True))
    assert not np.array_equal(model.encode(excerpts, seed=2)[0], z)


def test_encode_errors_name_the_input(model, tmp_path):
    with pytest.raises(MultipleExtractedExamplesError, match=rf"{FOLK[0].name}: 46 windows .*"):
        model.encode([FOLK[0]])
    short = NoteSequence.from_notes([Note(60, 0.0, 0.5)], tempos=(Tempo(0.0, 120.0),))
    write_midi(short, tmp_path / "short.mid")
    with pytest.raises(
        NoExtractedExamplesError,
        match=r"short.mid: no window: no monophonic melody spanning 2 bars of 4/4",
    ):
        model.encode(tmp_path / "short.mid")
    drums = NoteSequence.from_notes(
        [Note(36, i * 0.25, i * 0.25 + 0.1, is_drum=True) for i in range(32)],
        tempos=(Tempo(0.0, 120.0),),
    )
    write_midi(drums, tmp_path / "drums.mid")
    with pytest.raises(NoExtractedExamplesError, match=r"drums.mid: .*only drum notes"):
        model.encode(tmp_path / "drums.mid")
    with pytest.raises(ValueError, match="missing.mid: no such file"):
        model.encode(tmp_path / "missing.mid")
    (tmp_path / "bad.mid").write_bytes(b"not midi")
    with pytest.raises(ValueError, match="bad.mid: "):
        model.encode(tmp_path / "bad.mid")


def test_decode_argmax_temperature_and_seed(model):
    z = np.random.default_rng(0).normal(size=(5, 8)).astype(np.float32)
    greedy = model.decode(z, temperature=None)
    assert len(greedy) == 5 and all(isinstance(s, NoteSequence) for s in greedy)
    for cold in (0, 0.0, 1e-6):  # temperature -> 0 is argmax
        assert [notes(s) for s in model.decode(z, temperature=cold)] == [notes(s) for s in greedy]
    hot = [model.decode(z, temperature=2.0, seed=s) for s in (4, 4, 5)]
    assert [notes(s) for s in hot[0]] == [notes(s) for s in hot[1]]
    assert [notes(s) for s in hot[0]] != [notes(s) for s in hot[2]]
    assert len(model.decode(z[0], length=64, temperature=None)) == 1  # flat: any length
    with pytest.raises(ValueError, match="temperature must be None, 0 .* or positive"):
        model.decode(z, temperature=-1)
    with pytest.raises(ValueError, match="length must be in 1..4096"):
        model.decode(z, length=0)


def test_sample_shapes_seed_and_bounds(model):
    a, b = model.sample(7, temperature=1.0, seed=3), model.sample(7, temperature=1.0, seed=3)
    assert len(a) == 7 and [notes(s) for s in a] == [notes(s) for s in b]
    assert [notes(s) for s in model.sample(7, temperature=1.0, seed=4)] != [notes(s) for s in a]
    same = model.sample(4, temperature=None, same_z=True, seed=0)
    assert all(notes(s) == notes(same[0]) for s in same)
    assert all(s.total_time <= 4.0 for s in a)  # 32 16ths at 120 qpm
    for n in (0, -1, 10001, 2.5, True):
        with pytest.raises(ValueError, match=r"n must be (in|an integer in) 1..10000"):
            model.sample(n)


def test_hierarchical_length_is_the_window():
    hier = debug_model("debug-hierdec-mel_16bar")
    assert len(hier.sample(2, seed=0)) == 2
    with pytest.raises(ValueError, match="hierarchical: sequences must be 256 steps, got 32"):
        hier.sample(1, length=32)


def test_drum_model_samples_drums():
    drums = debug_model("debug-cat-drums_2bar")
    out = drums.sample(2, temperature=1.0, seed=0)
    assert len(out) == 2 and all(s.is_drum.all() for s in out if len(s))


def test_interpolation_endpoints_are_the_reconstructions(model, excerpts):
    recon = [r[0] for r in model.reconstruct(excerpts)]
    for method in ("slerp", "lerp"):
        path = model.interpolate(excerpts[0], excerpts[1], 6, method=method)
        assert len(path) == 6
        assert notes(path[0]) == notes(recon[0]) and notes(path[-1]) == notes(recon[1])
    _, mu, _ = model.encode(excerpts)
    assert notes(recon[0]) == notes(model.decode(mu[:1], temperature=None)[0])
    hot = [model.interpolate(*excerpts, 4, temperature=1.0, seed=9) for _ in range(2)]
    assert [notes(s) for s in hot[0]] == [notes(s) for s in hot[1]]
    with pytest.raises(ValueError, match=r"num_steps must be in 2..10000, got 1"):
        model.interpolate(*excerpts, 1)
    with pytest.raises(ValueError, match=r"num_steps must be in 2..10000, got 1000000"):
        model.interpolate(*excerpts, 10**6)
    with pytest.raises(ValueError, match="method must be 'slerp' or 'lerp'"):
        model.interpolate(*excerpts, 3, method="cubic")
    with pytest.raises(MultipleExtractedExamplesError, match="use reconstruct"):
        model.interpolate(FOLK[0], excerpts[1], 3)


def test_similar(model, excerpts):
    recon = model.reconstruct(excerpts[0])[0][0]
    assert all(notes(s) == notes(recon) for s in model.similar(excerpts[0], 3, 1.0, seed=0))
    a = model.similar(excerpts[0], 4, 0.5, seed=1)
    assert [notes(s) for s in a] == [notes(s) for s in model.similar(excerpts[0], 4, 0.5, seed=1)]
    with pytest.raises(ValueError, match="similarity must be in 0..1"):
        model.similar(excerpts[0], 2, 1.5)
    with pytest.raises(ValueError, match="n must be in 1..10000"):
        model.similar(excerpts[0], 0, 0.5)


def test_reconstruct_every_window(model, excerpts):
    out = model.reconstruct([FOLK[0], excerpts[0], FOLK[1]])
    assert [len(x) for x in out] == [46, 1, 19]
    windows = model.windows(FOLK[1])
    _, mu, _ = model.encode(windows.inputs.astype(np.float32))
    assert [notes(s) for s in out[2]] == [notes(s) for s in model.decode(mu, temperature=None)]
    with pytest.raises(NoExtractedExamplesError):
        model.reconstruct([FOLK[0], NoteSequence.empty()])


def test_loaded_model_folder_generates_the_same(model, excerpts, tmp_path):
    # n = 3 = model.batch_size: both decode in one chunk, so seeded sampling matches too.
    save_model_dir(model.model, model.config, tmp_path / "m")
    loaded = TrainedModel.load(tmp_path / "m")
    assert [notes(s) for s in loaded.sample(3, seed=2)] == [
        notes(s) for s in model.sample(3, seed=2)
    ]
    np.testing.assert_allclose(loaded.encode(excerpts)[1], model.encode(excerpts)[1], atol=1e-6)
