"""`musicvae demo`: a model (the bundled folk melody model by default, or any model folder)
samples, interpolates and, for melody models, moves a tune along attribute vectors; the page
names the model and shows every result as a card (piano roll, MIDI and WAV links) in a grid.

Melody models interpolate between the first windows of the two bundled folk tunes; drum and
trio models (and melody models that find no window in those tunes) between two random codes.
Attribute vectors: the model folder's attributes.npz, the bundled ones for the bundled model,
else computed on the bundled tunes' windows; when those are too few the section is skipped
with a note on the page.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np

from musicvae.inference.attributes import VECTORS_FILE
from musicvae.inference.bundled import bundled_model_dir, bundled_tunes, bundled_vectors
from musicvae.inference.inputs import NoExtractedExamplesError
from musicvae.inference.latent import interpolation_path
from musicvae.inference.trained_model import TrainedModel
from musicvae.outputs import output_folder
from musicvae.render import audio_available, render_many, write_page

log = logging.getLogger(__name__)

DEMO_ATTRIBUTES = ("note_density", "syncopation_16th")
AMOUNTS = (-2.0, -1.0, 0.0, 1.0, 2.0)
MIN_VECTOR_WINDOWS = 8  # quartiles of fewer windows say nothing


def run_demo(
    output: str | Path = "musicvae-demo",
    model_path: str | Path | None = None,
    samples: int = 8,
    steps: int = 8,
    seed: int = 0,
    audio: bool = True,
    overwrite: bool = False,
    device: str = "cpu",
    progress: bool | None = False,
) -> Path:
    """Writes the demo into `output` (new or empty, or an earlier demo with `overwrite`) and
    returns the path of its index.html."""
    start = time.perf_counter()
    model = TrainedModel.load(model_path, device) if model_path else TrainedModel.bundled(device)
    with output_folder(output, overwrite=overwrite, command="demo") as folder:
        out = folder.resolve()  # page links are relative to this folder
        has_audio, audio_note = audio_available()
        audio = audio and has_audio
        kind = model.config.data.kind
        # [(section, [(stem, sequence, card title)])]
        plan = _sections(model, model_path, samples, steps, seed)
        named = [(stem, seq) for _, items in plan for stem, seq, _ in items]
        files = render_many(named, out, kind, audio=audio, progress=progress)
        by_stem = {stem: f for (stem, _), f in zip(named, files, strict=True)}
        sections = []
        for section, items in plan:
            cards = [{"title": title, **by_stem[stem]} for stem, _, title in items]
            sections.append({**section, "items": cards})
        name = model_name(model, model_path)
        note = "" if audio else audio_note
        page = write_page(
            out,
            [s for s in sections if s["items"] or s.get("text")],
            title=f"musicvae demo: {name}",
            note=note,
            subtitle=f"Model {name} ({model.config.name}: {kind}, "
            f"{model.config.data.slice_bars} bars, z {model.z_size}).",
        )
        log.info("demo written in %.1f s", time.perf_counter() - start)
        return page


def model_name(model: TrainedModel, model_path) -> str:
    """How the page names the model: the bundled folk model, or its folder's name."""
    if model_path is None:
        return "folk-mel_2bar (bundled)"
    return Path(os.fspath(model_path)).resolve().name


