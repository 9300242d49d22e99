"""The fused LSTM and the bf16 paths against the exact fp32 ones (nn.LSTM, autograd).

Stated tolerances (docs/BENCHMARKS.md repeats them): fused fp32 = nn.LSTM within 1e-5 (values
and gradients); bf16 (8-bit mantissa products, fp32 state) within 2e-2 absolute on unit-scale
LSTM outputs, training losses within 0.1 % and gradients at cosine >= 0.999 of fp32 on debug
models; on the bundled trained model, teacher-forced logits within 3 % of their range with
>= 99.5 % identical argmax, and free-running argmax decodes >= 95 % identical tokens.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch
from torch import nn

from musicvae.builders import build_converter, build_model
from musicvae.configs import get_config
from musicvae.inference.bundled import bundled_model_dir, bundled_tunes
from musicvae.inference.trained_model import TrainedModel
from musicvae.models import cpu_features
from musicvae.models.decoders import CoreDecoder
from musicvae.models.encoder import BidirectionalLstmEncoder
from musicvae.models.fused_lstm import fused_lstm, matmul_dtype
from musicvae.models.native_decode import exact_decoding
from musicvae.models.vae import shift_right
from musicvae.train import loop

BF16 = dict(device_type="cpu", dtype=torch.bfloat16)


def _lstm_case(seed=0, batch=5, steps=7, size_in=6, hidden=4):
    torch.manual_seed(seed)
    lstm = nn.LSTM(size_in, hidden, batch_first=True)
    x = torch.randn(batch, steps, size_in, requires_grad=True)
    h0 = torch.randn(batch, hidden, requires_grad=True)
    c0 = torch.randn(batch, hidden, requires_grad=True)
    weights = torch.randn(batch, steps, hidden)  # a loss that weighs every output
    return lstm, x, h0, c0, weights


def _grads(lstm, x, h0, c0, weights, out, h, c):
    loss = (out * weights).sum() + 1.3 * h.sum() + 0.7 * c.sum()
    return torch.autograd.grad(
        loss, [x, h0, c0, lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0]
    )


@pytest.mark.parametrize("dtype, atol", [(torch.float32, 1e-5), (torch.bfloat16, 2e-2)])
def test_fused_lstm_matches_nn_lstm_values_and_gradients(dtype, atol):
    lstm, x, h0, c0, w = _lstm_case()
    out, (h, c) = lstm(x, (h0[None], c0[None]))
    expected = _grads(lstm, x, h0, c0, w, out, h[0], c[0])
    bias = lstm.bias_ih_l0 + lstm.bias_hh_l0
    out2, h2, c2 = fused_lstm(x, h0, c0, lstm.weight_ih_l0, lstm.weight_hh_l0, bias, dtype)
    got = _grads(lstm, x, h0, c0, w, out2, h2, c2)
    assert out2.dtype == h2.dtype == c2.dtype == torch.float32  # fp32 state in both modes
    torch.testing.assert_close(out2, out, atol=atol, rtol=0)
    torch.testing.assert_close(c2, c[0], atol=atol, rtol=0)
    for g, e in zip(got, expected, strict=True):
        assert g.dtype == torch.float32  # gradients of the fp32 master weights
        torch.testing.assert_close(g, e, atol=atol * max(1.0, float(e.abs().max())), rtol=0)


def test_fused_encoder_reverses_each_sequence_within_its_length():
    torch.manual_seed(0)
    enc = BidirectionalLstmEncoder(5, (6, 3))
    x = torch.randn(4, 9, 5)
    lengths = torch.tensor([9, 4, 1, 7])
    expected = enc(x, lengths)  # nn.LSTM on packed sequences
    got = enc._fused_forward(x, lengths, torch.float32)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def test_matmul_dtype_follows_cpu_autocast():
    cpu = torch.device("cpu")
    assert matmul_dtype(cpu) is None
    with torch.autocast(**BF16):
        assert matmul_dtype(cpu) == torch.bfloat16
    with torch.autocast(**BF16, enabled=False):
        assert matmul_dtype(cpu) is None


@pytest.mark.parametrize("name", ["debug-cat-mel_2bar", "debug-hierdec-trio_16bar"])
def test_bf16_training_step_agrees_with_fp32(name):
    config = get_config(name)
    torch.manual_seed(0)
    model = build_model(config)
    conv = build_converter(config.data)
    t = config.hparams.max_seq_len
    rng = np.random.default_rng(0)
    depths = conv.stream_depths
    out = np.concatenate(
        [np.eye(d, dtype=np.float32)[rng.integers(0, d, (6, t))] for d in depths], -1
    )
    inputs = outputs = torch.from_numpy(out)
    if conv.input_depth != sum(depths):
        inputs = torch.from_numpy(
            np.eye(conv.input_depth, dtype=np.float32)[rng.integers(0, conv.input_depth, (6, t))]
        )
    lengths = torch.full((6,), t)

    def loss_and_grad(bf16: bool):
        with torch.autocast(**BF16, enabled=bf16):
            schedule = loop.step_schedule(config.hparams, 3000, training=True)
            result = model(
                inputs, outputs, lengths, **schedule, generator=torch.Generator().manual_seed(1)
            )
        model.zero_grad()
        result["loss"].backward()
        grad = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
        return float(result["loss"].detach()), grad

    loss32, grad32 = loss_and_grad(False)
    loss16, grad16 = loss_and_grad(True)
    assert abs(loss16 - loss32) <= 1e-3 * abs(loss32)
    assert float(torch.nn.functional.cosine_similarity(grad16, grad32, 0)) >= 0.999


def test_scheduled_sampling_two_passes_equal_autograd_through_the_steps():
    torch.manual_seed(0)
    core = CoreDecoder((7,), 5, (8, 6))
    inputs = shift_right(torch.eye(7)[torch.randint(0, 7, (4, 10))])  # (B, T, D)
    e = torch.randn(4, 5)
    params = [p for p in core.parameters() if p.requires_grad]
    logits = core.scheduled(inputs, e, 0.5, torch.Generator().manual_seed(3))
    _, reference = core._scheduled_steps(inputs, e, 0.5, torch.Generator().manual_seed(3))
    torch.testing.assert_close(logits, reference, atol=1e-5, rtol=0)
    weights = torch.randn_like(logits)
    got = torch.autograd.grad((logits * weights).sum(), params)
    expected = torch.autograd.grad((reference * weights).sum(), params)
    for g, x in zip(got, expected, strict=True):
        torch.testing.assert_close(g, x, atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "batch, exact",
    [(2, False), (2, True), (300, True)],  # the C loop; torch.lstm_cell; sigmoid-form gates
)
def test_decode_steps_reproduce_the_teacher_forced_logits_of_their_samples(batch, exact):
    torch.manual_seed(0)
    core = CoreDecoder((7,), 5, (8, 16))
    e = torch.randn(batch, 5)
    with torch.no_grad(), exact_decoding() if exact else contextlib.nullcontext():
        samples, logits = core.sample(e, 12, None)
        expected = core.teacher_forced(shift_right(samples), e)  # nn.LSTM over the sequence
    torch.testing.assert_close(logits, expected, atol=1e-5, rtol=0)


def test_bf16_decoding_of_the_bundled_model_agrees_with_fp32():
    fp32 = TrainedModel.load(bundled_model_dir())
    bf16 = TrainedModel.load(bundled_model_dir(), precision="bf16")
    windows = fp32.windows(bundled_tunes()[0])
    _, mu, _ = fp32.encode_tensors(windows.inputs, windows.lengths)
    _, mu16, _ = bf16.encode_tensors(windows.inputs, windows.lengths)
    assert np.abs(mu16 - mu).max() <= 0.05
    tf32 = fp32.teacher_forced_logits(windows.outputs, windows.lengths, mu)
    tf16 = bf16.teacher_forced_logits(windows.outputs, windows.lengths, mu)
    assert np.abs(tf16 - tf32).max() <= 0.03 * np.abs(tf32).max()
    assert (tf16.argmax(-1) == tf32.argmax(-1)).mean() >= 0.995
    z = np.random.default_rng(0).standard_normal((64, fp32.z_size)).astype(np.float32)
    a, b = fp32.decode_to_tensors(z).argmax(-1), bf16.decode_to_tensors(z).argmax(-1)
    assert (a == b).mean() >= 0.95  # a flipped near-tie changes the rest of that melody


def test_precision_survives_bundled_loading_and_with_any_program():
    import musicvae

    model = TrainedModel.bundled(precision="bf16")
    assert model.precision == "bf16" and model.source == str(bundled_model_dir())
    other = model.with_any_program()
    assert other.precision == "bf16" and other.config != model.config
    assert musicvae.load(precision="bf16").precision == "bf16"
    assert TrainedModel.bundled().precision == "fp32"


def test_precision_is_checked():
    with pytest.raises(ValueError, match="precision must be one of fp32, bf16"):
        TrainedModel.load(bundled_model_dir(), precision="fp16")


def test_cpu_flags_are_parsed_from_cpuinfo_text():
    text = "processor\t: 0\nmodel name\t: X\nflags\t\t: fpu sse avx512f avx512_bf16 amx_tile\n\n"
    flags = cpu_features.parse_cpu_flags(text)
    assert {"avx512f", "avx512_bf16", "amx_tile"} <= flags
    assert cpu_features.bf16_units(flags) == ("avx512_bf16",)
    assert cpu_features.bf16_units(flags | {"amx_bf16"}) == ("amx_bf16", "avx512_bf16")
    assert cpu_features.parse_cpu_flags("model name: X\n") == frozenset()


def test_train_bf16_needs_native_bf16_units_not_only_onednn_emulation(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)
    monkeypatch.setattr(loop, "native_bf16", lambda: False)  # e.g. AVX-512 without BF16
    assert not loop.bf16_supported(cpu)
    monkeypatch.setattr(loop, "native_bf16", lambda: True)
    assert loop.bf16_supported(cpu)
