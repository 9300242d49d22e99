"""`evaluate`: every section of the evaluation on one model and one set of held-out windows,
written to an output folder as metrics.json, report.md and PNG plots."""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from musicvae import __version__
from musicvae.evaluation import plots
from musicvae.evaluation.attributes_matrix import attribute_matrix
from musicvae.evaluation.interpolation import interpolation
from musicvae.evaluation.realism import (
    GRID,
    TEMPERATURES,
    realism,
    temperature_key,
    window_features,
)
from musicvae.evaluation.reconstruction import reconstruction
from musicvae.evaluation.report import markdown
from musicvae.evaluation.windows import EvaluationError, EvalWindows, is_dataset, load_windows
from musicvae.inference.trained_model import TrainedModel
from musicvae.outputs import output_folder

log = logging.getLogger(__name__)

METRICS = "metrics.json"
REPORT = "report.md"
MAX_VECTOR_WINDOWS = 5000  # quartiles of 1,250 windows; a few seconds to encode


@dataclass(frozen=True)
class EvaluationResult:
    """What `evaluate` measured (metrics.json's content) and the files it wrote."""

    metrics: dict
    output_dir: Path
    files: tuple[Path, ...] = field(default_factory=tuple)


def finite_json(value):
    """Non-finite floats -> None (JSON has no NaN/Infinity), numpy scalars -> Python."""
    if isinstance(value, dict):
        return {str(k): finite_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _load_model(
    model, device: str, batch_size: int, any_program: bool
) -> tuple[TrainedModel, Path | None]:
    if isinstance(model, TrainedModel):
        return model, None
    from musicvae.inference.bundled import model_location

    path = model_location(model)
    trained = TrainedModel.load(path, device=device, batch_size=batch_size, any_program=any_program)
    return trained, path


def _model_label(folder: Path | None) -> str:
    """How metrics.json names the model: a bundled model's name, else its folder."""
    from musicvae.inference.bundled import bundled_name

    if folder is None:
        return "(in memory)"
    return bundled_name(folder) or str(folder)


def _vectors(model: TrainedModel, folder: Path | None, data, windows: EvalWindows, vectors):
    """Attribute vectors: the given file, the model folder's, or computed from the training
    split (else the evaluated windows) -> ({name: (Z,)}, where from)."""
    from musicvae.inference.attributes import attribute_vectors, load_vectors, vectors_beside

    if vectors is not None:
        return load_vectors(vectors)[0], str(vectors)
    beside = vectors_beside(folder)
    if beside is not None:
        return load_vectors(beside)[0], str(beside)
    source = windows  # MIDI files, or a dataset without a train split
    if is_dataset(data):
        try:
            source = load_windows(model.config, data, "train", MAX_VECTOR_WINDOWS, seed=0)
        except EvaluationError:
            pass
    found, _ = attribute_vectors(model, source.tokens, max_windows=MAX_VECTOR_WINDOWS)
    return found, f"computed from {len(source)} windows of {source.source}"


def evaluate(
    model,
    data,
    output_dir: str | Path,
    *,
    split: str = "eval",
    samples: int = 1000,
    seed: int = 0,
    temperatures=GRID,
    pairs: int = 100,
    attribute_windows: int = 500,
    max_windows: int | None = None,
    vectors: str | Path | None = None,
    make_plots: bool = True,
    device: str = "cpu",
    batch_size: int = 1024,
    any_program: bool = False,
    overwrite: bool = False,
) -> EvaluationResult:
    """Reconstruction (Table 1), prior realism, interpolation and the attribute matrix of
    `model` (a TrainedModel, a model folder / training run, or None = the bundled model) on
    `data` (a prepared dataset folder's `split`, or MIDI files / folders) -> EvaluationResult;
    writes output_dir/metrics.json, report.md and PNG plots (a non-empty output_dir of an
    earlier run only with `overwrite`, as every command's output)."""
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise EvaluationError(f"samples must be a positive integer, got {samples!r}")
    start = time.perf_counter()
    trained, folder = _load_model(model, device, batch_size, any_program)
    windows = load_windows(trained.config, data, split, max_windows, seed)  # bad data: no folder
    with output_folder(output_dir, overwrite=overwrite, command="evaluate") as out:
        return _measure(
            out, trained, folder, data, windows, split, samples, seed, temperatures, pairs,
            attribute_windows, vectors, make_plots, start,
        )  # fmt: skip


def _measure(
    out: Path,
    trained: TrainedModel,
    folder: Path | None,
    data,
    windows: EvalWindows,
    split: str,
    samples: int,
    seed: int,
    temperatures,
    pairs: int,
    attribute_windows: int,
    vectors,
    make_plots: bool,
    start: float,
) -> EvaluationResult:
    """The body of `evaluate`, writing into the prepared folder `out`."""
    times = {}
    config = trained.config
    log.info("evaluating %s on %d windows of %s", config.name, len(windows), windows.source)
    times["load"] = time.perf_counter() - start

    def timed(name, fn, *args, **kwargs):
        t0 = time.perf_counter()
        value = fn(*args, **kwargs)
        times[name] = time.perf_counter() - t0
        return value

    recon, mu = timed("reconstruction", reconstruction, trained, windows, seed)
    temps = sorted({float(t) for t in (*TEMPERATURES, *temperatures)})
    real, sample_tokens = timed("realism", realism, trained, windows.tokens, samples, temps, seed)
    interp = timed("interpolation", interpolation, trained, windows.tokens, mu, pairs, seed)
    if config.data.kind == "melody":
        found, vectors_source = timed("vectors", _vectors, trained, folder, data, windows, vectors)
        rows = np.random.default_rng([seed, 5]).permutation(len(mu))[:attribute_windows]
        attrs = timed("attributes", attribute_matrix, trained, mu[np.sort(rows)], found)
        attrs["vectors"] = vectors_source
    else:
        attrs = {
            "skipped": f"attribute vectors are defined for melody models, not {config.data.kind}"
        }
    metrics = {
        "musicvae_version": __version__,
        "model": _model_label(folder),
        "config": config.name,
        "data": windows.source,
        "split": split if is_dataset(data) else "all windows of the MIDI files",
        "seed": seed,
        "reconstruction": recon,
        "realism": real,
        "interpolation": interp,
        "attributes": attrs,
    }
    files = [out / METRICS, out / REPORT]
    if make_plots:
        t0 = time.perf_counter()
        files += _plots(config, windows, sample_tokens, real, interp, attrs, out)
        times["plots"] = time.perf_counter() - t0
    times["total"] = time.perf_counter() - start
    metrics["elapsed_s"] = {k: round(v, 2) for k, v in times.items()}
    metrics = finite_json(metrics)
    (out / METRICS).write_text(json.dumps(metrics, indent=1) + "\n")
    (out / REPORT).write_text(markdown(metrics, [f.name for f in files[2:]]))
    return EvaluationResult(metrics, out, tuple(files))


def _plots(config, windows, sample_tokens, real, interp, attrs, out: Path) -> list[Path]:
    data_feats, _ = window_features(config, windows.tokens)
    shown = {temperature_key(t): sample_tokens[temperature_key(t)] for t in TEMPERATURES}
    sample_feats = {t: window_features(config, tok)[0] for t, tok in shown.items()}
    files = [plots.feature_histograms(data_feats, sample_feats, out / "realism.png")]
    recommended = temperature_key(real["recommended_temperature"]["value"])
    rows = {"held-out": windows.tokens[:: max(1, len(windows) // 8)][:8]}
    for t in ("0.5", recommended):
        rows[f"prior T={t}"] = sample_tokens[t][:8]
    kind = "drums" if config.data.kind == "drums" else "melody"
    files.append(plots.sample_rolls(rows, kind, config.data.min_pitch, out / "samples.png"))
    if interp.get("pairs"):
        files.append(plots.interpolation_curves(interp, out / "interpolation.png"))
    if "matrix" in attrs:
        files.append(plots.attribute_heatmap(attrs, out / "attributes.png"))
    return files
