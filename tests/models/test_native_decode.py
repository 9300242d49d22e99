"""The C decode loop (models/native_decode.py, native/decode.c) against the torch loop it
replaces for small fp32 batches, hand-computed inverse-CDF draws, and the fallbacks.

Magenta's own decodes (tests/checkpoints/test_golden_models.py) run on both paths too.
"""

from __future__ import annotations

import math

import pytest
import torch

from musicvae.builders import build_model
from musicvae.configs import get_config
from musicvae.models import native_decode
from musicvae.models.decoders import sample_by_uniform

needs_native = pytest.mark.skipif(
    native_decode.library() is None,
    reason="the native decode loop could not be built here (no C compiler?)",
)


def test_sample_by_uniform_hand_computed():
    # probabilities 0.25 / 0.75 at T = 1; at T = 0.5 they become 1/10 / 9/10.
    logits = torch.tensor([[0.0, math.log(3.0)]] * 4)
    u = torch.tensor([[0.2], [0.26], [0.5], [0.9999]])
    assert sample_by_uniform(logits, (2,), 1.0, u).argmax(-1).tolist() == [0, 1, 1, 1]
    assert sample_by_uniform(logits, (2,), 0.5, u).argmax(-1).tolist() == [1, 1, 1, 1]
    u = torch.tensor([[0.05], [0.09], [0.11], [0.0]])
    assert sample_by_uniform(logits, (2,), 0.5, u).argmax(-1).tolist() == [0, 0, 1, 0]
    assert sample_by_uniform(logits, (2,), None, None).argmax(-1).tolist() == [1, 1, 1, 1]
    # Two streams (trio-like): each picks from its own slice with its own uniform.
    two = torch.tensor([[5.0, 0.0, 0.0, 0.0, 0.0, 9.0]])
    out = sample_by_uniform(two, (2, 4), 1.0, torch.tensor([[0.5, 0.999]]))
    assert out.tolist() == [[1.0, 0.0, 0.0, 0.0, 0.0, 1.0]]


def test_sample_by_uniform_draws_follow_the_softmax():
    logits = torch.tensor([[1.0, 0.0, -1.0, 2.0]]).expand(20000, -1)
    u = torch.rand(20000, 1, generator=torch.Generator().manual_seed(0))
    counts = sample_by_uniform(logits, (4,), 0.8, u).sum(0) / 20000
    expected = torch.softmax(torch.tensor([1.0, 0.0, -1.0, 2.0]) / 0.8, 0)
    assert torch.allclose(counts, expected, atol=0.01)  # 4 binomial sigma ~ 0.014 at p = 0.5


def _both_paths(model, z, length, temperature, seed=7):
    with torch.no_grad():
        native = model.decoder.sample(z, length, temperature, _gen(seed))
        with native_decode.exact_decoding():
            exact = model.decoder.sample(z, length, temperature, _gen(seed))
    return native, exact


@needs_native
@pytest.mark.parametrize(
    "name", ["debug-cat-mel_2bar", "debug-flat-trio_16bar", "debug-hierdec-trio_16bar"]
)
@pytest.mark.parametrize("temperature", [None, 1.0, 0.5])
def test_native_loop_equals_the_torch_loop(name, temperature):
    config = get_config(name)
    torch.manual_seed(0)
    model = build_model(config).eval()
    for p in model.parameters():  # debug weights are tiny: give the logits real spread
        p.data.mul_(3.0)
    z = torch.randn(11, config.hparams.z_size)  # 4-row blocks and single rows
    length = config.hparams.max_seq_len
    (s1, l1), (s2, l2) = _both_paths(model, z, length, temperature)
    assert s1.sum(-1).eq(len(model.depths)).all()  # one token per stream and step
    uniforms = _uniforms(model, len(z), length, 7) if temperature else None
    near = 0
    for i in range(len(z)):
        # The paths agree up to the first differing step, which may only be a draw whose
        # uniform sits on a CDF boundary to within fp32 summation order (or an argmax tie).
        diff = (s1[i] != s2[i]).any(-1).nonzero()
        end = int(diff[0]) if len(diff) else length
        assert torch.allclose(l1[i, :end], l2[i, :end], atol=1e-4), float(
            (l1[i, :end] - l2[i, :end]).abs().max()
        )
        if end < length:
            near += 1
            assert _boundary_gap(l2[i, end], model.depths, temperature, uniforms[i, end]) < 1e-5
    assert near <= 1, f"{near} sequences left the torch path"
    if temperature == 1.0:  # another seed, other samples
        assert not torch.equal(s1, _both_paths(model, z, length, 1.0, 8)[0][0])


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _uniforms(model, batch: int, length: int, seed: int) -> torch.Tensor:
    """The uniforms a seeded decode draws, as (B, T, S): a flat decoder draws them at once, a
    hierarchical one per bar and core (CoreDecoder.sample draws (B, steps, streams) per call)."""
    g = _gen(seed)
    levels = getattr(model.decoder, "level_lengths", None)
    if not levels:
        return torch.rand(batch, length, len(model.depths), generator=g)
    bars, seg = levels
    draws = [
        torch.cat([torch.rand(batch, seg, 1, generator=g) for _ in model.depths], -1)
        for _ in range(bars)
    ]
    return torch.cat(draws, 1)


