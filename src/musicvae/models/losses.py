"""Loss pieces of MusicVAE as pure functions of tensors (Magenta base_model.py, lstm_models.py):
KL to the standard normal, free bits, reconstruction cross-entropy and accuracy metrics. The
weighting of the KL (beta) is the caller's: the training loop passes it to MusicVAE.forward."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LN2 = math.log(2.0)


def kl_to_standard_normal(mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, I)) in nats, summed over Z: (B, Z) -> (B,)."""
    return 0.5 * (sigma.square() + mu.square() - 1.0 - 2.0 * torch.log(sigma)).sum(-1)


def free_bits_cost(kl: torch.Tensor, free_bits: float) -> torch.Tensor:
    """max(kl - free_bits * ln 2, 0), on the total KL of each sequence."""
    return torch.clamp(kl - free_bits * LN2, min=0.0)


def step_mask(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """(B,) lengths -> (B, T) bool, True at valid steps."""
    return torch.arange(steps, device=lengths.device)[None, :] < lengths[:, None]


def reconstruction(
    logits: torch.Tensor, targets: torch.Tensor, lengths: torch.Tensor, depths: tuple[int, ...]
) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
    """Summed softmax cross-entropy per sequence over valid steps and streams.

    logits, targets (B, T, D) with D = sum(depths), split into one stream per depth ->
    r_loss (B,) float32, a list of per-stream (B, T) bool "argmax is right" masks, and the
    (B, T) bool mask of valid steps (t < length).
    """
    mask = step_mask(lengths, logits.shape[1])
    r_loss = logits.new_zeros(logits.shape[0], dtype=torch.float32)
    correct = []
    for lg, tg in zip(logits.split(depths, -1), targets.split(depths, -1), strict=False):
        index = tg.argmax(-1)  # (B, T)
        ce = F.cross_entropy(lg.float().transpose(1, 2), index, reduction="none")  # (B, T)
        r_loss = r_loss + (ce * mask).sum(-1)
        correct.append((lg.argmax(-1) == index) & mask)
    return r_loss, correct, mask


def accuracy_metrics(correct: list[torch.Tensor], mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """metrics/accuracy (mean over streams) and metrics/accuracy/output_i for multi-stream."""
    valid = mask.sum().clamp(min=1)
    per_stream = [c.sum() / valid for c in correct]
    out = {"metrics/accuracy": torch.stack(per_stream).mean()}
    if len(per_stream) > 1:
        for i, acc in enumerate(per_stream):
            out[f"metrics/accuracy/output_{i}"] = acc
    return out
