"""Magenta's schedules as pure functions of the global step (base_model.py, lstm_models.py)."""

from __future__ import annotations

import math


def beta(step: int, max_beta: float, beta_rate: float) -> float:
    """KL weight: (1 - beta_rate ** step) * max_beta (0 at step 0, even for beta_rate 0)."""
    return (1.0 - beta_rate**step) * max_beta


def learning_rate(step: int, base: float, decay_rate: float, minimum: float) -> float:
    """(base - minimum) * decay_rate ** step + minimum."""
    return (base - minimum) * decay_rate**step + minimum


def sampling_probability(step: int, schedule: str, rate: float, training: bool = True) -> float:
    """Probability of feeding the model's own sample (scheduled sampling).

    constant: rate; exponential: 1 - rate ** step; inverse_sigmoid: 1 - k / (k + exp(step / k)).
    Outside training a non-zero schedule means always sampling (p = 1), as in Magenta.
    """
    if schedule == "constant" and rate == 0:
        return 0.0
    if not training:
        return 1.0
    if schedule == "constant":
        return float(rate)
    if schedule == "exponential":
        return 1.0 - rate**step
    if schedule == "inverse_sigmoid":
        k = float(rate)
        x = step / k
        if x > 700:  # exp overflows; the limit is 1
            return 1.0
        return 1.0 - k / (k + math.exp(x))
    raise ValueError(f"unknown sampling schedule {schedule!r}")