def _boundary_gap(logits, depths, temperature, uniforms) -> float:
    """Smallest distance between a stream's target u * total and its CDF's steps (argmax:
    the top-2 logit gap)."""
    gaps = []
    for k, part in enumerate(logits.split(depths)):
        if not temperature:
            top2 = part.topk(2).values
            gaps.append(float(top2[0] - top2[1]))
            continue
        cdf = torch.cumsum(torch.softmax(part / temperature, 0), 0)
        gaps.append(float((cdf - uniforms[k] * cdf[-1]).abs().min()))
    return min(gaps)


@needs_native
def test_native_loop_is_used_only_where_it_applies():
    z = torch.zeros(2, 4)
    with torch.no_grad():
        assert native_decode.usable(z)
        assert native_decode.usable(torch.zeros(512, 4))  # fp32: every batch
        assert not native_decode.usable(torch.zeros(0, 4))  # nothing to decode: the torch loop
        assert not native_decode.usable(z.double())
        with native_decode.exact_decoding():
            assert not native_decode.usable(z)
        with torch.autocast("cpu", dtype=torch.bfloat16):  # bf16 weights
            assert native_decode.usable(z)
            assert native_decode.mode_of(z) == native_decode.BF16  # 2 rows: fp32 inputs
            many = torch.zeros(native_decode.BF16_MAX_BATCH + 1, 4)
            if native_decode.library().musicvae_bf16_dot():
                assert native_decode.mode_of(many) == native_decode.BF16_DOT
                assert native_decode.usable(many)
            else:  # oneDNN's bf16 products are faster there
                assert not native_decode.usable(many)
    assert not native_decode.usable(z)  # gradients on: training keeps the torch loop


