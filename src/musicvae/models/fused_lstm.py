"""One LSTM layer over a whole sequence with a hand-written backward, for reduced-precision CPU
training: matrix products in `dtype` (bf16: the CPU's AVX-512 BF16 / AMX units, accumulated in
fp32 inside oneDNN), gates, cell state and every gradient in fp32, weights kept as fp32 masters.

The input projection of all T steps is one large GEMM; the recurrence does one (B, H) x (H, 4H)
product per step; the backward runs the recurrence for dh and dc only and then forms the weight
gradients as two large GEMMs over all steps (as cuDNN and oneDNN do), instead of T small
outer products. Gate order is torch's [i, f, g, o] with the forget bias folded into `bias`
(see lstm.py), so the math is exactly nn.LSTM's.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch

from musicvae.models import native_lstm


def tanh_(x: torch.Tensor) -> torch.Tensor:
    """In-place tanh as 2 sigmoid(2x) - 1: torch's CPU tanh kernel is several times slower
    than its sigmoid on this project's machines (fp32 results differ by ~1e-7)."""
    return x.mul_(2.0).sigmoid_().mul_(2.0).sub_(1.0)


def matmul_dtype(device: torch.device) -> torch.dtype | None:
    """bf16 inside a CPU bf16 autocast region (our LSTMs then use bf16 matrix products with
    fp32 state), None otherwise (the weights' own precision; CUDA autocast goes to cuDNN)."""
    if (
        device.type == "cpu"
        and torch.is_autocast_enabled("cpu")
        and torch.get_autocast_dtype("cpu") == torch.bfloat16
    ):
        return torch.bfloat16
    return None


FUSED_MAX_BATCH = 32  # below this many rows the fused layer beats oneDNN's bf16 LSTM


def use_fused(batch: int, dtype: torch.dtype | None) -> bool:
    """Whether a bf16 sequence of `batch` rows runs fused_lstm rather than nn.LSTM under
    autocast (oneDNN's bf16 LSTM). Measured on one core: at batch 8, H = 2048 fused is 1.7x
    faster than fp32 and oneDNN bf16 is slower than fp32; at batch 512, H = 256-512 oneDNN bf16
    is 1.5-2.4x faster than fused (whose elementwise work then dominates)."""
    return dtype is not None and batch < FUSED_MAX_BATCH


