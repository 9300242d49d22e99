"""The Blend pad's mix: a bilinear combination of four corner codes (Beat Blender)."""

from __future__ import annotations

import numpy as np

CORNERS = ("top-left", "top-right", "bottom-left", "bottom-right")


def bilinear_weights(x: float, y: float) -> np.ndarray:
    """Weights (4,) of the corners in CORNERS order for a point (x, y) in [0, 1]^2, x to the
    right and y downwards; they sum to 1 and are 1 at their own corner."""
    if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
        raise ValueError(f"the blend point must lie in [0, 1] x [0, 1], got ({x}, {y})")
    return np.array([(1 - x) * (1 - y), x * (1 - y), (1 - x) * y, x * y], np.float64)


def bilinear_mix(corners, x: float, y: float) -> np.ndarray:
    """corners (4, Z) in CORNERS order -> the code (Z,) at (x, y)."""
    corners = np.asarray(corners, np.float64)
    if corners.ndim != 2 or corners.shape[0] != 4:
        raise ValueError(f"a blend needs 4 corner codes (4, Z), got shape {list(corners.shape)}")
    return (bilinear_weights(x, y) @ corners).astype(np.float32)  # (Z,)
