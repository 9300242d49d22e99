"""Piano-roll PNGs: melody (pitch x 16th steps), drums (a 9-class grid), trio (three panels).

Drawn with Pillow rectangles on a fixed grid, so the same sequence always gives the same bytes.
Times are mapped to 16th steps through the sequence's tempo map (or its quantized steps), bars
come from its first time signature (4/4 when it has none).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from musicvae.music.drums import NUM_DRUM_CLASSES, pitch_class_table
from musicvae.music.midi_io import seconds_to_position, tempo_map
from musicvae.music.notes import NoteSequence

KINDS = ("melody", "drums", "trio")
STEPS_PER_QUARTER = 4  # the grid is always 16th notes
# Row labels of the drum grid, in DRUM_CLASS_PITCHES order (kick on top).
DRUM_LABELS = (
    "kick",
    "snare",
    "closed hh",
    "open hh",
    "low tom",
    "mid tom",
    "high tom",
    "crash",
    "ride",
)
NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
BASS_PROGRAMS = range(32, 40)  # GM bass family, as TrioConverter types its tracks

# Geometry in pixels.
MARGIN = 4
LABEL_PX = 64  # left column for row labels
TITLE_PX = 18
HEADER_PX = 14  # a panel's name above it (trio only)
PANEL_GAP = 6
AXIS_PX = 14  # bar numbers under the roll
STEP_PX = 10  # per 16th step, until the roll reaches MAX_ROLL_PX
MAX_ROLL_PX = 1536
DRUM_ROW_PX = 14
PITCH_PANEL_PX = 300  # a pitch panel's target height; rows are 3..8 px
MIN_PITCH_ROWS = 13  # at least an octave (both Cs) is shown
PITCH_PAD = 2  # rows shown above the highest and below the lowest note
EMPTY_RANGE = (60, 72)
FONT_PX = 10

# Colours (RGB).
BACKGROUND = (255, 255, 255)
BLACK_KEY_ROW = (244, 244, 246)
DRUM_ROW_LINE = (232, 232, 236)
BEAT_LINE = (222, 222, 228)
BAR_LINE = (150, 150, 160)
TEXT = (50, 50, 60)
NOTE_FILL = {"melody": (31, 119, 180), "bass": (44, 160, 44), "drums": (214, 39, 40)}
NOTE_EDGE = {"melody": (16, 62, 94), "bass": (22, 82, 22), "drums": (120, 20, 22)}


assert len(DRUM_LABELS) == NUM_DRUM_CLASSES


@dataclass(frozen=True)
class Panel:
    """One stacked panel: rows of pitches (top row highest) or of drum classes (kick on top)."""

    name: str  # "melody", "bass" or "drums"
    top: int  # y of the top row's first pixel
    row_px: int
    labels: tuple[str, ...]  # one per row, top row first ("" = unlabelled)
    low_pitch: int | None = None  # pitch panels: pitch of the bottom row

    @property
    def rows(self) -> int:
        return len(self.labels)

    @property
    def bottom(self) -> int:
        """y one past the panel's last pixel."""
        return self.top + self.rows * self.row_px

    def row_of(self, value):
        """Row (0 = top) of a pitch (pitch panels) or a drum class (drum panel); int or array."""
        if self.low_pitch is None:
            return value
        return self.rows - 1 - (value - self.low_pitch)

    def row_span(self, row: int) -> tuple[int, int]:
        """(y0, y1) of a row, y1 exclusive."""
        y0 = self.top + row * self.row_px
        return y0, y0 + self.row_px


@dataclass(frozen=True)
class RollLayout:
    """Where everything goes; `x(step)` maps a 16th step to a pixel column."""

    width: int
    height: int
    num_steps: int
    steps_per_bar: int
    beat_steps: int
    roll_px: int
    panels: tuple[Panel, ...]
    axis_top: int

    def x(self, step: int) -> int:
        return LABEL_PX + step * self.roll_px // self.num_steps


def sixteenth_steps(seq: NoteSequence) -> tuple[np.ndarray, np.ndarray]:
    """Each note's (start, end) 16th step, (N,) int64 each; every note lasts at least a step."""
    if seq.is_quantized:
        scale = STEPS_PER_QUARTER / seq.steps_per_quarter
        start = np.rint(seq.start_step * scale).astype(np.int64)
        end = np.rint(seq.end_step * scale).astype(np.int64)
    else:
        start, end = (_seconds_to_steps(t, seq) for t in (seq.start, seq.end))
    return start, np.maximum(end, start + 1)


