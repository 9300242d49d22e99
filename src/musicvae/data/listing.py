"""Which windows a file gives a config, and where they come from: bars, track, notes.

`list_windows` returns one WindowInfo per window in the converter's own order (the order of
`to_tensors(seq)` and of TrainedModel.windows, so WindowInfo.index is the K of `--window K`).
Bars are numbered from 1 at the start of the file; where a file changes tempo or meter,
Magenta converts each stretch on its own and each stretch's bars are counted in its own meter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from musicvae.data.converters import build_converter
from musicvae.data.diagnose import program_names
from musicvae.music.melody import clean_leading_note_offs
from musicvae.music.midi_io import read_midi_file
from musicvae.music.notes import DEFAULT_QPM, NoteSequence
from musicvae.music.sequences import extract_subsequences, time_change_splits


@dataclass(frozen=True)
class WindowInfo:
    """One window: its index among the file's windows, its bars (1-based, inclusive), the
    tracks it reads (e.g. 'instrument 2, program 40 (strings)') and its note onsets."""

    index: int
    first_bar: int
    last_bar: int
    tracks: tuple[str, ...]
    notes: int

    def describe(self) -> str:
        return (
            f"window {self.index}: bars {self.first_bar}-{self.last_bar}, "
            f"{'; '.join(self.tracks)}, {self.notes} notes"
        )


@dataclass(frozen=True)
class _Found:
    """A window before de-duplication: its row (events or masks), where it starts, what read."""

    row: np.ndarray  # (T,) melody events or drum masks, or (T, 692) trio one-hot
    start_bar: int  # 0-based bar within its piece
    tracks: tuple[str, ...]
    notes: int


def _pieces(data, seq: NoteSequence) -> list[tuple[NoteSequence, float]]:
    """The stretches the converter reads, each with the bars of the file before it."""
    converter = build_converter(data)
    if not converter.presplit_on_time_changes:
        return [(seq, 0.0)]
    splits = time_change_splits(seq)
    if len(splits) < 2:
        return []
    pieces = extract_subsequences(seq, splits)
    out, bars = [], 0.0
    for piece, start, end in zip(pieces, splits[:-1], splits[1:], strict=True):
        out.append((piece, bars))
        qpm = piece.tempos[0].qpm if piece.tempos else DEFAULT_QPM
        meter = piece.time_signatures[0] if piece.time_signatures else None
        quarters = meter.numerator * 4 / meter.denominator if meter else 4.0
        bars += (end - start) / (quarters * 60.0 / qpm)
    return out


def _instrument_label(seq: NoteSequence, instrument: int) -> str:
    programs = seq.program[seq.instrument == instrument]
    return f"instrument {instrument}, program {program_names(programs[:1])}"


def _melody_windows(converter, piece: NoteSequence) -> list[_Found]:
    """Every melody window of a piece, instrument by instrument (Magenta extracts each
    instrument on its own), before de-duplication."""
    spb = converter.steps_per_bar
    steps = spb * converter.slice_bars
    found = []
    for instrument in np.unique(piece.instrument).tolist():
        melodies, _ = converter.melodies(piece.select(piece.instrument == instrument))
        label = _instrument_label(piece, instrument)
        for melody in melodies:
            events = np.asarray(melody.events, np.int64)
            for k in range(0, len(events) - steps + 1, spb):
                row = clean_leading_note_offs(events[k : k + steps])
                bar = (melody.start_step + k) // spb
                found.append(_Found(row, bar, (label,), int((row >= 0).sum())))
    return found


def _drum_windows(converter, piece: NoteSequence) -> list[_Found]:
    spb = converter.steps_per_bar
    steps = spb * converter.slice_bars
    tracks, _ = converter.tracks(piece)
    found = []
    for track in tracks:
        masks = np.asarray(track.events, np.int64)
        for k in range(0, len(masks) - steps + 1, spb):
            row = masks[k : k + steps]
            hits = int(sum(bin(m).count("1") for m in row.tolist()))
            found.append(_Found(row, (track.start_step + k) // spb, ("drums",), hits))
    return found


def _trio_windows(converter, piece: NoteSequence) -> list[_Found]:
    m, b, _ = converter.split_depths
    found = []
    for group, bar, window in converter.piece_windows(piece):
        labels = tuple(
            f"{role}: " + (f"instrument {i}" if role == "drums" else _instrument_label(piece, i))
            for role, i in zip(("melody", "bass", "drums"), group, strict=True)
        )
        tokens = (window[:, :m].argmax(-1), window[:, m : m + b].argmax(-1))
        notes = sum(int((t >= 2).sum()) for t in tokens)  # melody and bass note-ons
        masks = window[:, m + b :].argmax(-1).tolist()
        notes += sum(bin(x).count("1") for x in masks)
        found.append(_Found(window, bar, labels, notes))
    return found


def _dedupe(found: list[_Found]) -> list[_Found]:
    """Magenta's set() de-duplication in our converters' order (sorted rows), keeping the
    first place each distinct window comes from."""
    if len(found) <= 1:
        return found
    rows = np.stack([f.row for f in found])  # (N, T)
    _, first = np.unique(rows, axis=0, return_index=True)
    return [found[i] for i in first]


def list_windows(data, seq: NoteSequence) -> list[WindowInfo]:
    """Every window `data`'s converter takes from `seq` (all of them, as in inference), in
    its order, with bars, tracks and note counts."""
    converter = build_converter(data)
    infos: list[WindowInfo] = []
    for piece, bars_before in _pieces(data, seq):
        if data.kind == "melody":
            found = _dedupe(_melody_windows(converter, converter.keep_notes(piece)))
        elif data.kind == "drums":
            found = _dedupe(_drum_windows(converter, piece))
        else:
            found = _trio_windows(converter, piece)
        for f in found:
            first = math.floor(bars_before + 1e-6) + f.start_bar + 1
            infos.append(
                WindowInfo(len(infos), first, first + data.slice_bars - 1, f.tracks, f.notes)
            )
    return infos


def list_file_windows(path, config) -> list[WindowInfo]:
    """The windows of a MIDI file for a Config (see list_windows); a missing or unreadable
    file raises a ValueError naming it."""
    return list_windows(config.data, read_midi_file(path))


def file_windows(path, config) -> tuple[list[WindowInfo], str | None]:
    """(the windows of a MIDI file, why it has none (None when it has some)): the `windows`
    command."""
    seq = read_midi_file(path)
    infos = list_windows(config.data, seq)
    reason = None if infos else build_converter(config.data).no_window_reason(seq, config.name)
    return infos, reason
