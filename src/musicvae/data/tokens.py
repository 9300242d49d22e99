"""Compact window storage: class indices instead of one-hot tensors.

A window is stored as tokens (T, S): one class index per step and stream (S = 1 for melody and
drums, 3 for trio). Every converter's inputs and outputs are a function of these indices, so a
dataset keeps 1/90 (melody) to 1/512 (drums) of the one-hot bytes and expands batches on the fly.
"""

from __future__ import annotations

import numpy as np

from musicvae.configs import DataConfig
from musicvae.data.converters.base import ConverterTensors, one_hot
from musicvae.music.drums import masks_to_roll


def stream_depths(data: DataConfig) -> tuple[int, ...]:
    """Output depth of each stream (90 | 512 | 90, 90, 512)."""
    converter = data.converter()
    if data.kind == "trio":
        return converter.split_depths
    return (converter.output_depth,)


def tensors_to_tokens(data: DataConfig, tensors: ConverterTensors) -> np.ndarray:
    """(N, T, D_out) one-hot outputs -> (N, T, S) int16 class indices."""
    outputs = tensors.outputs
    bounds = np.cumsum((0,) + stream_depths(data))
    streams = [
        outputs[..., lo:hi].argmax(-1) for lo, hi in zip(bounds[:-1], bounds[1:], strict=False)
    ]
    return np.stack(streams, axis=-1).astype(np.int16)


def tokens_to_outputs(data: DataConfig, tokens: np.ndarray) -> np.ndarray:
    """(..., T, S) class indices -> (..., T, D_out) bool one-hot decoder targets."""
    tokens = np.asarray(tokens, dtype=np.int64)
    parts = [one_hot(tokens[..., s], d) for s, d in enumerate(stream_depths(data))]
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=-1)


def tokens_to_inputs(data: DataConfig, tokens: np.ndarray) -> np.ndarray:
    """(..., T, S) class indices -> (..., T, D_in) bool encoder inputs (drum roll when set)."""
    if data.kind == "drums" and data.roll_input:
        masks = np.asarray(tokens[..., 0], dtype=np.int64)
        roll = masks_to_roll(masks)  # (..., T, 9)
        return np.concatenate([roll, (masks == 0)[..., None]], axis=-1)
    return tokens_to_outputs(data, tokens)
