"""Attribute vectors applied to held-out codes (the paper's section 5.3, Figure 6).

For each attribute vector v_i (mean code of the top quartile minus the bottom quartile,
inference/attributes.py), held-out codes mu are decoded by argmax with and without v_i added,
and every attribute j is measured on both: matrix[i][j] = (mean_j(moved by v_i) -
mean_j(reconstructed)) / |mean_j(reconstructed)|, the relative change (0.25 = +25%).
Melody models only.
"""

from __future__ import annotations

import numpy as np

from musicvae.inference.attributes import ATTRIBUTES, events_from_classes, measure
from musicvae.inference.trained_model import TrainedModel


def relative_change(before: float, after: float) -> float:
    """(after - before) / |before|; 0 when both are 0, inf (signed) when only before is."""
    if before == 0:
        return 0.0 if after == 0 else float(np.copysign(np.inf, after))
    return (after - before) / abs(before)


def attribute_matrix(
    model: TrainedModel, mu: np.ndarray, vectors: dict[str, np.ndarray], amount: float = 1.0
) -> dict:
    """mu (N, Z) held-out codes, vectors {name: (Z,)} -> {attributes, matrix (A x A), base,
    moved, windows}; rows: the vector applied, columns: the attribute measured."""
    names = [n for n in ATTRIBUTES if n in vectors]
    min_pitch = model.config.data.min_pitch

    def measured(codes):
        samples = model.decode_to_tensors(codes, None, None)  # (N, T, D) argmax
        values = measure(events_from_classes(samples, min_pitch), names)
        return {k: float(v.mean()) for k, v in values.items()}

    base = measured(mu)
    moved = {i: measured(mu + np.float32(amount) * vectors[i]) for i in names}
    matrix = [[relative_change(base[j], moved[i][j]) for j in names] for i in names]
    return {
        "attributes": names,
        "amount": float(amount),
        "windows": len(mu),
        "base": base,
        "moved": moved,
        "matrix": matrix,
    }
