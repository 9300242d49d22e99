"""Compact window storage: class indices instead of one-hot tensors (prepare's shards and
`convert`'s .npz files).

A window is stored as tokens (T, S): one class index per step and stream (S = 1 for melody and
drums, 3 for trio). Every converter's inputs and outputs are a function of these indices, so a
dataset keeps 1/90 (melody) to 1/512 (drums) of the one-hot bytes and expands batches on the fly.
"""

from __future__ import annotations

import os
from pathlib import Path

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


WINDOWS_FORMAT = "musicvae-windows-1"


def save_windows(path, data: DataConfig, config_name: str, tensors: ConverterTensors) -> None:
    """Writes windows compactly to a compressed .npz: `tokens` (N, T, S) int16 class indices,
    `lengths` (N,) int32, `controls` when the converter has any, and the config's name.
    load_windows expands them back to one-hot. Atomic (temp file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = dict(
        tokens=tensors_to_tokens(data, tensors),
        lengths=np.asarray(tensors.lengths, np.int32),
        config=np.asarray(config_name),
        format=np.asarray(WINDOWS_FORMAT),
    )
    if tensors.controls.shape[-1]:
        arrays["controls"] = tensors.controls
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)
    os.replace(tmp, path)


def load_windows(path, data: DataConfig | None = None) -> ConverterTensors:
    """A .npz from save_windows (`musicvae convert`) -> ConverterTensors with the one-hot
    inputs (N, T, D_in) and outputs (N, T, D_out) that the converter gave; `data` defaults to
    the settings of the config named in the file."""
    with np.load(path) as f:
        if "tokens" not in f or str(f.get("format", "")) != WINDOWS_FORMAT:
            raise ValueError(f"{path}: not a windows file of `musicvae convert`")
        tokens, lengths = f["tokens"], f["lengths"]
        controls = f["controls"] if "controls" in f else None
        name = str(f["config"])
    if data is None:
        from musicvae.configs import get_config

        data = get_config(name).data
    n, t = tokens.shape[:2]
    if controls is None:
        controls = np.zeros((n, t, 0), bool)
    return ConverterTensors(
        tokens_to_inputs(data, tokens), tokens_to_outputs(data, tokens), controls, lengths
    )
