"""The recurrences of fused_lstm's bf16 layer in C (native/lstm.c), for training and encoding.

fused_lstm runs a layer's input products for all steps at once; what is left is the
recurrence: per step one small product with the recurrent weights and a handful of elementwise
operations, forward and backward. In torch each step's product re-packs the weight matrix
(oneDNN) and each operation is dispatched separately; lstm.c runs a whole recurrence in one call
with the weights packed once per call for AVX-512 BF16 dot products (bf16 inputs, fp32 sums,
the arithmetic of torch's bf16 products) and fp32 state, on torch's OpenMP threads. Built into
the same library as the decode loop (native_decode.library); where it is not available (no
compiler, no AVX-512 BF16, MUSICVAE_NATIVE=0) or inside `torch_recurrences()`, fused_lstm keeps
its torch loop.
"""

from __future__ import annotations

import contextvars
import ctypes
import functools

import torch

from musicvae.models.native_decode import _float_p, _ptr, blocked_pair_layout, library, switched_on

_TORCH: contextvars.ContextVar[bool] = contextvars.ContextVar("torch_recurrences", default=False)


def torch_recurrences():
    """Within the block (this thread or task), fused_lstm runs its torch loop (tests, A/B)."""
    return switched_on(_TORCH)


@functools.cache
def _functions():
    """(forward, backward) C functions, or None where this build has none."""
    lib = library()
    if lib is None or not lib.musicvae_lstm_available():
        return None
    forward, backward = lib.musicvae_lstm_forward, lib.musicvae_lstm_backward
    i, p = ctypes.c_int, ctypes.c_void_p
    forward.restype = backward.restype = ctypes.c_int
    forward.argtypes = [i, i, i, p, _float_p, _float_p, _float_p, _float_p, _float_p, _float_p, i]
    backward.argtypes = [
        i, i, i, p, _float_p, _float_p, _float_p, _float_p, _float_p, _float_p, p, _float_p,
        _float_p, i,
    ]  # fmt: skip
    return forward, backward


# Measured (B = 8, T = 128, 2 threads; forward / backward against fused_lstm's torch loop):
# H = 512 2.6x / 2.7x, H = 1024 2.3x / 1.6x; H = 2048 even (the step streams 32 MB of weights
# from memory either way, and oneDNN's packed layout streams them as well as ours).
MAX_HIDDEN = 1024


def usable(x: torch.Tensor, dtype: torch.dtype, hidden: int) -> bool:
    """Whether fused_lstm's recurrence on x (CPU, bf16 products, `hidden` units) runs in C."""
    return (
        x.device.type == "cpu"
        and dtype == torch.bfloat16
        and hidden <= MAX_HIDDEN
        and not _TORCH.get()
        and _functions() is not None
    )


def forward(
    acts: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor, w_hh: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """acts (T, B, 4H) fp32, x_t W_ih^T + bias on entry, the activations [i, f, g, o] after;
    h0, c0 (B, H); w_hh (4H, H) -> cells c_t, tanh(c_t), outputs h_t, each (T, B, H) fp32."""
    steps, batch, hid4 = acts.shape
    hid = hid4 // 4
    assert acts.is_contiguous() and acts.dtype == torch.float32
    gates = w_hh.t().split(hid, 1)  # 4 x (H, H) of W_hh^T (H, 4H)
    weights = torch.stack([blocked_pair_layout(g) for g in gates])  # (4, H/64, H/2, 64, 2)
    h0, c0 = h0.float().contiguous(), c0.float().contiguous()
    cells = acts.new_empty(steps, batch, hid)
    tanh_c, outs = torch.empty_like(cells), torch.empty_like(cells)
    status = _functions()[0](
        steps, batch, hid, weights.data_ptr(), _ptr(acts), _ptr(h0), _ptr(c0),
        _ptr(cells), _ptr(tanh_c), _ptr(outs), torch.get_num_threads(),
    )  # fmt: skip
    if status != 0:
        raise MemoryError("native LSTM forward: out of memory")
    return cells, tanh_c, outs


def backward(
    acts: torch.Tensor,
    cells: torch.Tensor,
    c0: torch.Tensor,
    tanh_c: torch.Tensor,
    grad_out: torch.Tensor,
    w_hh: torch.Tensor,
    dh: torch.Tensor,
    dc: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The recurrence of fused_lstm's backward over steps T-1 .. 0 (see its torch loop), from
    the forward's acts (T, B, 4H; the activations), cells, tanh_c (T, B, H) and c0 (B, H), with
    grad_out (T, B, H), w_hh (4H, H) and dh, dc (B, H) the final state's gradients ->
    d_gates (T, B, 4H) fp32 and bf16, and h0's and c0's gradients (B, H)."""
    steps, batch, hid4 = acts.shape
    weights = blocked_pair_layout(w_hh)  # (H/64, 2H, 64, 2) of W_hh (4H, H)
    grad_out, c0 = grad_out.float().contiguous(), c0.float().contiguous()
    dh, dc = dh.float().clone().contiguous(), dc.float().clone().contiguous()
    d_gates = torch.empty_like(acts)
    d_gates16 = torch.empty(acts.shape, dtype=torch.int16)
    status = _functions()[1](
        steps, batch, hid4 // 4, weights.data_ptr(), _ptr(acts), _ptr(cells), _ptr(c0),
        _ptr(tanh_c), _ptr(grad_out), _ptr(d_gates), d_gates16.data_ptr(), _ptr(dh), _ptr(dc),
        torch.get_num_threads(),
    )  # fmt: skip
    if status != 0:
        raise MemoryError("native LSTM backward: out of memory")
    return d_gates, d_gates16.view(torch.bfloat16), dh, dc
