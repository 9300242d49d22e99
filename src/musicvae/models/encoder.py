"""Magenta's BidirectionalLstmEncoder and the posterior head (encoder/mu, encoder/sigma)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

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
        """x (B, T, D_in), lengths (B,) -> (B, 2 H_last)."""
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


class Posterior(nn.Module):
    """mu = Dense(h), sigma = softplus(Dense(h)); kernels N(0, 0.001) as in Magenta."""

    def __init__(self, in_features: int, z_size: int):
        super().__init__()
        self.mu = dense(in_features, z_size, stddev=0.001)
        self.sigma = dense(in_features, z_size, stddev=0.001)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """h (B, F) -> mu (B, Z), sigma (B, Z)."""
        return self.mu(h), F.softplus(self.sigma(h))