def lstm_gates(gates: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pre-activations (B, 4H) in torch order [i, f, g, o] (overwritten), c (B, H) -> h, c'."""
    hid = c.shape[1]
    g = gates[:, 2 * hid : 3 * hid].mul_(2.0)
    gates.sigmoid_()
    g.mul_(2.0).sub_(1.0)  # tanh
    i, f, _, o = gates.chunk(4, 1)  # (B, H) each
    c = torch.mul(f, c).addcmul_(i, g)  # c' = f c + i g
    h = tanh_(c.clone()).mul_(o)  # h' = o tanh(c')
    return h, c


@contextmanager
def flush_denormals():
    """Flush denormal floats to zero on this thread for the block, then back to torch's
    default (off). Saturated gates make sigmoid' and the gradients denormal, and x86 cores run
    denormal arithmetic 10-100x slower: measured 8x on the LSTM backward's elementwise work."""
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


class _FusedLstm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, bias, dtype):
        with flush_denormals():
            return _FusedLstm._forward(ctx, x, h0, c0, w_ih, w_hh, bias, dtype)

    @staticmethod
    def backward(ctx, grad_out, grad_h, grad_c):
        with flush_denormals():
            return _FusedLstm._backward(ctx, grad_out, grad_h, grad_c)

    @staticmethod
    def _forward(ctx, x, h0, c0, w_ih, w_hh, bias, dtype):
        # x (T, B, I) time-major; h0, c0 (B, H); w_ih (4H, I); w_hh (4H, H); bias (4H,)
        steps, batch, _ = x.shape
        hid = w_hh.shape[1]
        w_ih_d, w_hh_d = w_ih.to(dtype), w_hh.to(dtype)  # (4H, I), (4H, H): cast once
        x_flat = x.reshape(steps * batch, -1).to(dtype)  # (T*B, I)
        gates = torch.mm(x_flat, w_ih_d.t()).float() + bias  # (T*B, 4H), fp32
        acts = gates.view(steps, batch, 4 * hid)  # becomes the activations, in place
        if steps and native_lstm.usable(x, dtype, hid):  # the same recurrence, one C call
            cells, tanh_c, outs = native_lstm.forward(acts, h0, c0, w_hh_d)
        else:
            cells, tanh_c, outs = _FusedLstm._forward_steps(acts, h0, c0, w_hh_d, dtype)
        ctx.dtype, ctx.w_ih_d, ctx.w_hh_d = dtype, w_ih_d, w_hh_d
        ctx.save_for_backward(x, h0, c0, w_ih, w_hh, acts, cells, tanh_c, outs)
        h, c = (outs[-1], cells[-1]) if steps else (h0, c0)
        return outs, h.clone(), c.clone()

    @staticmethod
    def _forward_steps(acts, h0, c0, w_hh_d, dtype):
        """The forward recurrence in torch: acts (T, B, 4H) pre-activations (without the
        recurrent part) -> activations in place; cells c_t, tanh(c_t), outputs h_t (T, B, H)."""
        steps, batch, hid4 = acts.shape
        hid = hid4 // 4
        w_hh_t = w_hh_d.t()  # (H, 4H) view: the product's fast (F.linear) layout
        cells = acts.new_empty(steps, batch, hid)  # c_t
        tanh_c = torch.empty_like(cells)
        outs = torch.empty_like(cells)  # h_t
        h, c = h0, c0
        for t in range(steps):
            a = acts[t]  # (B, 4H) pre-activations
            a.add_(torch.mm(h.to(dtype), w_hh_t))
            g = a[:, 2 * hid : 3 * hid].mul_(2.0)
            a.sigmoid_()
            g.mul_(2.0).sub_(1.0)  # tanh(x) = 2 sigmoid(2x) - 1
            i, f, _, o = a.chunk(4, 1)
            c = torch.mul(f, c, out=cells[t]).addcmul_(i, g)  # c' = f c + i g
            tc = tanh_(torch.mul(c, 1.0, out=tanh_c[t]))
            h = torch.mul(o, tc, out=outs[t])  # h' = o tanh(c')
        return cells, tanh_c, outs

    @staticmethod
    def _backward(ctx, grad_out, grad_h, grad_c):
        x, h0, c0, w_ih, w_hh, acts, cells, tanh_c, outs = ctx.saved_tensors
        dtype = ctx.dtype
        steps, batch, hid4 = acts.shape
        hid = hid4 // 4
        dh = grad_h if grad_h is not None else torch.zeros_like(h0)
        dc = grad_c.clone() if grad_c is not None else torch.zeros_like(c0)
        if grad_out is None:
            grad_out = torch.zeros_like(outs)
        if steps and native_lstm.usable(x, dtype, hid):  # the same recurrence, one C call
            d_gates, flat_d, dh, dc = native_lstm.backward(
                acts, cells, c0, tanh_c, grad_out, ctx.w_hh_d, dh, dc
            )  # flat_d: d_gates in bf16, from C
        else:
            d_gates, dh, dc = _FusedLstm._backward_steps(
                ctx, acts, cells, tanh_c, c0, grad_out, dh, dc
            )
            flat_d = d_gates.to(dtype)
        # The gradients from d_gates (T, B, 4H) as three large products over all steps.
        flat = d_gates.view(steps * batch, hid4)  # (T*B, 4H)
        flat_d = flat_d.view(steps * batch, hid4)
        h_prev = torch.cat([h0.unsqueeze(0), outs[:-1]]).view(steps * batch, hid)
        d_w_hh = torch.mm(flat_d.t(), h_prev.to(dtype)).float()  # (4H, H)
        x_flat = x.reshape(steps * batch, -1)
        d_w_ih = torch.mm(flat_d.t(), x_flat.to(dtype)).float()  # (4H, I)
        d_bias = flat.sum(0)  # (4H,)
        d_x = None
        if ctx.needs_input_grad[0]:
            w_ih_lin = ctx.w_ih_d.t().contiguous()  # (I, 4H)
            d_x = torch.mm(flat_d, w_ih_lin.t()).float().view(steps, batch, -1)
        return d_x, dh, dc, d_w_ih, d_w_hh, d_bias, None

    @staticmethod
    def _backward_steps(ctx, acts, cells, tanh_c, c0, grad_out, dh, dc):
        """The backward recurrence in torch -> d_gates (T, B, 4H), h0's and c0's gradients."""
        steps = acts.shape[0]
        i, f, g, o = acts.chunk(4, 2)  # (T, B, H) each
        c_prev = torch.cat([c0.unsqueeze(0), cells[:-1]])  # (T, B, H)
        # Step-independent factors: d gate_pre = (upstream) * factor.
        mult = torch.empty_like(acts)  # (T, B, 4H)
        mi, mf, mg, mo = mult.chunk(4, 2)
        torch.mul(g, i * (1 - i), out=mi)  # dc -> di_pre
        torch.mul(c_prev, f * (1 - f), out=mf)  # dc -> df_pre
        torch.mul(i, 1 - g * g, out=mg)  # dc -> dg_pre
        torch.mul(tanh_c, o * (1 - o), out=mo)  # dh -> do_pre
        dc_from_h = o * (1 - tanh_c * tanh_c)  # (T, B, H): dh -> dc
        d_gates = torch.empty_like(acts)  # (T, B, 4H)
        # Transposed copies, so that d @ W runs in the product's fast layout (2.5x faster than
        # d @ W with W (4H, H) row-major, measured for bf16 at B = 8, H = 2048).
        w_hh_lin = ctx.w_hh_d.t().contiguous()  # (H, 4H)
        for t in range(steps - 1, -1, -1):
            dh = grad_out[t] + dh  # (B, H)
            dc.addcmul_(dh, dc_from_h[t])
            upstream = torch.cat([dc, dc, dc, dh], 1)  # (B, 4H)
            torch.mul(mult[t], upstream, out=d_gates[t])
            dc.mul_(f[t])
            dh = torch.mm(d_gates[t].to(ctx.dtype), w_hh_lin.t()).float()  # (B, H)
        return d_gates, dh, dc


def fused_lstm(
    x: torch.Tensor,
    h0: torch.Tensor,
    c0: torch.Tensor,
    w_ih: torch.Tensor,
    w_hh: torch.Tensor,
    bias: torch.Tensor,
    dtype: torch.dtype = torch.bfloat16,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """x (B, T, I), h0, c0 (B, H) -> outputs (B, T, H), final h, final c (B, H), all fp32."""
    out, h, c = _FusedLstm.apply(
        x.float().transpose(0, 1).contiguous(),  # (T, B, I)
        h0.float().contiguous(),
        c0.float().contiguous(),
        w_ih,
        w_hh,
        bias,
        dtype,
    )
    return out.transpose(0, 1), h, c
