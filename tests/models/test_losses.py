"""Loss pieces and schedules against hand-computed values (SPEC §2)."""

from __future__ import annotations

import math

import pytest
import torch

from musicvae.models.losses import (
    accuracy_metrics,
    free_bits_cost,
    kl_to_standard_normal,
    reconstruction,
)
from musicvae.train import schedules


def test_kl_of_known_gaussians():
    mu = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 0.0]])
    sigma = torch.tensor([[1.0, 1.0], [1.0, 1.0], [2.0, 0.5]])
    kl = kl_to_standard_normal(mu, sigma)
    # KL per dim = 0.5 (s^2 + m^2 - 1) - ln s
    expected = [0.0, 0.5, (0.5 * 3 - math.log(2)) + (0.5 * (0.25 - 1) - math.log(0.5))]
    assert kl.tolist() == pytest.approx(expected, abs=1e-6)


def test_free_bits_clamp_on_the_total():
    kl = torch.tensor([10.0, 40.0])
    # 48 free bits = 48 ln 2 = 33.27 nats: the first is free, the second pays 6.73
    assert free_bits_cost(kl, 48).tolist() == pytest.approx([0.0, 40 - 48 * math.log(2)], abs=1e-5)
    assert free_bits_cost(kl, 0).tolist() == [10.0, 40.0]


def test_beta_schedule():
    assert schedules.beta(0, 0.2, 0.99999) == 0.0
    assert schedules.beta(100_000, 0.2, 0.99999) == pytest.approx(0.2 * (1 - 0.99999**100_000))
    assert schedules.beta(100_000, 0.2, 0.99999) == pytest.approx(0.2 * 0.6321, abs=1e-4)
    assert schedules.beta(0, 0.2, 0.0) == 0.0  # 0 ** 0 = 1
    assert schedules.beta(1, 0.2, 0.0) == 0.2


def test_learning_rate_schedule():
    assert schedules.learning_rate(0, 1e-3, 0.9999, 1e-5) == pytest.approx(1e-3)
    # 0.9999 ** 10000 = e^-1.00005 = 0.36786
    assert schedules.learning_rate(10_000, 1e-3, 0.9999, 1e-5) == pytest.approx(
        0.00099 * 0.367861 + 1e-5, rel=1e-4
    )
    assert schedules.learning_rate(10**7, 1e-3, 0.9999, 1e-5) == pytest.approx(1e-5)


def test_sampling_probability():
    # inverse sigmoid, k = 1000: 1 - 1000 / (1000 + e^(step/1000))
    assert schedules.sampling_probability(0, "inverse_sigmoid", 1000) == pytest.approx(1 / 1001)
    assert schedules.sampling_probability(5000, "inverse_sigmoid", 1000) == pytest.approx(
        1 - 1000 / (1000 + 148.41316), rel=1e-6
    )
    assert schedules.sampling_probability(10**6, "inverse_sigmoid", 1000) == 1.0
    assert schedules.sampling_probability(3, "exponential", 0.5) == pytest.approx(0.875)
    assert schedules.sampling_probability(7, "constant", 0.25) == 0.25
    assert schedules.sampling_probability(7, "constant", 0.0, training=False) == 0.0
    assert schedules.sampling_probability(7, "inverse_sigmoid", 1000, training=False) == 1.0
    with pytest.raises(ValueError):
        schedules.sampling_probability(1, "linear", 1.0)


def test_reconstruction_sums_cross_entropy_over_valid_steps_and_streams():
    # Two streams (depth 2 and 3), 2 steps, second sequence has length 1.
    logits = torch.zeros(2, 2, 5)
    logits[0, 0, 0] = math.log(3)  # stream 0 probs (3/4, 1/4): target 0 -> -ln 3/4
    targets = torch.zeros(2, 2, 5)
    targets[:, :, 0] = 1  # stream 0 target class 0
    targets[:, :, 4] = 1  # stream 1 target class 2 (uniform logits -> ln 3)
    r_loss, correct, mask = reconstruction(logits, targets, torch.tensor([2, 1]), (2, 3))
    seq0 = -math.log(0.75) + math.log(3) + math.log(2) + math.log(3)
    seq1 = math.log(2) + math.log(3)
    assert r_loss.tolist() == pytest.approx([seq0, seq1], rel=1e-6)
    metrics = accuracy_metrics(correct, mask)
    # stream 0 argmax is class 0 everywhere (ties -> first) = target: 3/3 valid steps correct;
    # stream 1 argmax class 0 != target 2: 0/3
    assert metrics["metrics/accuracy/output_0"] == pytest.approx(1.0)
    assert metrics["metrics/accuracy/output_1"] == pytest.approx(0.0)
    assert metrics["metrics/accuracy"] == pytest.approx(0.5)
