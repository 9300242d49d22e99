"""The generation commands as library functions: sample, interpolate, reconstruct, encode,
attribute vectors (compute) and attribute moves (apply).

Each takes typed keyword parameters (a model folder, a loaded TrainedModel or None for the
bundled folk model; an output folder; a seed or None for a fresh one), writes its files
(MIDI, piano-roll PNG, WAV when FluidSynth is there) and returns a result dataclass with what
it wrote and measured. They log and never print: the CLI (musicvae.cli.generate) prints the
results, a web server or a notebook can use them as they are. Errors a user can act on are
ValueErrors with a one-line message.

Output folders follow musicvae.outputs: new or empty, or `overwrite=True` to replace an
earlier run; a failed call leaves no empty folder behind. All-rest results are not written
(their stems are in `skipped`). reconstruct and encode take files and folders (searched
recursively, like `convert`): a file that fails is reported in `failed` and in report.json,
and the others are still written. `progress`: bars on stderr (None: only on a terminal).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from musicvae.data.converters import build_converter
from musicvae.inference import inputs as _inputs
from musicvae.inference.silence import drop_silent
from musicvae.inference.trained_model import TrainedModel, check_count
from musicvae.music.notes import NoteSequence
from musicvae.outputs import output_file, output_folder

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
    skipped: list[str] = field(default_factory=list)  # stems of all-rest results, not written
    # sample: the temperature used (None = argmax); keyword-only, so subclasses keep their order
    temperature: float | None = field(default=None, kw_only=True)


@dataclass(frozen=True)
class Reconstruction(Generated):
    """reconstruct: windows per input that worked, in input order; inputs that failed."""

    windows: list[tuple[str, int]] = field(default_factory=list)  # (input, windows)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (input, one-line reason)
    report: Path | None = None


@dataclass(frozen=True)
class Codes:
    """encode: latent codes (N, Z) and the files holding them; inputs that failed."""

    model: str
    folder: Path
    seed: int
    seed_drawn: bool
    z: np.ndarray
    mu: np.ndarray
    sigma: np.ndarray
    entries: list[dict]  # per code: input, window, z, mu, sigma
    paths: list[Path]
    failed: list[tuple[str, str]] = field(default_factory=list)  # (input, one-line reason)
    report: Path | None = None


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


def load_model(
    model: ModelSpec = None, device: str = "cpu", any_program: bool = False
) -> TrainedModel:
    """A TrainedModel as it is, a model folder / training run, or the bundled folk model;
    `any_program`: a melody model reads melodies on every non-drum instrument."""
    if isinstance(model, TrainedModel):
        return model.with_any_program() if any_program else model
    if model is None:
        return TrainedModel.bundled(device=device, any_program=any_program)
    return TrainedModel.load(model, device=device, any_program=any_program)


def model_source(trained: TrainedModel, model: ModelSpec) -> str:
    """What codes.json and reports name as the model: the folder it was loaded from."""
    return trained.source or (str(model) if model is not None else trained.config.name)


def resolve_seed(seed: int | None) -> tuple[int, bool]:
    """(seed, drawn): the given seed, or a fresh one that the caller can report."""
    if seed is None:
        return secrets.randbelow(2**31), True
    return seed, False


def write_sequences(
    model: TrainedModel,
    named: list[tuple[str, NoteSequence]],
    folder: Path,
    audio: bool,
    progress: bool | None = False,
) -> tuple[list[dict[str, Path]], str | None, list[str]]:
    """Writes each (stem, sequence) with notes: <stem>.mid, its piano roll .png and, with
    FluidSynth, .wav (rendered in parallel). -> (files per written sequence, why no WAV was
    written when audio was asked for and none was, stems of all-rest sequences not written)."""
    from musicvae.render import audio_available, render_many

    kept, skipped = drop_silent(named)
    for stem in skipped:
        log.info("%s: all rests, not written", stem)
    kind = build_converter(model.config.data).kind
    try:
        written = render_many(kept, folder, kind, audio=audio, progress=progress)
    except OSError as e:
        raise ValueError(f"cannot write into {folder}: {e.strerror or e}") from None
    missing = None
    if audio and kept and not any("wav" in files for files in written):
        missing = audio_available()[1]
    return written, missing, skipped


def _model_flag(model: TrainedModel) -> str:
    """` --model X` naming `model` as a command line would (nothing for the default model)."""
    from musicvae.inference.bundled import BUNDLED_MODEL, bundled_name

    name = bundled_name(model.source)
    if name == BUNDLED_MODEL or (name is None and model.source is None):
        return ""
    return f" --model {name or model.source}"


def pick_window(
    model: TrainedModel, path, window: int | None, option: str, other: str = ""
) -> np.ndarray:
    """The one window of an input (or window `window` of several) -> (T, D_in); messages name
    each window's bars (`musicvae windows FILE` lists them)."""
    windows = model.windows(path)
    count = len(windows)
    if window is not None and 0 <= window < count:
        return windows.inputs[window].astype(np.float32)
    if window is None and count == 1:
        return windows.inputs[0].astype(np.float32)
    label = _inputs.label_of(path, 0)
    bars = _window_bars(model, path)
    if window is None:
        raise ValueError(
            f"{label}: {count} windows of {model.config.data.slice_bars} bars ({bars}); choose "
            f"one with {option} K{other}; `musicvae windows {label} --config "
            f"{model.config.name}` lists them, `musicvae reconstruct {label}"
            f"{_model_flag(model)}` writes them all"
        )
    raise ValueError(f"{label}: {option} {window} is out of range 0..{count - 1} ({bars})")


