"""MusicVAE: encoder, posterior, decoder and Magenta's loss.

The module never reads a config (musicvae.builders.build_model does) and owns no schedule: the
training loop passes the KL weight beta and the scheduled-sampling probability of each step.
"""

from __future__ import annotations

import torch
from torch import nn

from musicvae.models.decoders import FlatDecoder, HierarchicalDecoder
from musicvae.models.encoder import BidirectionalLstmEncoder, Posterior
from musicvae.models.losses import (
    LN2,
    accuracy_metrics,
    free_bits_cost,
    kl_to_standard_normal,
    reconstruction,
)


def shift_right(outputs: torch.Tensor) -> torch.Tensor:
    """Decoder inputs under teacher forcing: targets shifted right by one zero step."""
    return torch.cat([torch.zeros_like(outputs[:, :1]), outputs[:, :-1]], dim=1)


class MusicVAE(nn.Module):
    """forward(inputs, outputs, lengths, beta, sampling_probability) -> dict of Magenta-named
    losses and metrics."""

    def __init__(
        self,
        *,
        input_depth: int,
        depths: tuple[int, ...],
        z_size: int,
        enc_rnn_size: tuple[int, ...],
        dec_rnn_size: tuple[int, ...],
        level_lengths: tuple[int, ...] = (),
        free_bits: float = 0.0,
    ):
        super().__init__()
        self.depths = tuple(depths)
        self.output_depth = sum(self.depths)
        self.z_size = z_size
        self.encoder = BidirectionalLstmEncoder(input_depth, enc_rnn_size)
        self.posterior = Posterior(self.encoder.output_size, z_size)
        if level_lengths:
            self.decoder = HierarchicalDecoder(self.depths, z_size, level_lengths, dec_rnn_size)
        else:
            self.decoder = FlatDecoder(self.depths, z_size, dec_rnn_size)
        self.free_bits = free_bits

    def encode(self, inputs: torch.Tensor, lengths: torch.Tensor):
        """inputs (B, T, D_in), lengths (B,) -> mu (B, Z), sigma (B, Z)."""
        return self.posterior(self.encoder(inputs, lengths))

    def teacher_forced_logits(
        self, outputs: torch.Tensor, z: torch.Tensor, probability: float = 0.0, generator=None
    ) -> torch.Tensor:
        """Decoder logits with the ground truth fed back: outputs (B, T, D), z -> (B, T, D)."""
        return self.decoder.teacher_forced(shift_right(outputs), z, probability, generator)

    def forward(
        self,
        inputs: torch.Tensor,
        outputs: torch.Tensor,
        lengths: torch.Tensor,
        beta: float = 0.0,
        sampling_probability: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> dict[str, torch.Tensor]:
        """One training/eval pass: z sampled from the posterior; Magenta's loss and metrics.

        beta weighs the KL cost; sampling_probability is the chance of feeding the decoder its
        own sample instead of the ground truth (both from musicvae.train.schedules, per step).
        """
        mu, sigma = self.encode(inputs, lengths)
        eps = torch.randn(mu.shape, device=mu.device, dtype=mu.dtype, generator=generator)
        z = mu + sigma * eps  # (B, Z)
        p = float(sampling_probability)
        logits = self.teacher_forced_logits(outputs, z, p, generator)  # (B, T, D)
        r_loss, correct, mask = reconstruction(logits, outputs, lengths, self.depths)
        kl = kl_to_standard_normal(mu.float(), sigma.float())  # (B,)
        kl_cost = free_bits_cost(kl, self.free_bits)
        beta = float(beta)
        loss = r_loss.mean() + beta * kl_cost.mean()
        return {
            "loss": loss,
            "losses/r_loss": r_loss.mean().detach(),
            "losses/kl_loss": kl_cost.mean().detach(),
            "losses/kl_bits": (kl / LN2).mean().detach(),
            "losses/kl_beta": torch.tensor(beta),
            "sampling_probability": torch.tensor(p),
            **{k: v.detach() for k, v in accuracy_metrics(correct, mask).items()},
        }

    @torch.no_grad()
    def sample_accuracy(self, inputs, outputs, lengths, generator=None, temperature=1.0):
        """Free-running reconstruction accuracy from z = mu (the paper's 'sampled' column)."""
        mu, _ = self.encode(inputs, lengths)
        samples, _ = self.decoder.sample(mu, outputs.shape[1], temperature, generator)
        _, correct, mask = reconstruction(samples, outputs, lengths, self.depths)
        return accuracy_metrics(correct, mask)["metrics/accuracy"]
