"""LSTM stacks that compute exactly what Magenta's MultiRNNCell of LSTMBlockCells computes.

TF LSTMBlockCell: kernel (in + H, 4H) applied to concat(x, h), gate blocks [i, j, f, o],
forget_bias 1.0 added at run time: c' = sig(f + 1) c + sig(i) tanh(j), h' = sig(o) tanh(c').
We run each layer on nn.LSTM (cuDNN on GPUs), whose gates are [i, f, g=j, o]. Weight mapping
(see `from_tf_kernel`): weight_ih = K[:in, blocks (i, f, j, o)].T, weight_hh = K[in:, ...].T,
bias_ih = b[(i, f, j, o)] + [0, 1, 0, 0] (the forget bias), bias_hh = 0 (frozen, so that the
single TF bias is learned once, as in TF).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from musicvae.models.fused_lstm import fused_lstm, lstm_gates, matmul_dtype, use_fused

State = list[tuple[torch.Tensor, torch.Tensor]]  # per layer (h, c), each (B, H)


class StepWeights(NamedTuple):
    """Per-layer weights of LSTMStack.step: fp32 (dtype None) w_in (4H, in), w_h (4H, H);
    bf16 w_in = [W_ih ; W_hh]^T (in + H, 4H), w_h None. bias (4H,) or (B, 4H), fp32."""

    w_in: tuple[torch.Tensor, ...]
    w_h: tuple[torch.Tensor | None, ...]
    bias: tuple[torch.Tensor, ...]
    dtype: torch.dtype | None


_TF_TO_TORCH_GATES = (0, 2, 1, 3)  # torch block k takes TF block _TF_TO_TORCH_GATES[k]
CELL_MAX_NUMEL = 2048  # step(): torch.lstm_cell below this many state values (B * H)


class LSTMStack(nn.Module):
    """Layers of unidirectional LSTMs of possibly different sizes."""

    def __init__(self, input_size: int, hidden_sizes: tuple[int, ...]):
        super().__init__()
        self.hidden_sizes = tuple(hidden_sizes)
        sizes = (input_size,) + self.hidden_sizes
        self.layers = nn.ModuleList(
            nn.LSTM(sizes[k], sizes[k + 1], batch_first=True) for k in range(len(hidden_sizes))
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for lstm in self.layers:
            init_tf_lstm(lstm)

    @property
    def state_size(self) -> int:
        """Size of the flattened (c, h) state of all layers (Magenta's initial-state dense)."""
        return 2 * sum(self.hidden_sizes)

    def state_from_flat(self, flat: torch.Tensor) -> State:
        """(B, 2 * sum(H)) in TF order [c0, h0, c1, h1, ...] -> per-layer (h, c)."""
        state, k = [], 0
        for h in self.hidden_sizes:
            c_part, h_part = flat[:, k : k + h], flat[:, k + h : k + 2 * h]
            state.append((h_part, c_part))
            k += 2 * h
        return state

    def forward(self, x: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """x (B, T, in) -> top-layer outputs (B, T, H_top) and the final state.

        Inside a CPU bf16 autocast region small batches run fused_lstm (bf16 matrix products,
        fp32 state) and larger ones nn.LSTM under autocast (oneDNN's bf16 LSTM); otherwise
        nn.LSTM in the weights' precision (the exact fp32 path).
        """
        dtype = matmul_dtype(x.device)
        fused = use_fused(x.shape[0], dtype)
        new_state = []
        for lstm, (h, c) in zip(self.layers, state, strict=False):
            if fused:
                bias = lstm.bias_ih_l0 + lstm.bias_hh_l0  # (4H,)
                x, h_n, c_n = fused_lstm(
                    x, h, c, lstm.weight_ih_l0, lstm.weight_hh_l0, bias, dtype
                )  # x (B, T, H)
                new_state.append((h_n, c_n))
                continue
            x, (h_n, c_n) = lstm(x, (h.unsqueeze(0).contiguous(), c.unsqueeze(0).contiguous()))
            new_state.append((h_n[0], c_n[0]))
        return x, new_state

    def step_weights(self, const: torch.Tensor | None = None, in_cols: int = 0) -> StepWeights:
        """The weights of `step`, prepared once per decoding loop.

        `const` (B, 4 H_0) is the precomputed layer-0 contribution of inputs that stay fixed
        over the steps (z, a conductor output): layer 0 then reads only the first `in_cols`
        input columns from x. In a CPU bf16 autocast region the matrices are cast to bf16 here,
        once, rather than at every step.
        """
        dtype = matmul_dtype(self.layers[0].weight_ih_l0.device)
        w_in, w_h, biases = [], [], []
        for k, lstm in enumerate(self.layers):
            w_ih, bias = lstm.weight_ih_l0, lstm.bias_ih_l0 + lstm.bias_hh_l0  # (4H, in), (4H,)
            if k == 0 and const is not None:
                w_ih, bias = w_ih[:, :in_cols], const.float() + bias  # bias (B, 4H)
            if dtype is None:
                w_in.append(w_ih.contiguous())
                w_h.append(lstm.weight_hh_l0)
            else:  # one (in + H, 4H) matrix: a single bf16 product per layer and step
                w_in.append(torch.cat([w_ih, lstm.weight_hh_l0], 1).t().contiguous().to(dtype))
                w_h.append(None)
            biases.append(bias)
        return StepWeights(tuple(w_in), tuple(w_h), tuple(biases), dtype)

    def step(
        self, x: torch.Tensor, state: State, weights: StepWeights
    ) -> tuple[torch.Tensor, State]:
        """One time step without nn.LSTM's per-call overhead (sampling loops).

        x (B, in_cols or in) -> top h (B, H_top) and the new state; `weights` from step_weights.
        fp32: torch.lstm_cell (nn.LSTM's own cell) for small batches, where per-op overhead
        dominates; fp32 products and lstm_gates (tanh as 2 sigmoid(2x) - 1, ~1e-7 apart) for
        larger ones, where torch's slow CPU tanh does. bf16: one bf16 product of [x ; h] per
        layer, gates and state in fp32.
        """
        new_state = []
        inp = x
        for w_in, w_h, bias, (h, c) in zip(
            weights.w_in, weights.w_h, weights.bias, state, strict=True
        ):
            if weights.dtype is None and h.numel() < CELL_MAX_NUMEL:
                h, c = torch.lstm_cell(inp, (h, c), w_in, w_h, bias, None)  # (B, H) each
            elif weights.dtype is None:
                gates = torch.addmm(bias, inp, w_in.t()).addmm_(h, w_h.t())  # (B, 4H)
                h, c = lstm_gates(gates, c)
            else:
                xh = torch.cat([inp.to(weights.dtype), h.to(weights.dtype)], 1)  # (B, in + H)
                gates = torch.add(bias, torch.mm(xh, w_in))  # (B, 4H) fp32
                h, c = lstm_gates(gates, c)
            new_state.append((h, c))
            inp = h
        return inp, new_state

    def constant_input(self, e: torch.Tensor, first_col: int) -> torch.Tensor:
        """Layer-0 gate contribution of input columns first_col.. fed with e (B, E) each step."""
        return F.linear(e, self.layers[0].weight_ih_l0[:, first_col:])

    @staticmethod
    def tf_kernel_to_torch(
        kernel: torch.Tensor, bias: torch.Tensor, input_size: int
    ) -> dict[str, torch.Tensor]:
        """TF LSTMBlockCell (kernel (in+H, 4H), bias (4H,)) -> one nn.LSTM layer's tensors."""
        h = kernel.shape[1] // 4
        blocks = kernel.split(h, dim=1)
        bias_blocks = bias.split(h)
        order = _TF_TO_TORCH_GATES
        k = torch.cat([blocks[i] for i in order], dim=1)  # (in + H, 4H), torch gate order
        b = torch.cat([bias_blocks[i] for i in order]).clone()
        b[h : 2 * h] += 1.0  # forget bias, added at run time in TF
        return {
            "weight_ih_l0": k[:input_size].T.contiguous(),
            "weight_hh_l0": k[input_size:].T.contiguous(),
            "bias_ih_l0": b,
            "bias_hh_l0": torch.zeros_like(b),
        }

    @staticmethod
    def torch_to_tf_kernel(lstm: nn.LSTM) -> tuple[torch.Tensor, torch.Tensor]:
        """The inverse of tf_kernel_to_torch (for export)."""
        h = lstm.hidden_size
        k = torch.cat([lstm.weight_ih_l0.T, lstm.weight_hh_l0.T], dim=0)  # torch gate order
        b = (lstm.bias_ih_l0 + lstm.bias_hh_l0).clone()
        b[h : 2 * h] -= 1.0
        inverse = [_TF_TO_TORCH_GATES.index(i) for i in range(4)]
        blocks, bias_blocks = k.split(h, dim=1), b.split(h)
        return (
            torch.cat([blocks[i] for i in inverse], dim=1),
            torch.cat([bias_blocks[i] for i in inverse]),
        )


def init_tf_lstm(lstm: nn.LSTM) -> None:
    """TF defaults on a 1-layer nn.LSTM (either direction): glorot-uniform kernel over
    (in + H, 4H), zero bias plus the forget bias 1.0; bias_hh frozen at zero."""
    h = lstm.hidden_size
    limit = math.sqrt(6.0 / (lstm.input_size + h + 4 * h))
    for suffix in ("", "_reverse") if lstm.bidirectional else ("",):
        with torch.no_grad():
            getattr(lstm, f"weight_ih_l0{suffix}").uniform_(-limit, limit)
            getattr(lstm, f"weight_hh_l0{suffix}").uniform_(-limit, limit)
            bias_ih = getattr(lstm, f"bias_ih_l0{suffix}")
            bias_ih.zero_()
            bias_ih[h : 2 * h] = 1.0
            getattr(lstm, f"bias_hh_l0{suffix}").zero_()
        getattr(lstm, f"bias_hh_l0{suffix}").requires_grad_(False)


def dense(in_features: int, out_features: int, stddev: float | None = None) -> nn.Linear:
    """tf.layers.dense initialization: glorot-uniform kernel (or N(0, stddev)), zero bias."""
    layer = nn.Linear(in_features, out_features)
    with torch.no_grad():
        if stddev is None:
            nn.init.xavier_uniform_(layer.weight)
        else:
            layer.weight.normal_(0.0, stddev)
        layer.bias.zero_()
    return layer
