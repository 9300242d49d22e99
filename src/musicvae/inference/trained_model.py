"""TrainedModel: a MusicVAE for inference under Magenta's names (music_vae/trained_model.py).

Unlike Magenta's, it has no batch size fixed at build time: a request of any size runs in
chunks of `batch_size` sequences. Arrays in and out are numpy; the model runs in eval mode
under torch.inference_mode on `device` (the CPU by default), in fp32 (exact, the default) or
with `precision="bf16"` (bf16 matrix products, fp32 state).

Sequence-level methods (Magenta's and magenta.js's): encode, decode, sample, interpolate,
similar, reconstruct, apply_attribute. Inputs may be MIDI paths, NoteSequences or window
tensors; outputs are NoteSequences. `seed` makes a call reproducible; temperature None or 0
decodes by argmax.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from musicvae.configs import Config, with_any_program
from musicvae.data.converters import build_converter
from musicvae.data.converters.base import ConverterTensors, check_qpm
from musicvae.inference import inputs as _inputs
from musicvae.inference.latent import interpolation_path
from musicvae.inference.model_dir import (
    DEFAULT_TEMPERATURE,
    load_model_dir,
    recommended_temperature,
)
from musicvae.models.vae import MusicVAE
from musicvae.music.notes import NoteSequence

MAX_REQUEST = 10000  # sequences per sample/similar/interpolate call (chunked, but bounded)
MAX_LENGTH = 4096  # decoded steps of a flat decoder (256 bars of 16ths)
# fp32: exact (the parity tests' path). bf16: matrix products in bf16 with fp32 LSTM state,
# faster on CPUs with AVX-512 BF16 / AMX; results agree with fp32 up to bf16 rounding
# (docs/BENCHMARKS.md states the measured agreement).
PRECISIONS = ("fp32", "bf16")


def check_count(value, name: str, low: int = 1, high: int = MAX_REQUEST) -> int:
    """An integer request size within low..high, or a ValueError saying so."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer in {low}..{high}, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be in {low}..{high}, got {value}")
    return int(value)


def _temperature(value) -> float | None:
    """None or 0 = argmax; otherwise a positive finite softmax temperature."""
    if value is None or value == 0:
        return None
    value = float(value)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"temperature must be None, 0 (argmax) or positive, got {value}")
    return value


def _subseed(seed: int | None, stream: int) -> int | None:
    """Independent seeds for a call's random parts (codes, decoding) from one user seed."""
    if seed is None:
        return None
    return int(np.random.SeedSequence([int(seed), stream]).generate_state(1)[0])


def _normal(shape: tuple[int, ...], seed: int | None) -> np.ndarray:
    """Standard normal draws (CPU generator, so codes are the same on every device)."""
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    return torch.randn(shape, generator=generator).numpy()