def test_builds_into_the_cache_folder_and_falls_back_without_a_compiler(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSICVAE_CACHE", str(tmp_path))
    monkeypatch.setattr(native_decode.shutil, "which", lambda name: None)
    assert native_decode._build() is None  # no compiler: the torch path, no error
    monkeypatch.setenv("MUSICVAE_NATIVE", "0")
    monkeypatch.undo()
    monkeypatch.setenv("MUSICVAE_CACHE", str(tmp_path))
    monkeypatch.setenv("MUSICVAE_NATIVE", "0")
    assert native_decode._build() is None  # switched off
    monkeypatch.delenv("MUSICVAE_NATIVE")
    if native_decode._compiler() is None:
        pytest.skip("no C compiler on this machine")
    lib = native_decode._build()
    assert lib is not None
    assert [p.name for p in (tmp_path / "native").iterdir()] == [
        native_decode._library_path(native_decode._sources(), native_decode._compiler()).name
    ]


@needs_native
def test_prepared_weights_follow_weight_changes_and_inference_mode_models():
    config = get_config("debug-cat-mel_2bar")
    torch.manual_seed(0)
    model = build_model(config).eval()
    z = torch.randn(2, config.hparams.z_size)
    with torch.no_grad():
        before = model.decoder.sample(z, 8, None)[1]
        model.decoder.core.projection.bias.add_(1.0)  # in place: the C loop must see it
        after = model.decoder.sample(z, 8, None)[1]
        with native_decode.exact_decoding():
            exact = model.decoder.sample(z, 8, None)[1]
    assert torch.allclose(after[:, 0], before[:, 0] + 1.0, atol=1e-5)
    assert torch.allclose(after, exact, atol=1e-5)
    with torch.inference_mode():  # a model made in inference mode: no version counters
        built = build_model(config).eval()
        assert torch.isfinite(built.decoder.sample(z, 8, 1.0)[1]).all()


@needs_native
@pytest.mark.parametrize("bf16", [False, True])
def test_prepared_weights_follow_a_fused_optimizer_step(bf16):
    """torch's fused Adam moves the weights without bumping their version counters: the C
    loop must still decode with the new weights (it once kept the first ones all training)."""
    config = get_config("debug-cat-mel_2bar")
    torch.manual_seed(0)
    model = build_model(config)
    z = torch.randn(12, config.hparams.z_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05, fused=True)

    def decoded():
        with torch.no_grad(), torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            native = model.decoder.sample(z, 8, None)[1]
            with native_decode.exact_decoding():
                exact = model.decoder.sample(z, 8, None)[1]
        return native, exact

    before, _ = decoded()
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    versions = [p._version for p in model.parameters()]
    optimizer.step()
    assert [p._version for p in model.parameters()] == versions  # the trap itself
    after, exact = decoded()
    # The first step's logits depend on z and the weights only (later steps on the tokens
    # picked, which bf16 rounding may tip at a near-tie).
    after, before, exact = after[:, 0], before[:, 0], exact[:, 0].float()
    assert (after - before).abs().max() > 0.1 * exact.abs().max()  # the step moved them
    tolerance = 0.02 * exact.abs().max() if bf16 else 1e-5 * exact.abs().max()
    assert (after - exact).abs().max() <= tolerance


@needs_native
def test_bf16_precision_reads_bf16_weights_within_bf16_rounding():
    """The bf16 precision (a CPU bf16 autocast region) runs the C loop on bf16 copies of the
    weights (16 rows: bf16 dot products where the CPU has them): logits move by bf16 rounding
    only, and argmax melodies stay the fp32 ones but for rare near-ties (measured on 1,000
    codes in batches of 16: 99.3% of tokens, 95.5% of whole melodies)."""
    from musicvae.inference.bundled import bundled_model_dir
    from musicvae.inference.trained_model import TrainedModel

    model = TrainedModel.load(bundled_model_dir()).model
    core = model.decoder.core
    z = torch.randn(16, model.z_size, generator=_gen(0))
    with torch.no_grad():
        with native_decode.exact_decoding():
            tokens, exact = core.sample(z, 32, None)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = core.sample(z, 32, None)
            assert native_decode.mode_of(z) in core._native_weights
        fp32 = core.sample(z, 32, None)
        assert native_decode.FP32 in core._native_weights
    assert torch.equal(fp32[0], tokens)
    same = (bf16[0].argmax(-1) == tokens.argmax(-1)).float()  # (B, T)
    assert same.mean() >= 0.97
    for i in range(len(z)):  # logits along the shared path
        diff = (same[i] == 0).nonzero()
        end = int(diff[0]) if len(diff) else 32
        scale = exact[i, :end].abs().max()
        assert (bf16[1][i, :end] - exact[i, :end]).abs().max() <= 0.02 * scale


def _fake_compiler(folder, body: str) -> str:
    script = folder / "fakecc"
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(0o755)
    return str(script)


def test_a_compiler_without_march_native_gets_a_portable_build_and_a_broken_one_none(tmp_path):
    compiler = native_decode._compiler()
    if compiler is None:
        pytest.skip("no C compiler on this machine")
    source = native_decode._sources()
    picky = _fake_compiler(
        tmp_path,
        f'case "$*" in *-march=native*) echo "unknown option" >&2; exit 1;; esac\n'
        f'exec {compiler} "$@"',
    )
    built = tmp_path / "cache" / "decode.so"
    assert native_decode._compile(picky, source, built)
    assert native_decode.ctypes.CDLL(str(built)).musicvae_decode  # the portable build loads
    broken = _fake_compiler(tmp_path, 'echo "internal compiler error" >&2; exit 4')
    assert not native_decode._compile(broken, source, tmp_path / "cache" / "other.so")
    assert not (tmp_path / "cache" / "other.so").exists()


@needs_native
@pytest.mark.parametrize("name", ["debug-cat-mel_2bar", "debug-hierdec-trio_16bar"])
def test_threads_split_rows_and_change_nothing(name):
    """Rows are independent: with 2 threads each takes a block of rows, and every row's
    arithmetic is the same as on one thread, so the results are identical, not just close."""
    config = get_config(name)
    torch.manual_seed(0)
    model = build_model(config).eval()
    z = torch.randn(37, config.hparams.z_size)  # 2 blocks of 20 and 17 rows
    before = torch.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            with torch.no_grad():
                results.append(model.decoder.sample(z, config.hparams.max_seq_len, 1.0, _gen(3)))
    finally:
        torch.set_num_threads(before)
    (s1, l1), (s2, l2) = results
    assert torch.equal(s1, s2) and torch.equal(l1, l2)


@needs_native
@pytest.mark.parametrize("bf16", [False, True])
@pytest.mark.parametrize("batch", [1, 5, 11, 37])  # split by units (< 16 rows), by rows
def test_threads_split_units_and_change_nothing(batch, bf16):
    """Below 16 rows 2 threads split each step's units (and meet after each layer) instead of
    the rows; each unit's and logit's arithmetic is unchanged, so are the results. Layer
    sizes that are not a multiple of 16 leave one thread a ragged share."""
    from musicvae.models.decoders import CoreDecoder

    torch.manual_seed(1)
    core = CoreDecoder((40, 72), 24, (7, 13)).eval()
    for p in core.parameters():
        p.data.mul_(3.0)
    e = torch.randn(batch, 24)
    before = torch.get_num_threads()
    results = []
    try:
        for threads in (1, 2, 1):
            torch.set_num_threads(threads)
            with torch.no_grad(), torch.autocast("cpu", torch.bfloat16, enabled=bf16):
                results.append(core.sample(e, 9, 1.0, generator=_gen(5)))
    finally:
        torch.set_num_threads(before)
    (s1, l1), (s2, l2), (s3, l3) = results
    assert torch.equal(s1, s2) and torch.equal(l1, l2) and torch.equal(l1, l3)
    assert s1.sum(-1).eq(2).all()  # one token per stream and step


@needs_native
@pytest.mark.parametrize("batch", [3, 11])  # BF16 mode (fp32 inputs), BF16_DOT (bf16 inputs)
def test_bf16_modes_handle_odd_sizes(batch):
    """Odd input sizes (an unpaired last input in the dot kernel), output widths that are not a
    multiple of 16 (masked tails) and row counts that are not a multiple of 4."""
    from musicvae.models.decoders import CoreDecoder

    torch.manual_seed(0)
    core = CoreDecoder((9, 6), 5, (7, 13)).eval()
    for p in core.parameters():
        p.data.mul_(4.0)
    e = torch.randn(batch, 5)
    with torch.no_grad():
        with native_decode.exact_decoding():
            tokens, exact = core.sample(e, 12, None)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            expected_mode = native_decode.mode_of(e)
            samples, logits = core.sample(e, 12, None)
        assert expected_mode in core._native_weights
    same = (samples == tokens).all(-1)  # (B, T): both streams' tokens equal
    for i in range(batch):
        diff = (~same[i]).nonzero()
        end = int(diff[0]) if len(diff) else 12
        assert end >= 1
        scale = exact[i, :end].abs().max()
        assert (logits[i, :end] - exact[i, :end]).abs().max() <= 0.03 * scale


@needs_native
@pytest.mark.parametrize("name", ["debug-cat-mel_2bar", "debug-flat-trio_16bar"])
def test_scheduled_sampling_pass_in_c_equals_the_torch_loop(name):
    """Training's no-grad scheduled-sampling pass (CoreDecoder._scheduled_steps) runs in C with
    the coins and uniforms the torch loop draws: the inputs it feeds and its logits are the
    loop's. At probability 0 it feeds the teacher's inputs, at 1 its own samples (free
    running: the same tokens CoreDecoder.sample draws from the same uniforms)."""
    config = get_config(name)
    torch.manual_seed(0)
    model = build_model(config).eval()
    for p in model.parameters():
        p.data.mul_(3.0)
    core = model.decoder.core
    length, batch = config.hparams.max_seq_len, 21
    parts = [torch.eye(d)[torch.randint(0, d, (batch, length))] for d in core.depths]
    inputs = torch.cat(parts, -1)  # (B, T, D) one-hot per stream
    inputs[:, 0] = 0.0  # shift_right's zero first input
    inputs[-3:, -5:] = 0.0  # padding past shorter sequences' ends
    e = torch.randn(batch, config.hparams.z_size)
    for p in (0.0, 0.5, 1.0):
        with torch.no_grad():
            fed, logits = core._scheduled_steps(inputs, e, p, _gen(4))
            with native_decode.exact_decoding():
                fed_t, logits_t = core._scheduled_steps(inputs, e, p, _gen(4))
        same = (fed == fed_t).all(-1).all(-1)  # (B,) rows fed alike throughout
        assert same.float().mean() >= 0.95, p  # a row may part at a near-tie, as above
        assert torch.allclose(logits[same], logits_t[same], atol=1e-4)
        if p == 0.0:
            assert torch.equal(fed, inputs)
        if p == 1.0:
            g = _gen(4)
            torch.rand(batch, length, generator=g)  # the coins: sample draws the uniforms next
            with torch.no_grad():
                free, _ = core.sample(e, length, 1.0, inputs[:, 0], g)
            own = fed[:, 1:]  # step t + 1 was fed step t's own sample
            assert torch.equal(own, free[:, :-1])
