"""Interpolation between held-out pairs (the paper's section 5.2): latent space vs data space.

Latent: the slerp path between the two windows' mu, decoded by argmax. Data: the naive baseline
that turns A into B in data space, switching a growing share of the steps where they differ
(round(alpha * d(A, B)) of them, in a seeded random order) from A's token to B's. Along alpha
both report the Hamming distance to A normalised by d(A, B), and at the middle (alpha 0.5) the
realism features of the points against the held-out data.
"""

from __future__ import annotations

import numpy as np

from musicvae.evaluation.realism import overlap, prior_tokens, window_features
from musicvae.inference.latent import interpolation_path
from musicvae.inference.trained_model import TrainedModel

ALPHAS = 11  # 0, 0.1, ..., 1


def hamming(a, b) -> np.ndarray:
    """Differing (step, stream) tokens: a, b (..., T, S) -> (...)."""
    return (np.asarray(a) != np.asarray(b)).sum(axis=(-2, -1))


def pooled_distance(paths, ref, d_ab) -> np.ndarray:
    """Hamming distance of paths (P, K, T, S) to ref (P, T, S), summed over the pairs and
    divided by the summed d(A, B) (P,): -> (K,). A ratio of sums, so that a pair of near-equal
    windows cannot dominate it as it would a mean of per-pair ratios."""
    total = max(float(np.sum(d_ab)), 1.0)
    return hamming(paths, np.asarray(ref)[:, None]).sum(0) / total


def data_space_path(a, b, alphas, rng: np.random.Generator) -> np.ndarray:
    """Naive data-space interpolation: a, b (T, S) tokens, alphas (K,) -> (K, T, S); point k
    takes B's token at the first round(alpha_k * d) of the d differing positions (seeded
    order), A's elsewhere."""
    a, b = np.asarray(a), np.asarray(b)
    differ = np.flatnonzero((a != b).reshape(-1))
    order = rng.permutation(differ)
    path = np.repeat(a.reshape(1, -1), len(alphas), axis=0)  # (K, T*S)
    for k, alpha in enumerate(alphas):
        take = order[: int(round(float(alpha) * len(order)))]
        path[k, take] = b.reshape(-1)[take]
    return path.reshape((len(alphas),) + a.shape)


def choose_pairs(tokens, pairs: int, rng: np.random.Generator) -> np.ndarray:
    """Up to `pairs` disjoint (i, j) index pairs of distinct windows: -> (P, 2)."""
    n = len(tokens)
    order = rng.permutation(n)[: 2 * min(pairs, n // 2)].reshape(-1, 2)  # (P, 2)
    keep = hamming(tokens[order[:, 0]], tokens[order[:, 1]]) > 0
    return order[keep]


def _middle(config, data_feats: dict, tokens: np.ndarray) -> dict:
    feats, degenerate = window_features(config, tokens)
    overlaps = {k: overlap(v, data_feats[k]) for k, v in feats.items()}
    return {
        "degenerate_rate": float(degenerate.mean()) if len(tokens) else float("nan"),
        "features": {k: float(v.mean()) for k, v in feats.items()},
        "overlap": overlaps,
        "mean_overlap": float(np.mean(list(overlaps.values()))) if overlaps else float("nan"),
    }


def interpolation(
    model: TrainedModel, tokens: np.ndarray, mu: np.ndarray, pairs: int = 100, seed: int = 0
) -> dict:
    """tokens (N, T, S) held-out windows with their mu (N, Z) -> {alphas, pairs, latent: {...},
    data: {...}}, each with hamming_to_start / _end (pooled_distance) and middle realism."""
    config = model.config
    rng = np.random.default_rng([seed, 3])
    chosen = choose_pairs(tokens, pairs, rng)  # (P, 2)
    alphas = np.linspace(0.0, 1.0, ALPHAS)
    result = {"alphas": alphas.round(2).tolist(), "pairs": len(chosen)}
    if not len(chosen):
        return result
    a, b = tokens[chosen[:, 0]], tokens[chosen[:, 1]]  # (P, T, S)
    d_ab = hamming(a, b).astype(np.float64)  # (P,)
    codes = np.concatenate(
        [interpolation_path(mu[i], mu[j], ALPHAS, "slerp") for i, j in chosen]
    )  # (P * K, Z)
    latent = prior_tokens(model, codes, None, 0).reshape((len(chosen), ALPHAS) + a.shape[1:])
    data = np.stack([data_space_path(x, y, alphas, rng) for x, y in zip(a, b, strict=True)])
    data_feats, _ = window_features(config, tokens)
    middle = ALPHAS // 2
    for name, path in (("latent", latent), ("data", data)):  # (P, K, T, S)
        result[name] = {
            "hamming_to_start": pooled_distance(path, a, d_ab).round(4).tolist(),  # (K,)
            "hamming_to_end": pooled_distance(path, b, d_ab).round(4).tolist(),
            "middle": _middle(config, data_feats, path[:, middle]),
        }
    return result
