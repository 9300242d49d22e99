"""Clips: what the Studio page and server pass each other. A clip is a JSON object whose notes
are on the 16th-step grid (`start`/`end` in steps, 120 qpm), so the page draws and plays it and
the server turns it back into the NoteSequence the model's converter reads.

Also here: MIDI bytes and a zip (MIDI + piano-roll PNG per clip) for downloads, safe download
names, and the windows of an uploaded file with the bars they come from.
"""

from __future__ import annotations

import io
import math
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from musicvae.configs import DataConfig
from musicvae.data.converters import build_converter
from musicvae.data.windows import windows_of
from musicvae.music import sequences
from musicvae.music.midi_io import midi_bytes
from musicvae.music.notes import DEFAULT_QPM, Note, NoteSequence, Tempo, TimeSignature

CLIP_QPM = DEFAULT_QPM  # the converters decode at 120 qpm; the page plays at any tempo


@dataclass(frozen=True)
class BarWindow:
    """One window of an upload: bars `first`..`last` (1-based, None when the file could not be
    cut at bars) and the window as the model sees it (converter outputs (T, D))."""

    first: int | None
    last: int | None
    outputs: np.ndarray


def sequence_to_clip(seq: NoteSequence, steps_per_quarter: int, steps: int, **fields) -> dict:
    """A NoteSequence (seconds, its first tempo) -> clip dict with notes in 16th steps."""
    qpm = seq.tempos[0].qpm if seq.tempos else DEFAULT_QPM
    per_second = steps_per_quarter * qpm / 60.0
    start = np.rint(seq.start * per_second).astype(np.int64)  # (N,)
    end = np.maximum(np.rint(seq.end * per_second).astype(np.int64), start + 1)  # (N,)
    order = np.lexsort((seq.pitch, start))
    notes = [
        {
            "pitch": int(seq.pitch[i]),
            "velocity": int(seq.velocity[i]),
            "start": int(start[i]),
            "end": int(end[i]),
            "program": int(seq.program[i]),
            "is_drum": bool(seq.is_drum[i]),
            "instrument": int(seq.instrument[i]),
        }
        for i in order
    ]
    length = max([steps] + [n["end"] for n in notes])
    return {"notes": notes, "steps": int(length), "steps_per_quarter": steps_per_quarter, **fields}


def clip_to_sequence(notes: Iterable[dict], steps_per_quarter: int) -> NoteSequence:
    """Clip notes (16th steps) -> an unquantized 4/4 NoteSequence at 120 qpm, as the
    converters' from_tensors write them (so a decoded clip converts back to its window)."""
    seconds = 60.0 / CLIP_QPM / steps_per_quarter
    records = [
        Note(
            pitch=int(n["pitch"]),
            start=int(n["start"]) * seconds,
            end=int(n["end"]) * seconds,
            velocity=int(n.get("velocity", 80)),
            program=int(n.get("program", 0)),
            is_drum=bool(n.get("is_drum", False)),
            instrument=int(n.get("instrument", 0)),
        )
        for n in notes
    ]
    return NoteSequence.from_notes(
        records,
        tempos=(Tempo(0.0, CLIP_QPM),),
        time_signatures=(TimeSignature(0.0, 4, 4),),
    )


def melody_events(notes: Iterable[dict], steps: int) -> np.ndarray:
    """Clip notes -> melody events (steps,): the pitch at each onset, -1 (note-off) where a note
    ends and no other starts, -2 (no event) elsewhere; notes past `steps` are cut."""
    events = np.full(steps, -2, np.int64)  # (T,)
    ordered = sorted(notes, key=lambda n: (int(n["start"]), int(n["pitch"])))
    for n in ordered:
        end = int(n["end"])
        if end < steps and events[end] == -2:
            events[end] = -1
    for n in ordered:
        if int(n["start"]) < steps:
            events[int(n["start"])] = int(n["pitch"])
    return events


def safe_name(name: str, default: str = "clip") -> str:
    """A download name made of letters, digits, '-' and '_' only (at most 60 characters)."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_")[:60]
    return cleaned or default


def shelf_zip(clips: list[tuple[str, NoteSequence, str]]) -> bytes:
    """(name, sequence, kind) per clip -> zip bytes holding NAME.mid and its piano roll NAME.png
    (names made safe and unique)."""
    from musicvae.render.pianoroll import piano_roll_image

    buffer = io.BytesIO()
    used: set[str] = set()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for k, (name, seq, kind) in enumerate(clips):
            stem = safe_name(name, f"clip_{k + 1}")
            if stem in used:
                stem = f"{stem}_{k + 1}"
            used.add(stem)
            archive.writestr(f"{stem}.mid", midi_bytes(seq))
            png = io.BytesIO()
            piano_roll_image(seq, kind, title=stem).save(png, format="PNG")
            archive.writestr(f"{stem}.png", png.getvalue())
    return buffer.getvalue()


def _excerpt(quantized: NoteSequence, lo: int, hi: int, steps_per_quarter: int):
    """The notes starting in steps [lo, hi) of a quantized sequence, cut at hi, moved to 0."""
    mask = (quantized.start_step >= lo) & (quantized.start_step < hi)
    if not mask.any():
        return None
    picked = quantized.select(mask)
    start = picked.start_step - lo  # (n,)
    end = np.minimum(picked.end_step, hi) - lo  # (n,)
    notes = [
        {
            "pitch": int(picked.pitch[i]),
            "velocity": int(picked.velocity[i]),
            "start": int(start[i]),
            "end": int(end[i]),
            "program": int(picked.program[i]),
            "is_drum": bool(picked.is_drum[i]),
            "instrument": int(picked.instrument[i]),
        }
        for i in range(len(picked))
    ]
    return clip_to_sequence(notes, steps_per_quarter)


# Not data.listing.list_windows: an upload needs the window tensors, and its scan stops at max_bars.
def bar_windows(data: DataConfig, seq: NoteSequence, max_bars: int, max_windows: int):
    """The distinct windows of a file with the bars they start on -> (list of BarWindow,
    bars scanned). Each `slice_bars` excerpt starting on a bar goes through the model's own
    converter; a file that cannot be cut at bars (tempo or meter changes, not 4/4) gets the
    converter's windows of the whole file without bar numbers."""
    steps_per_bar = data.steps_per_quarter * data.quarters_per_bar
    try:
        quantized = sequences.quantize(seq, data.steps_per_quarter)
        cut = sequences.steps_per_bar(quantized) == steps_per_bar
    except sequences.QuantizationError:
        cut = False
    if not cut:
        outputs = windows_of(data, seq).outputs[:max_windows]
        return [BarWindow(None, None, w) for w in outputs], 0
    bars = min(max_bars, math.ceil(quantized.total_quantized_steps / steps_per_bar))
    converter = build_converter(data)
    found: list[BarWindow] = []
    seen: set[bytes] = set()
    for bar in range(max(1, bars - data.slice_bars + 1)):
        lo = bar * steps_per_bar
        excerpt = _excerpt(
            quantized, lo, lo + data.slice_bars * steps_per_bar, data.steps_per_quarter
        )
        if excerpt is None:
            continue
        for window in converter.to_tensors(excerpt).outputs:  # (T, D) each
            key = np.ascontiguousarray(window).tobytes()
            if key not in seen:
                seen.add(key)
                found.append(BarWindow(bar + 1, bar + data.slice_bars, window))
        if len(found) >= max_windows:
            break
    return found[:max_windows], bars
