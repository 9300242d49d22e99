"""Model modules: shapes for every config, the TF LSTM mapping, hierarchical batching, overfit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from musicvae.builders import build_model
from musicvae.configs import CONFIG_MAP, Config
from musicvae.data.converters import build_converter
from musicvae.models.lstm import LSTMStack
from musicvae.models.vae import shift_right
from musicvae.train.loop import step_schedule

SMALL = dict(enc_rnn_size=(16,), dec_rnn_size=(12, 12), z_size=6)


def random_batch(config: Config, b: int, seed: int = 0):
    """One-hot outputs (per stream) and matching inputs for a config."""
    rng = np.random.default_rng(seed)
    conv = build_converter(config.data)
    t = config.hparams.max_seq_len
    depths = conv.stream_depths
    outputs = np.concatenate(
        [np.eye(d, dtype=np.float32)[rng.integers(0, d, (b, t))] for d in depths], -1
    )
    if conv.input_depth == conv.output_depth:
        inputs = outputs
    else:  # drum roll input (10 dims)
        inputs = np.eye(conv.input_depth, dtype=np.float32)[rng.integers(0, 10, (b, t))]
    return (
        torch.from_numpy(inputs),
        torch.from_numpy(outputs),
        torch.full((b,), t, dtype=torch.long),
    )


@pytest.mark.parametrize("name", sorted(CONFIG_MAP))
def test_every_config_runs_forward_backward_and_sampling(name):
    config = Config.from_name(name, **SMALL)
    torch.manual_seed(0)
    model = build_model(config)
    inputs, outputs, lengths = random_batch(config, 2)
    out = model(inputs, outputs, lengths, **step_schedule(config.hparams, 100, training=True))
    for key in (
        "loss",
        "losses/r_loss",
        "losses/kl_loss",
        "losses/kl_bits",
        "losses/kl_beta",
        "metrics/accuracy",
    ):
        assert key in out and torch.isfinite(out[key])
    if len(model.depths) > 1:
        assert {f"metrics/accuracy/output_{i}" for i in range(3)} <= set(out)
    out["loss"].backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    mu, sigma = model.encode(inputs, lengths)
    assert mu.shape == sigma.shape == (2, 6) and (sigma > 0).all()
    logits = model.teacher_forced_logits(outputs, mu)
    assert logits.shape == outputs.shape
    samples, sample_logits = model.decoder.sample(mu, outputs.shape[1], temperature=0.5)
    assert samples.shape == outputs.shape == sample_logits.shape
    # Exactly one hot per stream and step.
    for part in samples.split(model.depths, -1):
        assert torch.all(part.sum(-1) == 1)


def tf_lstm_step(x, h, c, kernel, bias):
    """TF LSTMBlockCell by its equations (numpy): gates [i, j, f, o], forget bias 1."""
    z = np.concatenate([x, h], -1) @ kernel + bias
    i, j, f, o = np.split(z, 4, axis=-1)
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    c = sig(f + 1.0) * c + sig(i) * np.tanh(j)
    return sig(o) * np.tanh(c), c


def test_tf_kernel_mapping_reproduces_lstm_block_cell():
    rng = np.random.default_rng(1)
    n_in, h, t, b = 5, 4, 6, 3
    kernels = [rng.normal(0, 0.5, (n_in + h, 4 * h)), rng.normal(0, 0.5, (2 * h, 4 * h))]
    biases = [rng.normal(0, 0.5, 4 * h), rng.normal(0, 0.5, 4 * h)]
    stack = LSTMStack(n_in, (h, h))
    for layer, kernel, bias, size in zip(stack.layers, kernels, biases, (n_in, h), strict=False):
        tensors = LSTMStack.tf_kernel_to_torch(
            torch.tensor(kernel, dtype=torch.float32), torch.tensor(bias, dtype=torch.float32), size
        )
        layer.load_state_dict(tensors)
    x = rng.normal(size=(b, t, n_in))
    h0 = [rng.normal(size=(b, h)) for _ in range(2)]
    c0 = [rng.normal(size=(b, h)) for _ in range(2)]
    expected = []
    hs, cs = list(h0), list(c0)
    for step in range(t):
        inp = x[:, step]
        for k in range(2):
            hs[k], cs[k] = tf_lstm_step(inp, hs[k], cs[k], kernels[k], biases[k])
            inp = hs[k]
        expected.append(inp)
    f = lambda a: torch.tensor(np.asarray(a), dtype=torch.float32)  # noqa: E731
    out, state = stack(f(x), [(f(h0[k]), f(c0[k])) for k in range(2)])
    np.testing.assert_allclose(out.detach().numpy(), np.stack(expected, 1), atol=1e-5)
    np.testing.assert_allclose(state[1][1].detach().numpy(), cs[1], atol=1e-5)
    # And back: the export recovers the TF tensors.
    kernel_back, bias_back = LSTMStack.torch_to_tf_kernel(stack.layers[0])
    np.testing.assert_allclose(kernel_back.detach().numpy(), kernels[0], atol=1e-6)
    np.testing.assert_allclose(bias_back.detach().numpy(), biases[0], atol=1e-6)


def test_state_split_follows_tf_order_c_then_h_per_layer():
    stack = LSTMStack(3, (2, 4))
    flat = torch.arange(12.0).reshape(1, 12)
    (h0, c0), (h1, c1) = stack.state_from_flat(flat)
    assert c0.tolist() == [[0, 1]] and h0.tolist() == [[2, 3]]
    assert c1.tolist() == [[4, 5, 6, 7]] and h1.tolist() == [[8, 9, 10, 11]]


@pytest.mark.parametrize("name", ["debug-hierdec-mel_16bar", "debug-hierdec-trio_16bar"])
def test_batched_segments_equal_bar_by_bar_loop(name):
    config = Config.from_name(name)
    torch.manual_seed(0)
    model = build_model(config).eval()
    _, outputs, lengths = random_batch(config, 3)
    z = torch.randn(3, config.hparams.z_size)
    inputs = shift_right(outputs)
    batched = model.decoder.teacher_forced(inputs, z)
    looped = model.decoder.teacher_forced_by_bar(inputs, z)
    torch.testing.assert_close(batched, looped, atol=1e-5, rtol=1e-5)


def test_shift_right_feeds_previous_target():
    outputs = torch.arange(6.0).reshape(1, 3, 2)
    assert shift_right(outputs).tolist() == [[[0, 0], [0, 1], [2, 3]]]


def test_debug_model_overfits_one_batch():
    config = Config.from_name(
        "debug-cat-mel_2bar",
        sampling_rate=0.0,
        sampling_schedule="constant",
        enc_rnn_size=(64,),
        dec_rnn_size=(64,),
        z_size=16,
    )
    torch.manual_seed(0)
    model = build_model(config)
    inputs, outputs, lengths = random_batch(config, 4, seed=3)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3e-3)

    def accuracy_from_mu() -> float:
        with torch.no_grad():
            mu, _ = model.encode(inputs, lengths)
            logits = model.teacher_forced_logits(outputs, mu)
        return float((logits.argmax(-1) == outputs.argmax(-1)).float().mean())

    for step in range(600):
        out = model(inputs, outputs, lengths, **step_schedule(config.hparams, step, training=True))
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        if step % 25 == 24 and accuracy_from_mu() > 0.995:
            break
    assert accuracy_from_mu() > 0.99
