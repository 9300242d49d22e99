"""slerp / lerp against hand-computed values, and the norm property."""

from __future__ import annotations

import numpy as np
import pytest

from musicvae.inference.latent import interpolation_path, lerp, slerp

R2 = np.sqrt(2.0)


def test_lerp_hand_values():
    np.testing.assert_allclose(lerp([1.0, 0.0], [0.0, 1.0], 0.25), [0.75, 0.25])
    np.testing.assert_allclose(
        lerp([2.0, 4.0], [4.0, 0.0], [0.0, 0.5, 1.0]), [[2, 4], [3, 2], [4, 0]]
    )


def test_slerp_hand_values():
    # 90 degrees apart: sin((1 - t) pi/2) a + sin(t pi/2) b.
    np.testing.assert_allclose(slerp([1.0, 0.0], [0.0, 1.0], 0.5), [R2 / 2, R2 / 2], atol=1e-12)
    np.testing.assert_allclose(slerp([1.0, 0.0], [0.0, 1.0], 1 / 3), [np.sqrt(3) / 2, 0.5])
    np.testing.assert_allclose(slerp([2.0, 0.0], [0.0, 4.0], 0.5), [R2, 2 * R2])
    # 60 degrees apart, equal norms: the path stays on the unit circle at 20 degrees.
    b = [0.5, np.sqrt(3) / 2]
    np.testing.assert_allclose(
        slerp([1.0, 0.0], b, 1 / 3), [np.cos(np.pi / 9), np.sin(np.pi / 9)], atol=1e-12
    )


def test_endpoints_are_exact_and_shapes():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=8).astype(np.float32), rng.normal(size=8).astype(np.float32)
    for method in ("slerp", "lerp"):
        path = interpolation_path(a, b, 5, method)
        assert path.shape == (5, 8) and path.dtype == np.float32
        assert np.array_equal(path[0], a) and np.array_equal(path[-1], b)
    assert slerp(a, b, 0.3).shape == (8,)


def test_nearly_parallel_zero_and_identical_vectors():
    a = np.array([1.0, 0.0])
    for b in ([1.0, 1e-9], [3.0, 0.0], [-2.0, 1e-12]):  # parallel, scaled, antiparallel
        out = slerp(a, b, [0.0, 0.25, 1.0])
        assert np.all(np.isfinite(out))
        np.testing.assert_allclose(out, lerp(a, b, [0.0, 0.25, 1.0]), atol=1e-9)
    np.testing.assert_allclose(slerp(a, a, 0.7), a)
    np.testing.assert_allclose(slerp([0.0, 0.0], [0.0, 2.0], 0.5), [0.0, 1.0])


def test_slerp_keeps_norms_between_the_endpoints():
    rng = np.random.default_rng(1)
    ts = np.linspace(0, 1, 11)
    for _ in range(200):
        a, b = rng.normal(size=16), rng.normal(size=16)
        # Equal norms: on that sphere at every angle.
        same = slerp(a, b / np.linalg.norm(b) * np.linalg.norm(a), ts)
        np.testing.assert_allclose(np.linalg.norm(same, axis=1), np.linalg.norm(a), rtol=1e-9)
        # Unequal norms, angle <= 90 degrees (nearly orthogonal codes are the usual case).
        b = b * rng.uniform(0.2, 5.0)
        if a @ b < 0:
            b = -b
        norms = np.linalg.norm(slerp(a, b, ts), axis=1)
        lo, hi = sorted((np.linalg.norm(a), np.linalg.norm(b)))
        assert np.all(norms >= lo * (1 - 1e-9)) and np.all(norms <= hi * (1 + 1e-9))


def test_magentas_formula_leaves_the_norm_range_at_obtuse_angles():
    """Pinned limitation of Magenta's _slerp, which we keep for parity: at 170 degrees with
    norms 1 and 2, t = 0.1 gives norm 0.9135 < 1. By hand: alpha = sin 153 / sin 170 = 2.61443,
    beta = sin 17 / sin 170 = 1.68370, norm^2 = alpha^2 + 4 beta^2 + 4 alpha beta cos 170
    = 6.83523 + 11.33934 - 17.34011 = 0.83447."""
    w = np.deg2rad(170)
    out = slerp([1.0, 0.0], [2 * np.cos(w), 2 * np.sin(w)], 0.1)
    assert np.linalg.norm(out) == pytest.approx(0.9135, abs=1e-4)


def test_bad_arguments():
    with pytest.raises(ValueError, match="method must be 'slerp' or 'lerp'"):
        interpolation_path([1.0], [2.0], 3, "cubic")
    with pytest.raises(ValueError, match="two vectors of one shape"):
        slerp([1.0, 0.0], [1.0, 0.0, 0.0], 0.5)
