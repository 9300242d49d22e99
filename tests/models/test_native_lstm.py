"""fused_lstm's bf16 recurrences in C (models/native_lstm.py, native/lstm.c) against its torch
loop (the reference: tests/models/test_bf16.py checks that one against nn.LSTM and autograd).

Both run bf16 products with fp32 sums and state, in different summation orders, so they agree
within bf16 rounding, and are equally far from fp32.
"""

from __future__ import annotations

import contextlib

import pytest
import torch

from musicvae.models import native_lstm
from musicvae.models.fused_lstm import fused_lstm

needs_native = pytest.mark.skipif(
    not native_lstm.usable(torch.zeros(1), torch.bfloat16, 8),
    reason="no C compiler or no AVX-512 BF16 on this machine: fused_lstm keeps its torch loop",
)


def _layer(batch: int, hidden: int, inputs: int, steps: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    scale = 1.0 / hidden**0.5

    def param(*shape, s=scale):
        return (torch.randn(*shape, generator=g) * s).requires_grad_()

    x = param(batch, steps, inputs, s=1.0)
    h0, c0 = param(batch, hidden, s=0.5), param(batch, hidden, s=0.5)
    return x, h0, c0, param(4 * hidden, inputs), param(4 * hidden, hidden), param(4 * hidden)


def _run(args, dtype=torch.bfloat16, torch_loop=False):
    """outputs, final h, final c and the gradients of a fixed weighted sum of them."""
    with native_lstm.torch_recurrences() if torch_loop else contextlib.nullcontext():
        out, h, c = fused_lstm(*args, dtype)
        weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(9))
        loss = (out * weights).sum() + 0.3 * h.sum() - 0.2 * c.sum()
        grads = torch.autograd.grad(loss, args)
    return [out.detach(), h.detach(), c.detach(), *grads]


@needs_native
@pytest.mark.parametrize(
    "batch, hidden",
    [(1, 40), (5, 72), (8, 136), (20, 48), (37, 64)],  # units split (< 16 rows), rows split
)
def test_c_recurrences_equal_the_torch_loop_within_bf16_rounding(batch, hidden):
    args = _layer(batch, hidden, 11, 9)
    native = _run(args)
    loop = _run(args, torch_loop=True)
    fp32 = _run(args, torch.float32)
    names = ["out", "h", "c", "d_x", "d_h0", "d_c0", "d_w_ih", "d_w_hh", "d_bias"]
    for name, a, b, exact in zip(names, native, loop, fp32, strict=True):
        scale = exact.abs().max()
        assert (a - b).abs().max() <= 0.02 * scale, name  # bf16 rounding, both paths
        # as close to fp32 as the torch loop is (with a margin for which side a rounding fell)
        assert (a - exact).abs().max() <= 2.0 * (b - exact).abs().max() + 1e-3 * scale, name
        cos = torch.nn.functional.cosine_similarity(a.flatten(), exact.flatten(), 0)
        assert cos >= 0.9995, name


@needs_native
@pytest.mark.parametrize("batch", [5, 37])
def test_c_recurrences_do_not_depend_on_the_thread_count(batch):
    args = _layer(batch, 136, 7, 6, seed=2)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = _run(args)
        torch.set_num_threads(2)
        two = _run(args)
    finally:
        torch.set_num_threads(before)
    for a, b in zip(one, two, strict=True):
        assert torch.equal(a, b)


@needs_native
def test_large_layers_keep_the_torch_loop():
    """Above MAX_HIDDEN units the recurrent matrix streams from memory each step, where the
    C loop measured no faster than oneDNN's packed products."""
    x = torch.zeros(2, 3)
    assert native_lstm.usable(x, torch.bfloat16, native_lstm.MAX_HIDDEN)
    assert not native_lstm.usable(x, torch.bfloat16, native_lstm.MAX_HIDDEN + 1)
    assert not native_lstm.usable(x, torch.float32, 64)  # fp32 is nn.LSTM's exact path
    with native_lstm.torch_recurrences():
        assert not native_lstm.usable(x, torch.bfloat16, 64)
