"""Generated sequences -> MIDI files, piano-roll PNGs and (when FluidSynth is there) WAVs; many
sequences render their WAVs in parallel worker threads (the synthesizer runs outside the GIL)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from musicvae.music.midi_io import write_midi
from musicvae.music.notes import NoteSequence
from musicvae.render.audio import render_wav
from musicvae.render.pianoroll import KINDS, piano_roll_png


def _with_suffix(stem: Path, suffix: str) -> Path:
    """stem + suffix, keeping any dots already in the stem's name ("tune.v2" -> "tune.v2.mid")."""
    return stem.with_name(stem.name + suffix)


def render_outputs(
    seq: NoteSequence,
    out_stem: str | os.PathLike,
    kind: str,
    title: str = "",
    audio: bool = True,
) -> dict[str, Path]:
    """Writes <stem>.mid, <stem>.png and, when audio can be rendered, <stem>.wav.

    Returns {"midi": path, "png": path} plus "wav" when one was written; `audio_available()`
    gives the one-line note to show when it was not. `audio=False` skips the WAV.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown output kind {kind!r}; expected one of {KINDS}")
    stem = Path(out_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = {"midi": _with_suffix(stem, ".mid"), "png": _with_suffix(stem, ".png")}
    write_midi(seq, paths["midi"])
    piano_roll_png(seq, paths["png"], kind, title)
    if audio:
        wav, _ = render_wav(seq, paths["midi"], _with_suffix(stem, ".wav"))
        if wav is not None:
            paths["wav"] = wav
    return paths


def render_many(
    named: list[tuple[str, NoteSequence]],
    folder: str | os.PathLike,
    kind: str,
    audio: bool = True,
    workers: int | None = None,
    progress: bool | None = False,
) -> list[dict[str, Path]]:
    """render_outputs for each (stem, sequence) into `folder`: MIDI and PNG in order, then the
    WAVs in `workers` threads (default: the cores). One dict per sequence, in input order;
    `progress` shows bars (None: on a terminal)."""
    from musicvae.progress import bar

    if kind not in KINDS:
        raise ValueError(f"unknown output kind {kind!r}; expected one of {KINDS}")
    folder = Path(folder)
    written = []
    for stem, seq in bar(named, desc="write MIDI", unit="file", progress=progress):
        written.append(render_outputs(seq, folder / stem, kind, title=stem, audio=False))
    if not audio or not named:
        return written
    jobs = [
        (seq, files["midi"], _with_suffix(folder / stem, ".wav"))
        for (stem, seq), files in zip(named, written, strict=True)
    ]
    workers = max(1, min(len(jobs), workers or os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        results = pool.map(lambda job: render_wav(*job)[0], jobs)
        for files, wav in zip(
            written,
            bar(results, total=len(jobs), desc="render audio", unit="file", progress=progress),
            strict=True,
        ):
            if wav is not None:
                files["wav"] = wav
    return written
