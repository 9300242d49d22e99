"""The generation commands as library functions: sample, interpolate, reconstruct, encode,
attribute vectors (compute) and attribute moves (apply).

Each takes typed keyword parameters (a model folder, a loaded TrainedModel or None for the
bundled folk model; an output folder; a seed or None for a fresh one), writes its files
(MIDI, piano-roll PNG, WAV when FluidSynth is there) and returns a result dataclass with what
it wrote and measured. They log and never print: the CLI (musicvae.cli.generate) prints the
results, a web server or a notebook can use them as they are. Errors a user can act on are
ValueErrors with a one-line message.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from musicvae.data.converters import build_converter
from musicvae.inference.trained_model import TrainedModel, check_count
from musicvae.music.notes import NoteSequence

log = logging.getLogger(__name__)

ModelSpec = str | os.PathLike | TrainedModel | None


# ------------------------------------------------------------------ results


@dataclass(frozen=True)
class Generated:
    """Files written for a set of sequences, and whether any WAV could be rendered."""

    model: str  # config name
    folder: Path
    seed: int
    seed_drawn: bool  # True when no seed was given (pass it back to repeat the run)
    files: list[dict[str, Path]] = field(default_factory=list)  # per result: kind -> path
    audio_missing: str | None = None  # why no WAV was written although audio was asked for


@dataclass(frozen=True)
class Reconstruction(Generated):
    """reconstruct: windows per input, in input order."""

    windows: list[tuple[str, int]] = field(default_factory=list)  # (input, windows)


@dataclass(frozen=True)
class Codes:
    """encode: latent codes (N, Z) and the files holding them."""

    model: str
    folder: Path
    seed: int
    seed_drawn: bool
    z: np.ndarray
    mu: np.ndarray
    sigma: np.ndarray
    entries: list[dict]  # per code: input, window, z, mu, sigma
    paths: list[Path]


@dataclass(frozen=True)
class AttributeVectors:
    """attributes compute: one vector per attribute, with its quartile summary."""

    model: str
    split: str
    windows: int
    summaries: dict[str, dict]
    path: Path


@dataclass(frozen=True)
class AttributeMove(Generated):
    """attributes apply: per amount (0 first) the attribute measured on the decoded melody."""

    attribute: str = ""
    amounts: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)


# ------------------------------------------------------------------ shared steps


def load_model(model: ModelSpec = None, device: str = "cpu") -> TrainedModel:
    """A TrainedModel as it is, a model folder / training run, or the bundled folk model."""
    if isinstance(model, TrainedModel):
        return model
    from musicvae.inference.bundled import bundled_model_dir

    return TrainedModel.load(model or bundled_model_dir(), device=device)


def output_dir(path: str | os.PathLike) -> Path:
    """The output folder, created and checked writable before any work."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise ValueError(f"cannot write to output folder {path}: {e.strerror or e}") from None
    return path


def resolve_seed(seed: int | None) -> tuple[int, bool]:
    """(seed, drawn): the given seed, or a fresh one that the caller can report."""
    if seed is None:
        return secrets.randbelow(2**31), True
    return seed, False


def write_sequences(
    model: TrainedModel, named: list[tuple[str, NoteSequence]], folder: Path, audio: bool
) -> tuple[list[dict[str, Path]], str | None]:
    """Writes each (stem, sequence): <stem>.mid, its piano roll .png and, with FluidSynth, .wav.
    -> (files per sequence, why no WAV was written when audio was asked for and none was)."""
    from musicvae.render import audio_available, render_outputs

    kind = build_converter(model.config.data).kind
    written = []
    for stem, seq in named:
        out_stem = folder / stem
        try:
            written.append(render_outputs(seq, out_stem, kind, title=stem, audio=audio))
        except OSError as e:
            raise ValueError(f"cannot write {out_stem}.*: {e.strerror or e}") from None
        log.info("wrote %s", out_stem)
    missing = None
    if audio and named and not any("wav" in files for files in written):
        missing = audio_available()[1]
    return written, missing


def pick_window(
    model: TrainedModel, path: str, window: int | None, option: str, other: str = ""
) -> np.ndarray:
    """The one window of an input file (or window `window` of several) -> (T, D_in)."""
    windows = model.windows(path)
    count = len(windows)
    if window is None and count > 1:
        raise ValueError(
            f"{path}: {count} windows of {model.config.data.slice_bars} bars; choose one with "
            f"{option} K (0..{count - 1}){other}; `musicvae reconstruct {path}` writes them all"
        )
    index = 0 if window is None else window
    if not 0 <= index < count:
        raise ValueError(f"{path}: {option} {index} is out of range 0..{count - 1}")
    return windows.inputs[index].astype(np.float32)


