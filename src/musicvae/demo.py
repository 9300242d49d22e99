"""`musicvae demo`: the bundled folk model samples, interpolates and moves a tune along
attribute vectors, and writes a self-contained page with piano rolls, MIDI and audio."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from musicvae.inference.bundled import bundled_model_dir, bundled_tunes, bundled_vectors
from musicvae.inference.trained_model import TrainedModel
from musicvae.render import audio_available, render_outputs, write_page

log = logging.getLogger(__name__)

DEMO_ATTRIBUTES = ("note_density", "syncopation_16th")
AMOUNTS = (-2.0, -1.0, 0.0, 1.0, 2.0)


def run_demo(
    output: str | Path = "musicvae-demo",
    model_path: str | Path | None = None,
    samples: int = 8,
    steps: int = 8,
    seed: int = 0,
    audio: bool = True,
) -> Path:
    """Writes the demo into `output` and returns the path of its index.html."""
    start = time.perf_counter()
    out = Path(output).resolve()  # page links are relative to this folder
    out.mkdir(parents=True, exist_ok=True)
    model = TrainedModel.load(model_path or bundled_model_dir())
    kind = model.config.data.kind
    has_audio, audio_note = audio_available()
    audio = audio and has_audio

    def render(seq, stem: str, title: str) -> dict:
        files = render_outputs(seq, out / stem, kind, title=title, audio=audio)
        return {"title": title, **files}

    sections = []
    sampled = model.sample(samples, temperature=0.5, seed=seed)
    sections.append(
        {
            "title": f"{samples} melodies sampled from the prior (temperature 0.5)",
            "items": [
                render(s, f"sample-{i + 1}", f"sample {i + 1}") for i, s in enumerate(sampled)
            ],
        }
    )

    tune_a, tune_b = bundled_tunes()
    a = model.window_sequences(tune_a)[0]  # the first 2 bars of each tune
    b = model.window_sequences(tune_b)[0]
    path = model.interpolate(a, b, steps, method="slerp", seed=seed)
    sections.append(
        {
            "title": f"Interpolation in {steps} steps (slerp between the codes of two folk tunes)",
            "text": f"From {tune_a.stem} to {tune_b.stem}; the ends are their reconstructions.",
            "items": [render(a, "interp-source-a", "source A (input)")]
            + [render(s, f"interp-{i + 1}", f"step {i + 1}") for i, s in enumerate(path)]
            + [render(b, "interp-source-b", "source B (input)")],
        }
    )

    vectors = model.load_attribute_vectors(model_path_vectors(model_path))
    _, mu, _ = model.encode([a])
    for name in DEMO_ATTRIBUTES:
        if name not in vectors:
            continue
        codes = [model.apply_attribute(mu[0], name, amount) for amount in AMOUNTS]
        moved = model.decode(codes, temperature=None)
        sections.append(
            {
                "title": f"Tune A moved along the {name.replace('_', ' ')} vector",
                "text": "Amounts "
                + ", ".join(f"{x:+g}" for x in AMOUNTS)
                + " (0 = reconstruction).",
                "items": [
                    render(s, f"attr-{name}-{k}", f"{name} {amount:+g}")
                    for k, (s, amount) in enumerate(zip(moved, AMOUNTS, strict=True))
                ],
            }
        )

    note = "" if audio else audio_note
    page = write_page(out, sections, title="musicvae demo", note=note)
    log.info("demo written in %.1f s", time.perf_counter() - start)
    return page


def model_path_vectors(model_path: str | Path | None) -> Path:
    """Attribute vectors next to a given model folder, else the bundled ones."""
    if model_path is not None:
        candidate = Path(model_path) / "attributes.npz"
        if candidate.exists():
            return candidate
    return bundled_vectors()
