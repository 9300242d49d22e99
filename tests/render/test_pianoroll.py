"""Piano-roll PNGs: geometry, notes drawn where they are, deterministic bytes."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from musicvae.music.notes import Note, NoteSequence, Tempo, TimeSignature
from musicvae.render import piano_roll_png, roll_layout
from musicvae.render.pianoroll import (
    DRUM_ROW_PX,
    LABEL_PX,
    MAX_ROLL_PX,
    NOTE_FILL,
    STEP_PX,
    sixteenth_steps,
)
from tests.render.helpers import sequence

KICK, SNARE, CLOSED_HH, RIDE = 36, 38, 42, 51


def _pixels(path) -> np.ndarray:
    with Image.open(path) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("RGB"))  # (H, W, 3)


def _box(pixels: np.ndarray, colour) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) inclusive bounding box of the pixels of exactly `colour`."""
    ys, xs = np.nonzero(np.all(pixels == np.array(colour, dtype=np.uint8), axis=-1))
    assert len(xs), f"no pixel of colour {colour}"
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


def test_melody_size_and_note_position(tmp_path):
    # Two bars, one E4 from step 4 to step 8 and one C5 from step 16 to step 20.
    seq = sequence([(64, 4, 8), (72, 16, 20)])
    path = piano_roll_png(seq, tmp_path / "m.png", "melody")
    pixels = _pixels(path)
    layout = roll_layout(seq, "melody")
    assert layout.num_steps == 32 and layout.roll_px == 32 * STEP_PX
    assert pixels.shape[:2] == (layout.height, layout.width)
    (panel,) = layout.panels
    # Used range 64..72 padded by 2 and no smaller than 13 rows: 62..74.
    assert (panel.low_pitch, panel.rows) == (62, 13)

    fill = NOTE_FILL["melody"]
    ys, xs = np.nonzero(np.all(pixels == np.array(fill, dtype=np.uint8), axis=-1))
    left = xs < LABEL_PX + 12 * STEP_PX  # the first note's pixels
    e4 = (xs[left].min(), ys[left].min(), xs[left].max(), ys[left].max())
    c5 = (xs[~left].min(), ys[~left].min(), xs[~left].max(), ys[~left].max())
    # Columns: step s starts at LABEL_PX + 10 s; a note keeps the grid line and a 1 px gap clear.
    assert LABEL_PX + 40 <= e4[0] <= LABEL_PX + 42 and LABEL_PX + 77 <= e4[2] <= LABEL_PX + 80
    assert LABEL_PX + 160 <= c5[0] <= LABEL_PX + 162 and LABEL_PX + 197 <= c5[2] <= LABEL_PX + 200
    # Rows: C5 is 8 semitones (rows) above E4, higher on the image; both inside the panel.
    assert e4[1] - c5[1] == 8 * panel.row_px
    assert panel.top <= c5[1] and e4[3] < panel.bottom
    y0, y1 = panel.row_span(panel.row_of(64))
    assert y0 <= e4[1] and e4[3] < y1


def test_drums_nine_rows_and_hits(tmp_path):
    seq = sequence([(KICK, 0, 1, 0, True), (RIDE, 31, 32, 0, True), (100, 8, 9, 0, True)])
    pixels = _pixels(piano_roll_png(seq, tmp_path / "d.png", "drums"))
    layout = roll_layout(seq, "drums")
    (panel,) = layout.panels
    assert panel.rows == 9 and panel.labels[0] == "kick" and panel.labels[-1] == "ride"
    assert pixels.shape[:2] == (layout.height, layout.width)
    fill = np.array(NOTE_FILL["drums"], dtype=np.uint8)
    hit = np.all(pixels == fill, axis=-1)  # (H, W)
    kick_rows = slice(panel.top, panel.top + DRUM_ROW_PX)
    ride_rows = slice(panel.top + 8 * DRUM_ROW_PX, panel.top + 9 * DRUM_ROW_PX)
    assert hit[kick_rows, LABEL_PX : LABEL_PX + STEP_PX].any()  # kick, step 0, top row
    assert hit[ride_rows, LABEL_PX + 31 * STEP_PX : LABEL_PX + 32 * STEP_PX].any()  # ride, last
    # Nothing else: pitch 100 is no drum class and is dropped.
    hit[kick_rows, LABEL_PX : LABEL_PX + STEP_PX] = False
    hit[ride_rows, LABEL_PX + 31 * STEP_PX : LABEL_PX + 32 * STEP_PX] = False
    assert not hit.any()