def _stem(path: str | os.PathLike) -> str:
    return Path(path).stem.replace(" ", "_") or "input"


def _generated(model, folder, seed, drawn, named, audio) -> Generated:
    files, missing = write_sequences(model, named, folder, audio)
    return Generated(model.config.name, folder, seed, drawn, files, missing)


# ------------------------------------------------------------------ commands


def sample(
    *,
    output: str | os.PathLike,
    n: int = 8,
    temperature: float = 0.5,
    length: int | None = None,
    same_z: bool = False,
    model: ModelSpec = None,
    device: str = "cpu",
    seed: int | None = None,
    audio: bool = True,
) -> Generated:
    """n sequences decoded from random codes -> sample_000.mid, ... in `output`."""
    trained = load_model(model, device)
    folder = output_dir(output)
    seed, drawn = resolve_seed(seed)
    sequences = trained.sample(n, length, temperature, same_z, seed)
    named = [(f"sample_{i:03d}", s) for i, s in enumerate(sequences)]
    return _generated(trained, folder, seed, drawn, named, audio)


def interpolate(
    *,
    start: str | os.PathLike,
    end: str | os.PathLike,
    output: str | os.PathLike,
    steps: int = 8,
    method: str = "slerp",
    start_window: int | None = None,
    end_window: int | None = None,
    temperature: float | None = None,
    model: ModelSpec = None,
    device: str = "cpu",
    seed: int | None = None,
    audio: bool = True,
) -> Generated:
    """`steps` sequences on the latent path from start to end (ends included)."""
    check_count(steps, "num_steps", 2)  # before any work
    trained = load_model(model, device)
    folder = output_dir(output)
    seed, drawn = resolve_seed(seed)
    a = pick_window(trained, os.fspath(start), start_window, "--start-window")
    b = pick_window(trained, os.fspath(end), end_window, "--end-window")
    sequences = trained.interpolate(a, b, steps, method, temperature=temperature, seed=seed)
    named = [(f"interp_{i:03d}", s) for i, s in enumerate(sequences)]
    return _generated(trained, folder, seed, drawn, named, audio)


def reconstruct(
    *,
    inputs: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    temperature: float | None = None,
    model: ModelSpec = None,
    device: str = "cpu",
    seed: int | None = None,
    audio: bool = True,
) -> Reconstruction:
    """Every window of each input, encoded and decoded: <stem>_wK_input / _recon pairs."""
    trained = load_model(model, device)
    folder = output_dir(output)
    seed, drawn = resolve_seed(seed)
    paths = [os.fspath(p) for p in inputs]
    decoded = trained.reconstruct(paths, temperature, seed)
    stems: set[str] = set()
    named, counts = [], []
    for k, (path, recons) in enumerate(zip(paths, decoded, strict=True)):
        originals = trained.window_sequences(path)
        stem = _stem(path) if _stem(path) not in stems else f"{_stem(path)}_{k}"
        stems.add(stem)  # two inputs named alike do not overwrite each other
        counts.append((path, len(recons)))
        for i, (orig, recon) in enumerate(zip(originals, recons, strict=True)):
            named += [(f"{stem}_w{i:03d}_input", orig), (f"{stem}_w{i:03d}_recon", recon)]
    files, missing = write_sequences(trained, named, folder, audio)
    return Reconstruction(trained.config.name, folder, seed, drawn, files, missing, counts)


