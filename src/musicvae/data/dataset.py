"""Reading a prepared dataset: memory-mapped token shards -> one-hot training batches."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from musicvae.configs import Config
from musicvae.data.converters import build_converter


class DatasetError(ValueError):
    """A dataset folder that is missing, incomplete, empty or built for another config."""


class WindowDataset:
    """The windows of one split of a dataset made by `musicvae prepare`, memory-mapped."""

    def __init__(self, root: str | Path, split: str, config: Config):
        self.root = Path(root)
        self.split = split
        self.config = config
        manifest_path = self.root / "manifest.json"
        if not self.root.is_dir():
            raise DatasetError(
                f"dataset folder {self.root} does not exist; make one with "
                f"`musicvae prepare --config {config.name} ...`"
            )
        if not manifest_path.exists():
            raise DatasetError(
                f"{self.root} has no manifest.json: not a prepared dataset, "
                "or its `musicvae prepare` run has not finished"
            )
        manifest = json.loads(manifest_path.read_text())
        self._check_compatible(manifest)
        shards = [
            np.load(self.root / f"{s['name']}.tokens.npy", mmap_mode="r")
            for s in manifest["shards"].get(split, [])
        ]
        shards = [s for s in shards if len(s)]
        if not shards:
            raise DatasetError(
                f"{self.root} has no {split} windows ({manifest['counts']['windows']})"
            )
        self.shards = shards
        self.offsets = np.cumsum([0] + [len(s) for s in shards])
        self.manifest = manifest

    def _check_compatible(self, manifest: dict) -> None:
        """The windows must be those of this config's data settings (same converter)."""
        data = manifest.get("data", {})
        ours = self.config.data
        mismatched = [
            k
            for k in (
                "kind",
                "slice_bars",
                "steps_per_quarter",
                "min_pitch",
                "max_pitch",
                "roll_input",
            )
            if data.get(k) != getattr(ours, k)
        ]
        if mismatched:
            raise DatasetError(
                f"{self.root} was prepared for config {manifest.get('config')!r}, whose data "
                f"differ from {self.config.name!r} in {', '.join(mismatched)}"
            )

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def tokens(self, indices: np.ndarray) -> np.ndarray:
        """(N,) window indices -> (N, T, S) int16 tokens."""
        indices = np.asarray(indices)
        shard = np.searchsorted(self.offsets, indices, side="right") - 1
        out = np.empty((len(indices),) + self.shards[0].shape[1:], np.int16)
        for k in np.unique(shard):
            sel = shard == k
            out[sel] = self.shards[k][indices[sel] - self.offsets[k]]
        return out

    def batch(self, indices: np.ndarray, tokens: np.ndarray | None = None):
        """-> inputs (N, T, D_in) float32, outputs (N, T, D_out) float32, lengths (N,) int64."""
        tokens = self.tokens(indices) if tokens is None else tokens
        converter = build_converter(self.config.data)
        inputs = converter.tokens_to_inputs(tokens).astype(np.float32)
        outputs = converter.tokens_to_outputs(tokens).astype(np.float32)
        lengths = np.full(len(tokens), tokens.shape[1], np.int64)
        return inputs, outputs, lengths
