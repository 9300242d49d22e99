"""Magenta's BidirectionalLstmEncoder and the posterior head (encoder/mu, encoder/sigma)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from musicvae.models.fused_lstm import fused_lstm, matmul_dtype, use_fused
from musicvae.models.lstm import dense, init_tf_lstm


class BidirectionalLstmEncoder(nn.Module):
    """Stacked bidirectional LSTMs; output = [final fw h ; final bw h] of the last layer.

    Layer k reads the concatenated fw/bw outputs of layer k-1 (stack_bidirectional_dynamic_rnn).
    The backward "final" state is its state after reading t = 0, over the valid steps only.
    """

    def __init__(self, input_size: int, sizes: tuple[int, ...]):
        super().__init__()
        ins = (input_size,) + tuple(2 * s for s in sizes[:-1])
        self.layers = nn.ModuleList(
            nn.LSTM(i, h, batch_first=True, bidirectional=True)
            for i, h in zip(ins, sizes, strict=False)
        )
        for lstm in self.layers:
            init_tf_lstm(lstm)
        self.output_size = 2 * sizes[-1]

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """x (B, T, D_in), lengths (B,) -> (B, 2H)."""
        dtype = matmul_dtype(x.device)
        if use_fused(x.shape[0], dtype):
            return self._fused_forward(x, lengths, dtype)
        full = bool((lengths == x.shape[1]).all())
        h_n = None
        for lstm in self.layers:
            if full:
                x, (h_n, _) = lstm(x)  # x (B, T, 2H), h_n (2, B, H)
            else:
                packed = pack_padded_sequence(
                    x, lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False
                )
                out, (h_n, _) = lstm(packed)
                x, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return torch.cat([h_n[0], h_n[1]], dim=-1)  # (B, 2H)

    def _fused_forward(self, x: torch.Tensor, lengths: torch.Tensor, dtype) -> torch.Tensor:
        """forward with fused_lstm (bf16 products, fp32 state). The backward direction reads
        each sequence reversed within its length; steps past a length are computed but never
        reach a valid step or the final states, as with packed sequences."""
        b, t, _ = x.shape
        lengths = lengths.clamp(min=1).to(x.device)
        steps = torch.arange(t, device=x.device).expand(b, t)  # (B, T)
        reverse = torch.where(steps < lengths[:, None], lengths[:, None] - 1 - steps, steps)
        last = (lengths - 1)[:, None, None]  # (B, 1, 1): the final valid step
        h_fw = h_bw = None
        for lstm in self.layers:
            zeros = x.new_zeros(b, lstm.hidden_size, dtype=torch.float32)
            outs = []
            for suffix in ("", "_reverse"):
                w_ih, w_hh = (
                    getattr(lstm, f"weight_ih_l0{suffix}"),
                    getattr(lstm, f"weight_hh_l0{suffix}"),
                )
                bias = getattr(lstm, f"bias_ih_l0{suffix}") + getattr(lstm, f"bias_hh_l0{suffix}")
                order = reverse if suffix else steps
                inp = x if not suffix else x.gather(1, order[..., None].expand_as(x))
                out, _, _ = fused_lstm(inp, zeros, zeros, w_ih, w_hh, bias, dtype)  # (B, T, H)
                final = out.gather(1, last.expand(-1, 1, out.shape[2]))[:, 0]  # (B, H)
                if suffix:
                    h_bw, out = final, out.gather(1, order[..., None].expand_as(out))
                else:
                    h_fw = final
                outs.append(out)
            x = torch.cat(outs, dim=-1)  # (B, T, 2H)
        return torch.cat([h_fw, h_bw], dim=-1)  # (B, 2H)


class Posterior(nn.Module):
    """mu = Dense(h), sigma = softplus(Dense(h)); kernels N(0, 0.001) as in Magenta."""

    def __init__(self, in_features: int, z_size: int):
        super().__init__()
        self.mu = dense(in_features, z_size, stddev=0.001)
        self.sigma = dense(in_features, z_size, stddev=0.001)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """h (B, F) -> mu (B, Z), sigma (B, Z)."""
        return self.mu(h), F.softplus(self.sigma(h))