def _seconds_to_steps(seconds: np.ndarray, seq: NoteSequence) -> np.ndarray:
    """Seconds (N,) -> nearest 16th step (N,) under the sequence's tempo changes."""
    steps = seconds_to_position(seconds, tempo_map(seq.tempos, STEPS_PER_QUARTER))
    return np.rint(steps).astype(np.int64)


def _bar_steps(seq: NoteSequence) -> tuple[int, int]:
    """(steps per bar, steps per beat) from the first time signature, 4/4 without one."""
    if seq.time_signatures:
        ts = min(seq.time_signatures, key=lambda t: t.time)
        beat = STEPS_PER_QUARTER * 4 // ts.denominator if ts.denominator in (1, 2, 4, 8, 16) else 0
        if beat and 0 < ts.numerator <= 64:
            return ts.numerator * beat, beat
    return 16, 4


def _parts(seq: NoteSequence, kind: str) -> list[tuple[str, np.ndarray]]:
    """The panels of a kind as (name, note mask (N,))."""
    if kind not in KINDS:
        raise ValueError(f"unknown piano-roll kind {kind!r}; expected one of {KINDS}")
    drums = seq.is_drum
    if kind == "melody":
        return [("melody", ~drums)]
    if kind == "drums":
        return [("drums", drums)]
    bass = ~drums & np.isin(seq.program, BASS_PROGRAMS)
    return [("melody", ~drums & ~bass), ("bass", bass), ("drums", drums)]


def _pitch_rows(pitches: np.ndarray) -> tuple[int, int]:
    """(low, high) pitch shown: the used range padded, at least an octave, within 0..127."""
    if len(pitches) == 0:
        return EMPTY_RANGE
    low, high = int(pitches.min()) - PITCH_PAD, int(pitches.max()) + PITCH_PAD
    missing = MIN_PITCH_ROWS - (high - low + 1)
    if missing > 0:
        low -= missing // 2
        high += missing - missing // 2
    shift = max(0, -low) - max(0, high - 127)
    return max(low + shift, 0), min(high + shift, 127)


def _pitch_label(pitch: int) -> str:
    return f"C{pitch // 12 - 1}" if pitch % 12 == 0 else ""