def _window_bars(model: TrainedModel, path) -> str:
    """'K=0 bars 1-2, K=1 bars 5-6, ...' for an input file or NoteSequence."""
    from musicvae.data.listing import list_windows

    try:
        (seq,) = _inputs.read_paths([path])
        infos = list_windows(model.config.data, seq) if isinstance(seq, NoteSequence) else []
    except ValueError:
        infos = []
    if not infos:
        return "bars unknown"
    shown = [f"K={w.index} bars {w.first_bar}-{w.last_bar}" for w in infos[:6]]
    return ", ".join(shown) + (f", ... {len(infos)} in all" if len(infos) > 6 else "")


def _stem(path: str | os.PathLike) -> str:
    return Path(path).stem.replace(" ", "_") or "input"


def _generated(model, folder, seed, drawn, named, audio, progress) -> Generated:
    files, missing, skipped = write_sequences(model, named, folder, audio, progress)
    return Generated(model.config.name, folder, seed, drawn, files, missing, skipped)


def expand_inputs(inputs) -> list:
    """Files and folders (searched recursively for .mid/.midi, like `convert`) -> the MIDI
    paths in a stable order; NoteSequences and PrettyMIDI objects pass through."""
    from musicvae.data.windows import find_midi_files

    items = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    expanded: list = []
    for item in items:
        if isinstance(item, (str, os.PathLike)):
            sources = find_midi_files([item])
            if not sources and Path(item).is_dir():
                raise ValueError(f"no .mid/.midi files found in {os.fspath(item)}")
            expanded += [os.fspath(s.path) for s in sources]
        else:
            expanded.append(item)
    if not expanded:
        raise ValueError("no inputs given")
    return expanded


def _write_report(folder: Path, command: str, trained, model, entries: list[dict]) -> Path:
    """report.json: the model used and one entry per input (what it gave, or its error)."""
    failed = sum(1 for e in entries if "error" in e)
    report = {
        "command": command,
        "model": model_source(trained, model),
        "config": trained.config.name,
        "inputs": len(entries),
        "worked": len(entries) - failed,
        "failed": failed,
        "files": entries,
    }
    path = folder / "report.json"
    path.write_text(json.dumps(report, indent=1) + "\n")
    return path


