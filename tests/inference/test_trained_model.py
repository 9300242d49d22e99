"""TrainedModel: batch-size-free chunking, seeds, masking and argument checks on debug models.
(Parity with Magenta through this API: tests/convert/test_importer.py.)"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from musicvae.builders import build_model
from musicvae.configs import get_config
from musicvae.inference import TrainedModel, save_model_dir


def _trained(name: str, batch_size: int = 256) -> TrainedModel:
    torch.manual_seed(0)
    config = get_config(name)
    return TrainedModel(build_model(config), config, batch_size=batch_size)


def _one_hot(rng, shape, depths) -> np.ndarray:
    """(B, T) one-hot per stream, concatenated -> (B, T, sum(depths)) float32."""
    parts = [np.eye(d, dtype=np.float32)[rng.integers(0, d, shape)] for d in depths]
    return np.concatenate(parts, -1)


def test_chunking_gives_the_same_numbers():
    rng = np.random.default_rng(0)
    whole, chunked = _trained("debug-cat-mel_2bar"), _trained("debug-cat-mel_2bar", 3)
    inputs = _one_hot(rng, (7, 32), (90,))
    lengths = rng.integers(1, 33, 7)
    a, b = whole.encode_tensors(inputs, lengths, 5), chunked.encode_tensors(inputs, lengths, 5)
    for x, y in zip(a, b, strict=True):
        assert x.shape == (7, 8) and x.dtype == np.float32
        np.testing.assert_allclose(x, y, rtol=0, atol=1e-6)
    z, mu, sigma = a
    eps = torch.randn((7, 8), generator=torch.Generator().manual_seed(5)).numpy()
    np.testing.assert_allclose(z, mu + sigma * eps, atol=1e-6)  # z = mu + sigma * eps
    assert not np.allclose(z, whole.encode_tensors(inputs, lengths, 6)[0])
    logits = [m.teacher_forced_logits(inputs, lengths, mu) for m in (whole, chunked)]
    np.testing.assert_allclose(logits[0], logits[1], rtol=0, atol=1e-6)
    decoded = [m.decode_to_tensors(mu, 32) for m in (whole, chunked)]
    assert np.array_equal(decoded[0], decoded[1])


def test_logits_zero_past_lengths():
    model = _trained("debug-cat-drums_2bar")
    rng = np.random.default_rng(1)
    outputs = _one_hot(rng, (3, 32), (512,))
    lengths = np.array([32, 5, 1])
    logits = model.teacher_forced_logits(outputs, lengths, np.ones((3, 8), np.float32))
    assert logits.shape == (3, 32, 512)
    for i, n in enumerate(lengths):
        assert np.all(logits[i, n:] == 0) and np.all(np.abs(logits[i, :n]).sum(-1) > 0)


def test_decode_argmax_and_seeded_sampling():
    model = _trained("debug-hierdec-trio_16bar", batch_size=2)
    z = np.random.default_rng(2).normal(size=(3, 8)).astype(np.float32)
    greedy = model.decode_to_tensors(z)  # length defaults to max_seq_len
    assert greedy.shape == (3, 256, 692)
    assert np.all(greedy.sum(-1) == 3)  # one token per stream
    assert np.array_equal(greedy, model.decode_to_tensors(z, temperature=0))
    hot = [model.decode_to_tensors(z, temperature=1.5, seed=s) for s in (7, 7, 8)]
    assert np.array_equal(hot[0], hot[1]) and not np.array_equal(hot[0], hot[2])
    assert not np.array_equal(hot[0], greedy)


def test_argument_checks_and_empty_batches():
    model = _trained("debug-hierdec-mel_16bar")
    with pytest.raises(ValueError, match=r"inputs must be \(B, T, D\) with D = 90, got shape"):
        model.encode_tensors(np.zeros((2, 256, 10)))
    with pytest.raises(ValueError, match=r"lengths must be 2 values in 1..256"):
        model.encode_tensors(np.zeros((2, 256, 90)), [0, 256])
    with pytest.raises(ValueError, match="hierarchical: sequences must be 256 steps, got 32"):
        model.decode_to_tensors(np.zeros((1, 8)), 32)
    with pytest.raises(ValueError, match="z has 1 rows for 2 sequences"):
        model.teacher_forced_logits(np.zeros((2, 256, 90)), None, np.zeros((1, 8)))
    z, mu, sigma = model.encode_tensors(np.zeros((0, 256, 90)))
    assert z.shape == mu.shape == sigma.shape == (0, 8)
    assert model.decode_to_tensors(np.zeros((0, 8))).shape == (0, 256, 90)


def test_load_from_model_folder(tmp_path):
    model = _trained("debug-cat-mel_2bar")
    save_model_dir(model.model, model.config, tmp_path)
    loaded = TrainedModel.load(tmp_path, batch_size=4)
    assert (loaded.batch_size, loaded.device.type, loaded.model.training) == (4, "cpu", False)
    assert (loaded.z_size, loaded.input_depth, loaded.output_depth, loaded.max_seq_len) == (
        8,
        90,
        90,
        32,
    )
    z = np.ones((2, 8), np.float32)
    assert np.array_equal(loaded.decode_to_tensors(z), model.decode_to_tensors(z))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_cpu():
    cpu, same = _trained("debug-hierdec-trio_16bar"), _trained("debug-hierdec-trio_16bar")
    gpu = TrainedModel(same.model, same.config, device="cuda")
    rng = np.random.default_rng(3)
    inputs = _one_hot(rng, (5, 256), (90, 90, 512))
    lengths = np.array([256, 200, 17, 1, 256])
    on_cpu, on_gpu = cpu.encode_tensors(inputs, lengths, 1), gpu.encode_tensors(inputs, lengths, 1)
    for a, b in zip(on_cpu, on_gpu, strict=True):  # z (same seeded eps), mu, sigma
        np.testing.assert_allclose(a, b, atol=1e-4)
    mu = cpu.encode_tensors(inputs, lengths)[1]
    np.testing.assert_allclose(
        cpu.teacher_forced_logits(inputs, lengths, mu),
        gpu.teacher_forced_logits(inputs, lengths, mu),
        atol=1e-4,
    )
    assert gpu.decode_to_tensors(mu, temperature=1.0, seed=0).shape == (5, 256, 692)


def test_load_with_any_program_reads_a_violin_melody(tmp_path):
    from musicvae.inference.bundled import bundled_model_dir
    from musicvae.inference.inputs import NoExtractedExamplesError
    from musicvae.music.midi_io import write_midi
    from musicvae.music.notes import Note, NoteSequence, Tempo

    pitches = (67, 69, 71, 72, 74)
    notes = [  # two bars of 8th notes on a violin (program 40)
        Note(pitch=pitches[i % 5], start=i * 0.25, end=(i + 1) * 0.25, program=40)
        for i in range(16)
    ]
    write_midi(NoteSequence.from_notes(notes, tempos=(Tempo(0.0, 120.0),)), tmp_path / "v.mid")
    magenta_rule = TrainedModel.load(bundled_model_dir())
    with pytest.raises(NoExtractedExamplesError, match=r"programs 40 \(strings\).*any-program"):
        magenta_rule.encode(tmp_path / "v.mid")
    opened = TrainedModel.load(bundled_model_dir(), any_program=True)
    z, mu, sigma = opened.encode(tmp_path / "v.mid")
    assert mu.shape == (1, opened.z_size)
    (window,) = opened.window_sequences(tmp_path / "v.mid")
    assert window.pitch.tolist() == [pitches[i % 5] for i in range(16)]
