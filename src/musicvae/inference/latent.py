"""Latent-space paths: linear and spherical interpolation between two codes (pure numpy).

Magenta wrote `_slerp` twice (music_vae/trained_model.py and the interpolation script); this is
the one implementation, used through `interpolation_path` by TrainedModel.interpolate (and so by
the interpolate command and the demo).
"""

from __future__ import annotations

import numpy as np

# Below this sin(angle) the two directions are treated as (anti)parallel: slerp's weights
# sin(t w) / sin(w) lose all precision there, and the great circle is (nearly) the line.
PARALLEL_SIN = 1e-6


def lerp(a: np.ndarray, b: np.ndarray, t) -> np.ndarray:
    """(1 - t) a + t b: a, b (Z,), t scalar or (S,) -> (Z,) or (S, Z)."""
    dtype = np.result_type(np.asarray(a), np.asarray(b), np.float32)
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    t = np.asarray(t, np.float64)[..., None]  # (S, 1) or (1,)
    out = (1.0 - t) * a + t * b  # (S, Z) or (Z,)
    return out.astype(dtype, copy=False)


def slerp(a: np.ndarray, b: np.ndarray, t) -> np.ndarray:
    """Spherical interpolation, Magenta's `_slerp`: w = angle(a, b),
    sin((1 - t) w) / sin(w) a + sin(t w) / sin(w) b. a, b (Z,), t scalar or (S,) -> (Z,) or (S, Z).

    Equal norms stay on that sphere at every t; with unequal norms the norm stays between the
    endpoints' norms whenever w <= 90 degrees (the usual case: codes in a wide latent space are
    nearly orthogonal), but Magenta's formula can leave that range for obtuse angles (see
    tests/inference/test_latent.py). Nearly parallel (or antiparallel) codes fall back to lerp.
    """
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a64.shape != b64.shape or a64.ndim != 1:
        raise ValueError(f"slerp needs two vectors of one shape, got {a64.shape} and {b64.shape}")
    norms = np.linalg.norm(a64) * np.linalg.norm(b64)
    if norms == 0:
        return lerp(a, b, t)
    cos = np.clip(np.dot(a64, b64) / norms, -1.0, 1.0)
    omega = np.arccos(cos)
    sin = np.sin(omega)
    if sin < PARALLEL_SIN:
        return lerp(a, b, t)
    t64 = np.asarray(t, np.float64)[..., None]  # (S, 1) or (1,)
    out = np.sin((1.0 - t64) * omega) / sin * a64 + np.sin(t64 * omega) / sin * b64
    return out.astype(np.result_type(np.asarray(a), np.asarray(b), np.float32), copy=False)


def interpolation_path(a: np.ndarray, b: np.ndarray, num_steps: int, method: str) -> np.ndarray:
    """num_steps codes from a to b (both included), evenly spaced in t: -> (num_steps, Z)."""
    if method not in ("slerp", "lerp"):
        raise ValueError(f"method must be 'slerp' or 'lerp', got {method!r}")
    ts = np.linspace(0.0, 1.0, num_steps)  # (S,)
    path = slerp(a, b, ts) if method == "slerp" else lerp(a, b, ts)
    return np.atleast_2d(path)