# ------------------------------------------------------------------ commands


def sample(
    *,
    output: str | os.PathLike,
    n: int = 8,
    temperature: float | str | None = "card",
    length: int | None = None,
    same_z: bool = False,
    qpm: float | None = None,
    model: ModelSpec = None,
    device: str = "cpu",
    seed: int | None = None,
    audio: bool = True,
    overwrite: bool = False,
    progress: bool | None = False,
) -> Generated:
    """n sequences decoded from random codes -> sample_000.mid, ... in `output` (tempo `qpm`,
    default 120); temperature "card" = the model card's recommended one (else 0.5), 0 / None =
    argmax. The result's `temperature` is the one used."""
    check_count(n, "n")
    trained = load_model(model, device)
    temperature = trained.sampling_temperature(temperature)
    with output_folder(output, overwrite=overwrite, command="sample") as folder:
        seed, drawn = resolve_seed(seed)
        sequences = trained.sample(n, length, temperature, same_z, seed, qpm=qpm)
        named = [(f"sample_{i:03d}", s) for i, s in enumerate(sequences)]
        result = _generated(trained, folder, seed, drawn, named, audio, progress)
        return replace(result, temperature=temperature)


def interpolate(
    *,
    start,
    end,
    output: str | os.PathLike,
    steps: int = 8,
    method: str = "slerp",
    start_window: int | None = None,
    end_window: int | None = None,
    temperature: float | None = None,
    qpm: float | None = None,
    any_program: bool = False,
    model: ModelSpec = None,
    device: str = "cpu",
    seed: int | None = None,
    audio: bool = True,
    overwrite: bool = False,
    progress: bool | None = False,
) -> Generated:
    """`steps` sequences on the latent path from start to end (ends included), at tempo `qpm`,
    else the start's, else 120."""
    check_count(steps, "num_steps", 2)  # before any work
    trained = load_model(model, device, any_program)
    start, end = _inputs.read_paths([start, end])
    a = pick_window(trained, start, start_window, "--start-window")
    b = pick_window(trained, end, end_window, "--end-window")
    qpm = _inputs.tempo_of(start) if qpm is None else qpm
    with output_folder(output, overwrite=overwrite, command="interpolate") as folder:
        seed, drawn = resolve_seed(seed)
        sequences = trained.interpolate(
            a, b, steps, method, temperature=temperature, seed=seed, qpm=qpm
        )
        named = [(f"interp_{i:03d}", s) for i, s in enumerate(sequences)]
        return _generated(trained, folder, seed, drawn, named, audio, progress)


def reconstruct(
    *,
    inputs,
    output: str | os.PathLike,
    temperature: float | None = None,
    qpm: float | None = None,
    any_program: bool = False,
    model: ModelSpec = None,
    device: str = "cpu",
    seed: int | None = None,
    audio: bool = True,
    overwrite: bool = False,
    progress: bool | None = False,
) -> Reconstruction:
    """Every window of each input (files, folders searched recursively, NoteSequences),
    encoded and decoded: <stem>_wK_input / _recon pairs, at tempo `qpm`, else each input's.
    An input that fails is reported (`failed`, report.json) and the others are written."""
    from musicvae.progress import bar

    paths = expand_inputs(inputs)
    trained = load_model(model, device, any_program)
    with output_folder(output, overwrite=overwrite, command="reconstruct") as folder:
        seed, drawn = resolve_seed(seed)
        good, entries, failed = [], [], []
        for k, item in enumerate(bar(paths, desc="read inputs", unit="file", progress=progress)):
            label = _inputs.label_of(item, k)
            try:
                (seq,) = _inputs.read_paths([item])
                originals = trained.window_sequences(seq)
            except ValueError as e:
                failed.append((label, str(e)))
                entries.append({"input": label, "error": str(e)})
                continue
            good.append((label, seq, originals))
        decoded = trained.reconstruct([g[1] for g in good], temperature, seed, qpm) if good else []
        stems: set[str] = set()
        named, counts = [], []
        for k, ((label, _, originals), recons) in enumerate(zip(good, decoded, strict=True)):
            stem = _stem(label) if _stem(label) not in stems else f"{_stem(label)}_{k}"
            stems.add(stem)  # two inputs named alike do not overwrite each other
            counts.append((label, len(recons)))
            for i, (orig, recon) in enumerate(zip(originals, recons, strict=True)):
                named += [(f"{stem}_w{i:03d}_input", orig), (f"{stem}_w{i:03d}_recon", recon)]
            entries.append({"input": label, "windows": len(recons), "stem": stem})
        files, missing, skipped = write_sequences(trained, named, folder, audio, progress)
        report = _write_report(folder, "reconstruct", trained, model, entries)
        return Reconstruction(
            trained.config.name,
            folder,
            seed,
            drawn,
            files,
            missing,
            skipped,
            counts,
            failed,
            report,
        )


