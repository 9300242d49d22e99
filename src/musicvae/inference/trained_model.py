"""TrainedModel: a MusicVAE for inference under Magenta's names (music_vae/trained_model.py).

Unlike Magenta's, it has no batch size fixed at build time: a request of any size runs in
chunks of `batch_size` sequences. Arrays in and out are numpy; the model runs in eval mode
under torch.inference_mode on `device` (the CPU by default).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from musicvae.configs import Config
from musicvae.inference.model_dir import load_model_dir
from musicvae.models.vae import MusicVAE


class TrainedModel:
    """encode_tensors / teacher_forced_logits / decode_to_tensors over numpy arrays."""

    def __init__(
        self,
        model: MusicVAE,
        config: Config,
        device: str | torch.device = "cpu",
        batch_size: int = 256,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.config = config
        self.batch_size = batch_size

    @classmethod
    def load(
        cls, path: str | Path, device: str | torch.device = "cpu", batch_size: int = 256
    ) -> TrainedModel:
        """From a model folder (`musicvae import-magenta` writes one) or a training run."""
        model, config = load_model_dir(path, device)
        return cls(model, config, device, batch_size)

    # ------------------------------------------------------------ sizes

    @property
    def z_size(self) -> int:
        return self.model.z_size

    @property
    def input_depth(self) -> int:
        return self.model.encoder.layers[0].input_size

    @property
    def output_depth(self) -> int:
        return self.model.output_depth

    @property
    def max_seq_len(self) -> int:
        return self.config.hparams.max_seq_len

    # ------------------------------------------------------------ helpers

    def _array(self, value, ndim: int, depth: int, name: str) -> np.ndarray:
        array = np.asarray(value, dtype=np.float32)
        if array.ndim != ndim or array.shape[-1] != depth:
            shape = "(B, T, D)" if ndim == 3 else "(B, D)"
            raise ValueError(
                f"{name} must be {shape} with D = {depth}, got shape {list(array.shape)}"
            )
        return array

    def _lengths(self, lengths, batch: int, steps: int) -> np.ndarray:
        if lengths is None:
            return np.full(batch, steps, dtype=np.int64)
        lengths = np.asarray(lengths, dtype=np.int64).reshape(-1)
        if lengths.shape != (batch,) or (batch and (lengths.min() < 1 or lengths.max() > steps)):
            raise ValueError(f"lengths must be {batch} values in 1..{steps}, got {lengths}")
        return lengths

    def _check_length(self, steps: int) -> None:
        if self.config.level_lengths and steps != self.max_seq_len:
            raise ValueError(
                f"{self.config.name} is hierarchical: sequences must be {self.max_seq_len} "
                f"steps, got {steps}"
            )

    def _chunked(self, batch: int, run: Callable[[slice], tuple[torch.Tensor, ...]]):
        """run(rows) on chunks of batch_size rows -> tuple of numpy arrays (rows stacked)."""
        parts: list[tuple[torch.Tensor, ...]] = []
        with torch.inference_mode():
            for start in range(0, batch, self.batch_size):
                parts.append(run(slice(start, min(start + self.batch_size, batch))))
        return tuple(torch.cat(p).float().cpu().numpy() for p in zip(*parts, strict=True))

    def _tensor(self, array: np.ndarray, rows: slice) -> torch.Tensor:
        return torch.from_numpy(array[rows]).to(self.device)

    # ------------------------------------------------------------ Magenta's API

    def encode_tensors(
        self, inputs, lengths=None, seed: int | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """inputs (B, T, D_in), lengths (B,) (default: T) -> z, mu, sigma, each (B, Z);
        z = mu + sigma * eps, eps ~ N(0, I) drawn for the whole batch (seeded if `seed`)."""
        inputs = self._array(inputs, 3, self.input_depth, "inputs")
        batch, steps = inputs.shape[:2]
        lengths = self._lengths(lengths, batch, steps)
        if batch == 0:
            empty = np.zeros((0, self.z_size), np.float32)
            return empty, empty.copy(), empty.copy()
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        eps = torch.randn((batch, self.z_size), generator=generator)  # (B, Z), chunk-independent

        def run(rows: slice):
            mu, sigma = self.model.encode(
                self._tensor(inputs, rows), torch.from_numpy(lengths[rows]).to(self.device)
            )  # (b, Z) each
            return mu + sigma * eps[rows].to(self.device), mu, sigma

        return self._chunked(batch, run)

    def teacher_forced_logits(self, outputs, lengths, z) -> np.ndarray:
        """outputs (B, T, D), lengths (B,), z (B, Z) -> logits (B, T, D) with the ground truth
        fed back; logits past a sequence's length are 0 (as in Magenta's outputs)."""
        outputs = self._array(outputs, 3, self.output_depth, "outputs")
        batch, steps = outputs.shape[:2]
        z = self._array(z, 2, self.z_size, "z")
        if len(z) != batch:
            raise ValueError(f"z has {len(z)} rows for {batch} sequences")
        lengths = self._lengths(lengths, batch, steps)
        self._check_length(steps)
        if batch == 0:
            return np.zeros((0, steps, self.output_depth), np.float32)
        valid = torch.from_numpy(np.arange(steps)[None, :] < lengths[:, None])  # (B, T)

        def run(rows: slice):
            logits = self.model.teacher_forced_logits(
                self._tensor(outputs, rows), self._tensor(z, rows)
            )  # (b, T, D)
            return (logits * valid[rows, :, None].to(self.device),)

        return self._chunked(batch, run)[0]

    def decode_to_tensors(
        self,
        z,
        length: int | None = None,
        temperature: float | None = None,
        seed: int | None = None,
    ) -> np.ndarray:
        """z (B, Z) -> one-hot samples (B, length, D) (per stream for trio), decoded free-running;
        temperature None or 0 = argmax, else softmax(logits / temperature) sampling
        (reproducible with `seed` for a given batch_size and device)."""
        z = self._array(z, 2, self.z_size, "z")
        length = self.max_seq_len if length is None else int(length)
        self._check_length(length)
        if len(z) == 0:
            return np.zeros((0, length, self.output_depth), np.float32)
        generator = None
        if temperature and seed is not None:
            generator = torch.Generator(device=self.device).manual_seed(seed)

        def run(rows: slice):
            samples, _ = self.model.decoder.sample(
                self._tensor(z, rows), length, temperature, generator
            )  # (b, T, D)
            return (samples,)

        return self._chunked(len(z), run)[0]