def roll_layout(seq: NoteSequence, kind: str, title: str = "") -> RollLayout:
    """The image geometry for a sequence: size, 16th-step columns and one Panel per part."""
    parts = _parts(seq, kind)
    steps_per_bar, beat_steps = _bar_steps(seq)
    _, end = sixteenth_steps(seq)
    total = max(int(end.max(initial=0)), int(_seconds_to_steps(np.array([seq.total_time]), seq)[0]))
    num_steps = max(1, math.ceil(total / steps_per_bar)) * steps_per_bar
    roll_px = min(num_steps * STEP_PX, MAX_ROLL_PX)
    y = MARGIN + (TITLE_PX if title else 0)
    panels = []
    for name, mask in parts:
        y += HEADER_PX if len(parts) > 1 else 0
        if name == "drums":
            panel = Panel(name, y, DRUM_ROW_PX, DRUM_LABELS)
        else:
            low, high = _pitch_rows(seq.pitch[mask])
            rows = high - low + 1
            row_px = min(max(PITCH_PANEL_PX // rows, 3), 8)
            labels = tuple(_pitch_label(p) for p in range(high, low - 1, -1))
            panel = Panel(name, y, row_px, labels, low_pitch=low)
        panels.append(panel)
        y = panel.bottom + PANEL_GAP
    axis_top = y - PANEL_GAP
    return RollLayout(
        width=LABEL_PX + roll_px + MARGIN,
        height=axis_top + AXIS_PX + MARGIN,
        num_steps=num_steps,
        steps_per_bar=steps_per_bar,
        beat_steps=beat_steps,
        roll_px=roll_px,
        panels=tuple(panels),
        axis_top=axis_top,
    )


def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=FONT_PX)  # Pillow's bundled font (FreeType builds)
    except (TypeError, ImportError, OSError):
        return ImageFont.load_default()


def _text(draw, xy: tuple[int, int], text: str, font, align: str = "left") -> None:
    """Text whose left (or right) edge is at x, vertically centred on y."""
    x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=font)
    x = xy[0] - (x1 if align == "right" else x0)
    draw.text((x, xy[1] - (y0 + y1) // 2), text, fill=TEXT, font=font)


def _draw_grid(draw, layout: RollLayout, panel: Panel, font) -> None:
    x_end = layout.x(layout.num_steps)
    for row, label in enumerate(panel.labels):
        y0, y1 = panel.row_span(row)
        if panel.low_pitch is not None:
            pitch = panel.low_pitch + panel.rows - 1 - row
            if NOTE_NAMES[pitch % 12].endswith("#"):
                draw.rectangle((LABEL_PX, y0, x_end - 1, y1 - 1), fill=BLACK_KEY_ROW)
        elif row:
            draw.line((LABEL_PX, y0, x_end - 1, y0), fill=DRUM_ROW_LINE)
        if label:
            _text(draw, (LABEL_PX - 4, (y0 + y1) // 2), label, font, align="right")
    for step in range(0, layout.num_steps + 1, layout.beat_steps):
        colour = BAR_LINE if step % layout.steps_per_bar == 0 else BEAT_LINE
        x = min(layout.x(step), x_end - 1)
        draw.line((x, panel.top, x, panel.bottom - 1), fill=colour)


def _draw_notes(draw, layout, panel, rows, start, end) -> None:
    """Note rectangles; rows, start, end (N,) are each note's row and 16th-step span."""
    fill, edge = NOTE_FILL[panel.name], NOTE_EDGE[panel.name]
    for row, s, e in zip(rows.tolist(), start.tolist(), end.tolist(), strict=True):
        y0, y1 = panel.row_span(row)
        x0, x1 = layout.x(s) + 1, layout.x(e) - 1  # keep the grid line and a gap visible
        x1 = max(x1, x0 + 1)
        if x1 - x0 >= 3 and y1 - y0 >= 4:
            draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=fill, outline=edge)
        else:
            draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=fill)


def piano_roll_image(seq: NoteSequence, kind: str, title: str = "") -> Image.Image:
    """The piano roll as an RGB Pillow image (see `roll_layout` for its geometry)."""
    layout = roll_layout(seq, kind, title)
    image = Image.new("RGB", (layout.width, layout.height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    font = _font()
    if title:
        _text(draw, (MARGIN, MARGIN + TITLE_PX // 2 - 1), title, font)
    start, end = sixteenth_steps(seq)
    drum_class = pitch_class_table()[np.clip(seq.pitch, 0, 127)]  # (N,) -1 = unmapped
    for panel, (name, mask) in zip(layout.panels, _parts(seq, kind), strict=True):
        if len(layout.panels) > 1:
            _text(draw, (MARGIN, panel.top - HEADER_PX // 2), name, font)
        _draw_grid(draw, layout, panel, font)
        if name == "drums":
            mask = mask & (drum_class >= 0)
            rows = drum_class[mask]
            s = start[mask]
            _draw_notes(draw, layout, panel, rows, s, s + 1)  # a hit fills its step
        else:
            rows = panel.row_of(np.clip(seq.pitch[mask].astype(np.int64), 0, 127))
            _draw_notes(draw, layout, panel, rows, start[mask], end[mask])
    bar_px = layout.steps_per_bar * layout.roll_px / layout.num_steps
    every = max(1, math.ceil(24 / bar_px))  # bar numbers at least 24 px apart
    for bar in range(0, layout.num_steps // layout.steps_per_bar, every):
        x = layout.x(bar * layout.steps_per_bar) + 2
        _text(draw, (x, layout.axis_top + AXIS_PX // 2), str(bar + 1), font)
    return image


def piano_roll_png(seq: NoteSequence, path: str | os.PathLike, kind: str, title: str = "") -> Path:
    """Writes the piano roll of a melody, drum or trio sequence as a PNG; returns its path."""
    path = Path(path)
    piano_roll_image(seq, kind, title).save(path, format="PNG")
    return path


__all__ = [
    "KINDS",
    "NOTE_FILL",
    "Panel",
    "RollLayout",
    "piano_roll_image",
    "piano_roll_png",
    "roll_layout",
    "sixteenth_steps",
]