def encode(
    *,
    inputs,
    output: str | os.PathLike,
    window: int | None = None,
    all_windows: bool = False,
    any_program: bool = False,
    model: ModelSpec = None,
    device: str = "cpu",
    seed: int | None = None,
    overwrite: bool = False,
    progress: bool | None = False,
) -> Codes:
    """Latent codes of inputs (files, folders searched recursively, NoteSequences) -> z.npy,
    mu.npy, sigma.npy (N, Z), codes.json (naming the model used) and report.json. An input
    that fails is reported (`failed`, report.json) and the others are encoded."""
    from musicvae.progress import bar

    paths = expand_inputs(inputs)
    trained = load_model(model, device, any_program)
    with output_folder(output, overwrite=overwrite, command="encode") as folder:
        seed, drawn = resolve_seed(seed)
        windows, entries, failed, per_input = [], [], [], []
        for k, item in enumerate(bar(paths, desc="read inputs", unit="file", progress=progress)):
            label = _inputs.label_of(item, k)
            try:
                if all_windows:
                    found = list(trained.windows(item).inputs.astype(np.float32))
                    picked = [{"input": label, "window": i} for i in range(len(found))]
                else:
                    other = " (or take all with --all-windows)"
                    found = [pick_window(trained, item, window, "--window", other)]
                    picked = [{"input": label, "window": window or 0}]
            except ValueError as e:
                failed.append((label, str(e)))
                per_input.append({"input": label, "error": str(e)})
                continue
            windows += found
            entries += picked
            per_input.append({"input": label, "codes": len(found)})
        report = _write_report(folder, "encode", trained, model, per_input)
        if not windows:
            z = mu = sigma = np.zeros((0, trained.z_size), np.float32)
            return Codes(
                trained.config.name, folder, seed, drawn, z, mu, sigma, [], [report], failed, report
            )
        z, mu, sigma = trained.encode(np.stack(windows), seed=seed)
        for entry, zi, mi, si in zip(entries, z, mu, sigma, strict=True):
            entry.update(z=zi.tolist(), mu=mi.tolist(), sigma=si.tolist())
        paths_out = []
        for name, array in (("z", z), ("mu", mu), ("sigma", sigma)):
            np.save(folder / f"{name}.npy", array)
            paths_out.append(folder / f"{name}.npy")
        info = {
            "model": model_source(trained, model),
            "config": trained.config.name,
            "seed": seed,
            "codes": entries,
        }
        (folder / "codes.json").write_text(json.dumps(info, indent=1) + "\n")
        paths_out += [folder / "codes.json", report]
        return Codes(
            trained.config.name,
            folder,
            seed,
            drawn,
            z,
            mu,
            sigma,
            entries,
            paths_out,
            failed,
            report,
        )


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
    overwrite: bool = False,
    progress: bool | None = False,
) -> AttributeVectors:
    """Attribute vectors from a prepared dataset's windows -> a vectors .npz file."""
    from musicvae.data.dataset import WindowDataset
    from musicvae.inference.attributes import attribute_vectors, check_names, save_vectors

    if max_windows is not None and max_windows < 4:
        raise ValueError(f"--max-windows must be at least 4 (quartiles), got {max_windows}")
    names = check_names(list(attributes)) if attributes else None
    trained = load_model(model, device)
    dataset = WindowDataset(data, split, trained.config)
    with output_file(output, overwrite=overwrite) as path:
        count = len(dataset)
        if max_windows is not None and max_windows < count:
            rng = np.random.default_rng(seed or 0)
            indices = np.sort(rng.choice(count, max_windows, replace=False))
        else:
            indices = np.arange(count)
        vectors, summaries = attribute_vectors(
            trained, dataset.tokens(indices), names, progress=progress
        )
        info = {
            "model": model_source(trained, model),
            "config": trained.config.name,
            "data": str(data),
            "split": split,
            "windows": len(indices),
            "summaries": summaries,
        }
        save_vectors(path, vectors, info)
        return AttributeVectors(trained.config.name, split, len(indices), summaries, path)