def _sections(model: TrainedModel, model_path, samples: int, steps: int, seed: int):
    kind = model.config.data.kind
    what = {"melody": "melodies", "drums": "drum patterns", "trio": "trios"}[kind]
    plan = []
    temperature = model.sampling_temperature("card")  # the card's recommended one, else 0.5
    shown = "argmax" if temperature is None else f"temperature {temperature:g}"
    sampled = model.sample(samples, temperature=temperature, seed=seed)
    plan.append(
        (
            {"title": f"{samples} {what} sampled from the prior ({shown})"},
            [(f"sample-{i + 1}", s, f"sample {i + 1}") for i, s in enumerate(sampled)],
        )
    )
    ends = _tune_windows(model) if kind == "melody" else None
    if ends is not None:
        a, b, names = ends
        path = model.interpolate(a, b, steps, method="slerp", seed=seed)
        text = f"From {names[0]} to {names[1]}; the ends are their reconstructions."
        items = (
            [("interp-source-a", a, "source A (input)")]
            + [(f"interp-{i + 1}", s, f"step {i + 1}") for i, s in enumerate(path)]
            + [("interp-source-b", b, "source B (input)")]
        )
        title = f"Interpolation in {steps} steps (slerp between the codes of two folk tunes)"
    else:
        rng = np.random.default_rng(seed)
        za, zb = rng.standard_normal((2, model.z_size)).astype(np.float32)
        path = model.decode(interpolation_path(za, zb, steps, "slerp"), temperature=None)
        text = "Between two random codes, decoded by argmax."
        items = [(f"interp-{i + 1}", s, f"step {i + 1}") for i, s in enumerate(path)]
        title = f"Interpolation in {steps} steps (slerp between two random codes)"
    plan.append(({"title": title, "text": text}, items))
    if kind == "melody" and ends is not None:
        plan += _attribute_sections(model, model_path, ends[0])
    elif kind == "melody":
        plan.append(_skipped("the bundled tunes give this model no window"))
    return plan


def _tune_windows(model: TrainedModel):
    """The first window of each bundled tune as the model sees it, or None when either has
    none for this model."""
    tune_a, tune_b = bundled_tunes()
    try:
        a = model.window_sequences(tune_a)[0]
        b = model.window_sequences(tune_b)[0]
    except NoExtractedExamplesError:
        return None
    return a, b, (tune_a.stem, tune_b.stem)


def _skipped(why: str):
    return ({"title": "Attribute vectors", "text": f"Skipped: {why}."}, [])


def _attribute_sections(model: TrainedModel, model_path, tune):
    vectors = _vectors(model, model_path)
    if isinstance(vectors, str):
        return [_skipped(vectors)]
    model.attribute_vectors.update(vectors)
    _, mu, _ = model.encode([tune])
    plan = []
    for name in DEMO_ATTRIBUTES:
        if name not in vectors:
            continue
        codes = [model.apply_attribute(mu[0], name, amount) for amount in AMOUNTS]
        moved = model.decode(codes, temperature=None)
        text = "Amounts " + ", ".join(f"{x:+g}" for x in AMOUNTS) + " (0 = reconstruction)."
        plan.append(
            (
                {"title": f"Tune A moved along the {name.replace('_', ' ')} vector", "text": text},
                [
                    (f"attr-{name}-{k}", s, f"{name} {amount:+g}")
                    for k, (s, amount) in enumerate(zip(moved, AMOUNTS, strict=True))
                ],
            )
        )
    return plan


def _vectors(model: TrainedModel, model_path) -> dict[str, np.ndarray] | str:
    """The model's attribute vectors, or why there are none."""
    if model_path is None:
        return model.load_attribute_vectors(bundled_vectors())
    found = folder_vectors(model_path)
    if found is not None:
        return model.load_attribute_vectors(found)
    from musicvae.inference.attributes import attribute_vectors

    windows = []
    for tune in bundled_tunes():
        try:
            windows.append(model.windows(tune).inputs)
        except NoExtractedExamplesError:
            pass
    count = sum(len(w) for w in windows)
    if count < MIN_VECTOR_WINDOWS:
        return f"the bundled tunes give only {count} windows (at least {MIN_VECTOR_WINDOWS})"
    vectors, _ = attribute_vectors(model, np.concatenate(windows), list(DEMO_ATTRIBUTES))
    log.info("attribute vectors computed on %d windows of the bundled tunes", count)
    return vectors


def folder_vectors(model_path: str | Path | None) -> Path | None:
    """The attribute vectors beside a model folder's weights, if it has them."""
    if model_path is None:
        return None
    candidate = Path(model_path) / VECTORS_FILE
    return candidate if candidate.exists() else None


def model_path_vectors(model_path: str | Path | None) -> Path:
    """Attribute vectors next to a given model folder, else the bundled ones."""
    return folder_vectors(model_path) or bundled_vectors()


__all__ = ["run_demo", "model_path_vectors", "bundled_model_dir"]