class TrainedModel:
    """encode_tensors / teacher_forced_logits / decode_to_tensors over numpy arrays."""

    def __init__(
        self,
        model: MusicVAE,
        config: Config,
        device: str | torch.device = "cpu",
        batch_size: int = 256,
        precision: str = "fp32",
    ):
        from musicvae.devices import resolve_device

        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        self.precision = precision
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        self.config = config
        self.batch_size = batch_size
        self.attribute_vectors: dict[str, np.ndarray] = {}
        self.source: str | None = None  # the model folder or run it was loaded from

    def __repr__(self) -> str:
        where = f", source={self.source!r}" if self.source else ""
        return (
            f"TrainedModel({self.config.name!r}, kind={self.config.data.kind!r}, "
            f"bars={self.config.data.slice_bars}, z_size={self.z_size}, "
            f"device={str(self.device)!r}{where})"
        )

    @classmethod
    def load(
        cls,
        path: str | Path,
        device: str | torch.device = "cpu",
        batch_size: int = 256,
        any_program: bool = False,
        precision: str = "fp32",
    ) -> TrainedModel:
        """From a model folder (`musicvae import-magenta` writes one), a training run, or a
        bundled model's name (folk-mel_2bar, folk-mel_16bar). `any_program`: a melody model
        reads melodies on every non-drum instrument of its inputs (default: its config's rule;
        Magenta's 2-bar models read programs 0-31)."""
        from musicvae.devices import resolve_device
        from musicvae.inference.bundled import model_location

        device = resolve_device(device)  # an absent device fails before the weights load
        path = model_location(path)
        model, config = load_model_dir(path, device)
        if any_program:
            config = with_any_program(config)
        trained = cls(model, config, device, batch_size, precision)
        trained.source = str(path)
        return trained

    @classmethod
    def bundled(
        cls,
        device: str | torch.device = "cpu",
        batch_size: int = 256,
        any_program: bool = False,
        precision: str = "fp32",
        name: str = "folk-mel_2bar",
    ) -> TrainedModel:
        """A model that ships with the package: the folk 2-bar melody model (default) or
        "folk-mel_16bar", the hierarchical 16-bar one."""
        from musicvae.inference.bundled import bundled_model_dir

        return cls.load(bundled_model_dir(name), device, batch_size, any_program, precision)

    def sampling_temperature(self, temperature: float | str | None = "card") -> float | None:
        """The temperature to sample at (None = argmax): `temperature` itself, or for "card"
        the one this model's card recommends (measured by `musicvae evaluate --card`), else 0.5."""
        if temperature == "card":
            found = recommended_temperature(self.source)
            temperature = DEFAULT_TEMPERATURE if found is None else found
        return _temperature(temperature)  # 0 -> None (argmax); a bad value fails here

    def with_any_program(self) -> TrainedModel:
        """This model reading melodies on every non-drum program (melody models only)."""
        config = with_any_program(self.config)
        other = TrainedModel(self.model, config, self.device, self.batch_size, self.precision)
        other.source = self.source
        other.attribute_vectors = dict(self.attribute_vectors)
        return other

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
        bf16 = self.precision == "bf16"
        with torch.inference_mode(), torch.autocast(self.device.type, torch.bfloat16, enabled=bf16):
            for start in range(0, batch, self.batch_size):
                parts.append(run(slice(start, min(start + self.batch_size, batch))))
        stacked = (p[0] if len(p) == 1 else torch.cat(p) for p in zip(*parts, strict=True))
        return tuple(t.float().cpu().numpy() for t in stacked)  # one chunk: no copy

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
        temperature = _temperature(temperature)
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

    # ------------------------------------------------------------ sequences

    def windows(self, sequence) -> ConverterTensors:
        """Every distinct window of one input (MIDI path, NoteSequence or (T, D_in) tensor) in
        the converter's order; NoExtractedExamplesError if none."""
        return _inputs.item_windows(
            self.config, sequence, _inputs.label_of(sequence, 0), self.input_depth
        )

    def window_sequences(self, sequence) -> list[NoteSequence]:
        """The windows of one input as the model sees them, as NoteSequences at the input's
        tempo (120 qpm for a window tensor)."""
        (sequence,) = _inputs.read_paths([sequence])
        outputs = self.windows(sequence).outputs
        return build_converter(self.config.data).from_tensors(outputs, _inputs.tempo_of(sequence))

    def encode(
        self, sequences, seed: int | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Inputs that each yield exactly one window (MIDI paths, NoteSequences, (T, D_in)
        windows or a (B, T, D_in) batch) -> z, mu, sigma, each (B, Z). NoExtractedExamplesError
        / MultipleExtractedExamplesError name the input that has none / several."""
        items = _inputs.as_items(sequences)
        windows = [
            _inputs.one_window(self.config, item, _inputs.label_of(item, i), self.input_depth)
            for i, item in enumerate(items)
        ]
        return self._encode_windows(windows, seed)

    def _encode_windows(self, windows: list[ConverterTensors], seed: int | None = None):
        if not windows:
            empty = np.zeros((0, self.z_size), np.float32)
            return empty, empty.copy(), empty.copy()
        steps = {w.inputs.shape[1] for w in windows}
        if len(steps) > 1:
            raise ValueError(
                f"windows of different lengths {sorted(steps)} cannot be encoded together"
            )
        inputs = np.concatenate([w.inputs for w in windows]).astype(np.float32)  # (B, T, D_in)
        lengths = np.concatenate([w.lengths for w in windows])
        return self.encode_tensors(inputs, lengths, seed)

    def decode(
        self,
        z,
        length: int | None = None,
        temperature: float | None = 1.0,
        seed: int | None = None,
        qpm: float | None = None,
    ) -> list[NoteSequence]:
        """z (B, Z) (or one (Z,) code) -> B NoteSequences decoded free-running for `length`
        steps (default: the config's window); temperature None or 0 = argmax; tempo `qpm`
        (default 120) and a 4/4 time signature."""
        z = np.asarray(z, np.float32)
        z = z[None] if z.ndim == 1 else z
        if length is not None:
            check_count(length, "length", 1, MAX_LENGTH)
        check_qpm(qpm)  # before the work
        samples = self.decode_to_tensors(z, length, _temperature(temperature), seed)
        return build_converter(self.config.data).from_tensors(samples, qpm)

    def sample(
        self,
        n: int,
        length: int | None = None,
        temperature: float | None = 1.0,
        same_z: bool = False,
        seed: int | None = None,
        qpm: float | None = None,
    ) -> list[NoteSequence]:
        """n sequences decoded from z ~ N(0, I) (one z shared by all with `same_z`), at tempo
        `qpm` (default 120)."""
        n = check_count(n, "n")
        z = _normal((1 if same_z else n, self.z_size), _subseed(seed, 0))  # (n or 1, Z)
        if same_z:
            z = np.repeat(z, n, axis=0)  # (n, Z)
        return self.decode(z, length, temperature, _subseed(seed, 1), qpm)

    def interpolate(
        self,
        start,
        end,
        num_steps: int,
        method: str = "slerp",
        length: int | None = None,
        temperature: float | None = None,
        seed: int | None = None,
        qpm: float | None = None,
    ) -> list[NoteSequence]:
        """num_steps sequences along the slerp (or lerp) path between the mu's of two inputs,
        endpoints included: with temperature None the ends are their reconstructions. Tempo:
        `qpm`, else the start's (a MIDI file or NoteSequence), else 120."""
        num_steps = check_count(num_steps, "num_steps", 2)
        start, end = _inputs.read_paths([start, end])
        qpm = _inputs.tempo_of(start) if qpm is None else qpm
        _, mu, _ = self.encode([start, end])
        path = interpolation_path(mu[0], mu[1], num_steps, method)  # (S, Z)
        return self.decode(path, length, temperature, seed, qpm)

    def similar(
        self,
        sequence,
        n: int,
        similarity: float,
        temperature: float | None = None,
        seed: int | None = None,
        qpm: float | None = None,
    ) -> list[NoteSequence]:
        """n variations of one input (magenta.js): z = s * mu + (1 - s) * z_random; at tempo
        `qpm`, else the input's, else 120."""
        n = check_count(n, "n")
        if not 0.0 <= float(similarity) <= 1.0:
            raise ValueError(f"similarity must be in 0..1, got {similarity}")
        (sequence,) = _inputs.read_paths([sequence])
        qpm = _inputs.tempo_of(sequence) if qpm is None else qpm
        _, mu, _ = self.encode([sequence])  # (1, Z)
        noise = _normal((n, self.z_size), _subseed(seed, 0))  # (n, Z)
        z = similarity * mu + (1.0 - similarity) * noise  # (n, Z)
        return self.decode(z, None, temperature, _subseed(seed, 1), qpm)

    def reconstruct(
        self,
        sequences,
        temperature: float | None = None,
        seed: int | None = None,
        qpm: float | None = None,
    ) -> list[list[NoteSequence]]:
        """Every window of each input, decoded from its mu: one list per input, in the order
        of `windows(input)`, each at tempo `qpm`, else its input's, else 120."""
        check_qpm(qpm)
        items = _inputs.read_paths(_inputs.as_items(sequences))
        windows = [
            _inputs.item_windows(self.config, item, _inputs.label_of(item, i), self.input_depth)
            for i, item in enumerate(items)
        ]
        _, mu, _ = self._encode_windows(windows)
        samples = self.decode_to_tensors(mu, None, _temperature(temperature), seed)
        converter = build_converter(self.config.data)
        bounds = np.cumsum([0] + [len(w) for w in windows])
        return [
            converter.from_tensors(samples[lo:hi], _inputs.tempo_of(item) if qpm is None else qpm)
            for item, lo, hi in zip(items, bounds[:-1], bounds[1:], strict=True)
        ]

    # ------------------------------------------------------------ attribute vectors

    def load_attribute_vectors(self, path: str | Path) -> dict[str, np.ndarray]:
        """Attribute vectors from `musicvae attributes compute` (checked against this model)."""
        from musicvae.inference.attributes import load_vectors

        vectors, info = load_vectors(path)
        made_for = info.get("config", "another model")
        for name, v in vectors.items():
            if v.shape != (self.z_size,):
                raise ValueError(
                    f"{path}: vector {name} has shape {list(v.shape)}, but {self.config.name} "
                    f"codes have {self.z_size} dims (the vectors were made for {made_for})"
                )
        self.attribute_vectors = vectors
        return vectors

    def apply_attribute(self, z, name_or_vector, amount: float = 1.0) -> np.ndarray:
        """z (B, Z) or (Z,) moved by `amount` times an attribute vector (a name among the
        loaded vectors, or a (Z,) array) -> same shape."""
        if isinstance(name_or_vector, str):
            vectors = self.attribute_vectors
            if name_or_vector not in vectors:
                known = ", ".join(vectors) or "none loaded (use load_attribute_vectors)"
                raise ValueError(f"no attribute vector {name_or_vector!r}; available: {known}")
            vector = vectors[name_or_vector]
        else:
            vector = np.asarray(name_or_vector, np.float32)
        if vector.shape != (self.z_size,):
            raise ValueError(
                f"an attribute vector must be ({self.z_size},), got {list(vector.shape)}"
            )
        if not np.isfinite(amount):
            raise ValueError(f"amount must be finite, got {amount}")
        return (np.asarray(z, np.float32) + np.float32(amount) * vector).astype(np.float32)