def apply_attribute(
    *,
    input,
    attribute: str,
    output: str | os.PathLike,
    amounts: Sequence[float] = (1.0,),
    vectors: str | os.PathLike | None = None,
    window: int | None = None,
    temperature: float | None = None,
    qpm: float | None = None,
    any_program: bool = False,
    model: ModelSpec = None,
    device: str = "cpu",
    seed: int | None = None,
    audio: bool = True,
    overwrite: bool = False,
    progress: bool | None = False,
) -> AttributeMove:
    """One input window moved along an attribute vector by each amount (0 first), decoded,
    written and measured (tempo `qpm`, else the input's)."""
    from musicvae.inference.attributes import ATTRIBUTES, attribute_sweep

    if attribute not in ATTRIBUTES:
        raise ValueError(f"unknown attribute {attribute!r}; valid: {', '.join(ATTRIBUTES)}")
    trained = load_model(model, device, any_program)
    if vectors is None:
        from musicvae.inference.attributes import VECTORS_FILE, vectors_beside

        vectors = vectors_beside(trained.source)
        if vectors is None:
            raise ValueError(
                f"{trained.source or 'this model'} has no {VECTORS_FILE}: pass --vectors "
                "(make them with `musicvae attributes compute`)"
            )
    trained.load_attribute_vectors(vectors)
    (source_seq,) = _inputs.read_paths([input])
    label = _inputs.label_of(input, 0)
    source = pick_window(trained, source_seq, window, "--window")
    qpm = _inputs.tempo_of(source_seq) if qpm is None else qpm
    with output_folder(output, overwrite=overwrite, command="attributes apply") as folder:
        seed, drawn = resolve_seed(seed)
        _, mu, _ = trained.encode(source[None])
        moves = [0.0] + [float(a) for a in amounts if a != 0.0]
        sequences, measured = attribute_sweep(trained, mu[0], attribute, moves, temperature, seed)
        if qpm is not None:
            sequences = [s.replace(tempos=_tempo(qpm)) for s in sequences]
        values = [float(v) for v in measured[attribute]]
        named = []
        for amount, seq in zip(moves, sequences, strict=True):
            tag = "recon" if amount == 0 else f"{attribute}_{amount:+g}"
            named.append((f"{_stem(label)}_{tag}", seq))
        files, missing, skipped = write_sequences(trained, named, folder, audio, progress)
        return AttributeMove(
            trained.config.name,
            folder,
            seed,
            drawn,
            files,
            missing,
            skipped,
            attribute,
            moves,
            values,
        )


def _tempo(qpm: float):
    from musicvae.data.converters.base import check_qpm
    from musicvae.music.notes import Tempo

    check_qpm(qpm)
    return (Tempo(0.0, float(qpm)),)
