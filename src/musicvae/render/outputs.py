"""One generated sequence -> its MIDI file, piano-roll PNG and (when FluidSynth is there) WAV."""

from __future__ import annotations

import os
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