def test_trio_three_stacked_panels(tmp_path):
    seq = sequence(
        [
            (72, 0, 4, 0, False, 0),  # melody, program 0
            (40, 4, 8, 33, False, 1),  # bass, program 33 (GM bass family)
            (SNARE, 8, 9, 0, True, 9),
        ]
    )
    pixels = _pixels(piano_roll_png(seq, tmp_path / "t.png", "trio", title="trio"))
    layout = roll_layout(seq, "trio", title="trio")
    assert [p.name for p in layout.panels] == ["melody", "bass", "drums"]
    assert layout.panels[2].rows == 9
    for upper, lower in zip(layout.panels, layout.panels[1:], strict=False):
        assert upper.bottom <= lower.top  # stacked, not overlapping
    assert pixels.shape[:2] == (layout.height, layout.width)
    for panel in layout.panels:
        x0, y0, x1, y1 = _box(pixels, NOTE_FILL[panel.name])
        assert panel.top <= y0 and y1 < panel.bottom, panel.name
    _, _, mx1, _ = _box(pixels, NOTE_FILL["melody"])
    bx0, _, _, _ = _box(pixels, NOTE_FILL["bass"])
    dx0, _, _, _ = _box(pixels, NOTE_FILL["drums"])
    assert mx1 < bx0 < dx0  # melody, then bass, then the snare, left to right
    snare_top, _ = layout.panels[2].row_span(1)
    assert _box(pixels, NOTE_FILL["drums"])[1] >= snare_top


def test_deterministic_bytes(tmp_path):
    seq = sequence([(60, 0, 2), (62, 2, 4), (KICK, 0, 1, 0, True)])
    a = piano_roll_png(seq, tmp_path / "a.png", "trio", title="x").read_bytes()
    b = piano_roll_png(seq, tmp_path / "b.png", "trio", title="x").read_bytes()
    c = piano_roll_png(sequence([(61, 0, 2)]), tmp_path / "c.png", "trio", title="x").read_bytes()
    assert a == b and a != c


def test_steps_follow_tempo_changes_and_quantization():
    # 120 qpm for 2 s (16 steps of 0.125 s), then 60 qpm (0.25 s per step).
    notes = [Note(60, 1.0, 1.0), Note(62, 3.0, 3.5)]
    seq = NoteSequence.from_notes(notes, tempos=(Tempo(0.0, 120.0), Tempo(2.0, 60.0)))
    start, end = sixteenth_steps(seq)
    assert start.tolist() == [8, 20] and end.tolist() == [9, 22]  # a zero-length note keeps 1
    # Quantized at 2 steps per quarter (8ths): steps are doubled, times ignored.
    quantized = seq.replace(
        steps_per_quarter=2, start_step=np.array([1, 3]), end_step=np.array([2, 5])
    )
    start, end = sixteenth_steps(quantized)
    assert start.tolist() == [2, 6] and end.tolist() == [4, 10]


def test_bars_from_time_signature_and_width_cap():
    three_four = sequence([(60, 0, 1)], bars=1).replace(
        time_signatures=(TimeSignature(0.0, 3, 4),), total_time=2.0
    )
    layout = roll_layout(three_four, "melody")
    assert (layout.steps_per_bar, layout.beat_steps, layout.num_steps) == (12, 4, 24)
    long = sequence([(60, 0, 1)], bars=64)
    layout = roll_layout(long, "melody")
    assert layout.num_steps == 64 * 16 and layout.roll_px == MAX_ROLL_PX
    assert layout.x(layout.num_steps) == LABEL_PX + MAX_ROLL_PX


@pytest.mark.parametrize("kind", ["melody", "drums", "trio"])
def test_empty_sequence(tmp_path, kind):
    seq = NoteSequence.empty()
    pixels = _pixels(piano_roll_png(seq, tmp_path / "e.png", kind))
    layout = roll_layout(seq, kind)
    assert layout.num_steps == 16 and pixels.shape[:2] == (layout.height, layout.width)


def test_unknown_kind(tmp_path):
    with pytest.raises(ValueError, match="kind"):
        piano_roll_png(sequence([(60, 0, 1)]), tmp_path / "x.png", "bass")