def encode(
    *,
    inputs: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    window: int | None = None,
    all_windows: bool = False,
    model: ModelSpec = None,
    device: str = "cpu",
    seed: int | None = None,
) -> Codes:
    """Latent codes of inputs -> z.npy, mu.npy, sigma.npy (N, Z) and codes.json."""
    trained = load_model(model, device)
    folder = output_dir(output)
    seed, drawn = resolve_seed(seed)
    windows, entries = [], []
    for path in map(os.fspath, inputs):
        if all_windows:
            found = trained.windows(path).inputs.astype(np.float32)
            windows += list(found)
            entries += [{"input": path, "window": k} for k in range(len(found))]
        else:
            other = " or take all with --all-windows"
            windows.append(pick_window(trained, path, window, "--window", other))
            entries.append({"input": path, "window": window or 0})
    z, mu, sigma = trained.encode(np.stack(windows), seed=seed)
    for entry, zi, mi, si in zip(entries, z, mu, sigma, strict=True):
        entry.update(z=zi.tolist(), mu=mi.tolist(), sigma=si.tolist())
    paths = []
    for name, array in (("z", z), ("mu", mu), ("sigma", sigma)):
        np.save(folder / f"{name}.npy", array)
        paths.append(folder / f"{name}.npy")
    shown = None if isinstance(model, TrainedModel) else model
    info = {"model": str(shown), "config": trained.config.name, "seed": seed, "codes": entries}
    (folder / "codes.json").write_text(json.dumps(info, indent=1) + "\n")
    paths.append(folder / "codes.json")
    return Codes(trained.config.name, folder, seed, drawn, z, mu, sigma, entries, paths)


def compute_attribute_vectors(
    *,
    data: str | os.PathLike,
    output: str | os.PathLike,
    split: str = "train",
    max_windows: int | None = None,
    attributes: Sequence[str] | None = None,
    model: ModelSpec = None,
    device: str = "cpu",
    seed: int | None = None,
) -> AttributeVectors:
    """Attribute vectors from a prepared dataset's windows -> a vectors .npz file."""
    from musicvae.data.dataset import WindowDataset
    from musicvae.inference.attributes import attribute_vectors, save_vectors

    if max_windows is not None and max_windows < 4:
        raise ValueError(f"--max-windows must be at least 4 (quartiles), got {max_windows}")
    trained = load_model(model, device)
    output = Path(output)
    output_dir(output.parent if str(output.parent) else ".")
    dataset = WindowDataset(data, split, trained.config)
    count = len(dataset)
    if max_windows is not None and max_windows < count:
        rng = np.random.default_rng(seed or 0)
        indices = np.sort(rng.choice(count, max_windows, replace=False))
    else:
        indices = np.arange(count)
    names = list(attributes) if attributes else None
    vectors, summaries = attribute_vectors(trained, dataset.tokens(indices), names)
    shown = None if isinstance(model, TrainedModel) else model
    info = {
        "model": str(shown),
        "config": trained.config.name,
        "data": str(data),
        "split": split,
        "windows": len(indices),
        "summaries": summaries,
    }
    save_vectors(output, vectors, info)
    return AttributeVectors(trained.config.name, split, len(indices), summaries, output)


def apply_attribute(
    *,
    input: str | os.PathLike,
    attribute: str,
    output: str | os.PathLike,
    amounts: Sequence[float] = (1.0,),
    vectors: str | os.PathLike | None = None,
    window: int | None = None,
    temperature: float | None = None,
    model: ModelSpec = None,
    device: str = "cpu",
    seed: int | None = None,
    audio: bool = True,
) -> AttributeMove:
    """One input window moved along an attribute vector by each amount (0 first), decoded,
    written and measured."""
    from musicvae.inference.attributes import ATTRIBUTES, attribute_sweep

    if attribute not in ATTRIBUTES:
        raise ValueError(f"unknown attribute {attribute!r}; valid: {', '.join(ATTRIBUTES)}")
    trained = load_model(model, device)
    if vectors is None:
        if model is not None:
            raise ValueError(
                "--vectors is required with --model (make them with `musicvae attributes compute`)"
            )
        from musicvae.inference.bundled import bundled_vectors

        vectors = bundled_vectors()
    trained.load_attribute_vectors(vectors)
    folder = output_dir(output)
    seed, drawn = resolve_seed(seed)
    path = os.fspath(input)
    source = pick_window(trained, path, window, "--window")
    _, mu, _ = trained.encode(source[None])
    moves = [0.0] + [float(a) for a in amounts if a != 0.0]
    sequences, measured = attribute_sweep(trained, mu[0], attribute, moves, temperature, seed)
    values = [float(v) for v in measured[attribute]]
    named = []
    for amount, seq in zip(moves, sequences, strict=True):
        label = "recon" if amount == 0 else f"{attribute}_{amount:+g}"
        named.append((f"{_stem(path)}_{label}", seq))
    files, missing = write_sequences(trained, named, folder, audio)
    return AttributeMove(
        trained.config.name, folder, seed, drawn, files, missing, attribute, moves, values
    )
