"""`musicvae demo`: a model (the bundled folk melody models by default, or any model folder)
samples, interpolates and, for melody models, moves a tune along attribute vectors; the page
names the model and shows every result as a card (piano roll, MIDI and WAV links) in a grid.
Without a model the page has two parts: the bundled 2-bar model, then the bundled 16-bar
hierarchical model (fewer samples and steps, wider cards).

Melody models interpolate between the first windows of the two bundled folk tunes; drum and
trio models (and melody models that find no window in those tunes) between two random codes.
Attribute vectors: the model folder's attributes.npz (the bundled models ship theirs), else
computed on the bundled tunes' windows; when those are too few the section is skipped
with a note on the page.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np

from musicvae.inference.attributes import vectors_beside
from musicvae.inference.bundled import (
    BUNDLED_16BAR,
    bundled_name,
    bundled_names,
    bundled_tunes,
    model_location,
)
from musicvae.inference.inputs import NoExtractedExamplesError
from musicvae.inference.latent import interpolation_path
from musicvae.inference.trained_model import TrainedModel
from musicvae.outputs import output_folder
from musicvae.render import audio_available, render_many, write_page

log = logging.getLogger(__name__)

DEMO_ATTRIBUTES = ("note_density", "syncopation_16th")
AMOUNTS = (-2.0, -1.0, 0.0, 1.0, 2.0)
MIN_VECTOR_WINDOWS = 8  # quartiles of fewer windows say nothing


SECOND_SAMPLES = 4  # the bundled 16-bar model's section: fewer, longer samples
SECOND_STEPS = 5


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
    returns the path of its index.html. `model_path`: a model folder, training run or bundled
    model name; without it the page shows the bundled 2-bar model, then the bundled 16-bar
    hierarchical one (when the installation has it)."""
    start = time.perf_counter()
    models = [(TrainedModel.load(model_location(model_path), device), samples, steps)]
    if model_path is None and BUNDLED_16BAR in bundled_names():
        second = TrainedModel.bundled(device, name=BUNDLED_16BAR)
        models.append((second, SECOND_SAMPLES, SECOND_STEPS))
    with output_folder(output, overwrite=overwrite, command="demo") as folder:
        out = folder.resolve()  # page links are relative to this folder
        has_audio, audio_note = audio_available()
        audio = audio and has_audio
        # [(section, [(stem, sequence, card title)])], each model's stems under its own prefix
        plan = []
        for k, (model, n, s) in enumerate(models):
            prefix = "" if k == 0 else f"{short_name(model)}-"
            heading = "" if len(models) == 1 else f"{model_name(model)}: "
            plan += _sections(model, n, s, seed, prefix, heading)
        kind = models[0][0].config.data.kind  # a second model is a melody model, as the first
        named = [(stem, seq) for _, items in plan for stem, seq, _ in items]
        files = render_many(named, out, kind, audio=audio, progress=progress)
        by_stem = {stem: f for (stem, _), f in zip(named, files, strict=True)}
        sections = []
        for section, items in plan:
            cards = [{"title": title, **by_stem[stem]} for stem, _, title in items]
            sections.append({**section, "items": cards})
        note = "" if audio else audio_note
        page = write_page(
            out,
            [s for s in sections if s["items"] or s.get("text")],
            title="musicvae demo: " + " and ".join(short_name(m) for m, _, _ in models),
            note=note,
            subtitle=" ".join(
                f"Model {model_name(m)}: {m.config.name}, {m.config.data.kind}, "
                f"{m.config.data.slice_bars} bars, z {m.z_size}."
                for m, _, _ in models
            ),
        )
        log.info("demo written in %.1f s", time.perf_counter() - start)
        return page


def short_name(model: TrainedModel) -> str:
    """A bundled model's name, or its folder's name."""
    bundled = bundled_name(model.source)
    if bundled is not None:
        return bundled
    return Path(os.fspath(model.source or model.config.name)).resolve().name


def model_name(model: TrainedModel) -> str:
    """How the page names a model: short_name, marked "(bundled)" for a bundled model."""
    bundled = bundled_name(model.source) is not None
    return f"{short_name(model)} (bundled)" if bundled else short_name(model)


def _sections(model: TrainedModel, samples: int, steps: int, seed: int, prefix="", heading=""):
    """One model's sections; stems start with `prefix`, titles with `heading`."""
    kind = model.config.data.kind
    what = {"melody": "melodies", "drums": "drum patterns", "trio": "trios"}[kind]
    bars = model.config.data.slice_bars
    wide = bars > 4  # long piano rolls get wider cards
    plan = []
    temperature = model.sampling_temperature("card")  # the card's recommended one, else 0.5
    shown = "argmax" if temperature is None else f"temperature {temperature:g}"
    sampled = model.sample(samples, temperature=temperature, seed=seed)
    title = f"{heading}{samples} {bars}-bar {what} sampled from the prior ({shown})"
    plan.append(
        (
            {"title": title, "wide": wide},
            [(f"{prefix}sample-{i + 1}", s, f"sample {i + 1}") for i, s in enumerate(sampled)],
        )
    )
    ends = _tune_windows(model) if kind == "melody" else None
    if ends is not None:
        a, b, names = ends
        path = model.interpolate(a, b, steps, method="slerp", seed=seed)
        text = f"From {names[0]} to {names[1]}; the ends are their reconstructions."
        items = (
            [(f"{prefix}interp-source-a", a, "source A (input)")]
            + [(f"{prefix}interp-{i + 1}", s, f"step {i + 1}") for i, s in enumerate(path)]
            + [(f"{prefix}interp-source-b", b, "source B (input)")]
        )
        title = f"Interpolation in {steps} steps (slerp between the codes of two folk tunes)"
    else:
        rng = np.random.default_rng(seed)
        za, zb = rng.standard_normal((2, model.z_size)).astype(np.float32)
        path = model.decode(interpolation_path(za, zb, steps, "slerp"), temperature=None)
        text = "Between two random codes, decoded by argmax."
        items = [(f"{prefix}interp-{i + 1}", s, f"step {i + 1}") for i, s in enumerate(path)]
        title = f"Interpolation in {steps} steps (slerp between two random codes)"
    plan.append(({"title": heading + title, "text": text, "wide": wide}, items))
    if kind == "melody" and ends is not None:
        plan += _attribute_sections(model, ends[0], prefix, heading, wide)
    elif kind == "melody":
        plan.append(_skipped("the bundled tunes give this model no window", heading))
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


def _skipped(why: str, heading: str = ""):
    return ({"title": f"{heading}Attribute vectors", "text": f"Skipped: {why}."}, [])


def _attribute_sections(model: TrainedModel, tune, prefix="", heading="", wide=False):
    vectors = _vectors(model)
    if isinstance(vectors, str):
        return [_skipped(vectors, heading)]
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
                {
                    "title": f"{heading}Tune A moved along the {name.replace('_', ' ')} vector",
                    "text": text,
                    "wide": wide,
                },
                [
                    (f"{prefix}attr-{name}-{k}", s, f"{name} {amount:+g}")
                    for k, (s, amount) in enumerate(zip(moved, AMOUNTS, strict=True))
                ],
            )
        )
    return plan


def _vectors(model: TrainedModel) -> dict[str, np.ndarray] | str:
    """The model's attribute vectors (beside its weights, else computed on the bundled tunes'
    windows), or why there are none."""
    found = vectors_beside(model.source)
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


__all__ = ["run_demo"]
