"""Monophonic melody extraction and decoding, as note_seq's Melody and Magenta's extract_melodies.

A melody is a list of events per 16th step: a MIDI pitch (note-on), NOTE_OFF (-1) or
NO_EVENT (-2, the previous state continues). `start_step` is the step of the source sequence
where event 0 falls (always a bar line).
"""

from __future__ import annotations

import numpy as np

from musicvae.music.events import EventTrack
from musicvae.music.notes import DEFAULT_QPM, NoteSequence, Tempo, TimeSignature

NOTE_OFF = -1
NO_EVENT = -2


class Melody(EventTrack):
    """A monophonic melody: pitches, NOTE_OFF and NO_EVENT per step."""

    PAD = NO_EVENT

    def set_length(self, steps: int) -> None:
        """note_seq Melody.set_length (on the right): extending also ends a held note."""
        old = len(self.events)
        super().set_length(steps)
        if steps <= old:
            return
        for i in range(old - 1, -1, -1):
            if self.events[i] == NOTE_OFF:
                break
            if self.events[i] != NO_EVENT:
                self.events[old] = NOTE_OFF
                break


def _melody_from_notes(
    start_steps: list[int],
    end_steps: list[int],
    pitches: list[int],
    keep: list[bool],
    search_start: int,
    steps_per_bar: int,
    gap_steps: float,
    pad_end: bool,
) -> Melody:
    """Melody.from_quantized_sequence for one instrument's notes sorted by (start, -pitch)."""
    melody = Melody()
    if not start_steps:
        return melody
    events = melody.events
    origin = start_steps[0] - (start_steps[0] - search_start) % steps_per_bar
    last_on = last_off = 0
    for s, e, pitch, ok in zip(start_steps, end_steps, pitches, keep, strict=False):
        if not ok:  # drums and zero-velocity notes are skipped
            continue
        s -= origin
        e -= origin
        if events:
            if s == last_on:  # simultaneous onset: the highest pitch came first
                continue
            if events and s - last_off >= gap_steps:
                break
        # _add_note: the melody now ends at e (overlapped notes are cut).
        if len(events) > e + 1:
            del events[e + 1 :]
        else:
            events.extend([NO_EVENT] * (e + 1 - len(events)))
        events[s] = pitch
        events[s + 1 : e] = [NO_EVENT] * (e - s - 1)
        events[e] = NOTE_OFF
        last_on, last_off = s, e
    if not events:
        return melody
    melody.start_step = origin
    del events[-1]  # strip the final NOTE_OFF
    melody.finish(steps_per_bar, pad_end)
    return melody


def extract_melodies(
    seq: NoteSequence,
    *,
    steps_per_bar: int,
    gap_bars: float = 1.0,
    min_bars: int = 1,
    max_steps_truncate: int | None = None,
    min_unique_pitches: int = 1,
    pad_end: bool = True,
) -> list[Melody]:
    """Magenta's melody_pipelines.extract_melodies with ignore_polyphonic_notes=True.

    Per instrument, melodies end after `gap_bars` bars of silence; the highest pitch wins among
    simultaneous onsets; each melody is padded to a bar line and truncated to
    `max_steps_truncate` (bar-aligned).
    """
    if not seq.is_quantized:
        raise ValueError("extract_melodies needs a quantized sequence")
    gap_steps = gap_bars * steps_per_bar
    melodies = []
    # Notes sorted by (start step, -pitch); the sort is stable like Python's sorted().
    order = np.lexsort((-seq.pitch.astype(np.int64), seq.start_step))
    for instrument in np.unique(seq.instrument):
        idx = order[seq.instrument[order] == instrument]
        starts = seq.start_step[idx]
        search_start = 0
        while True:
            sel = idx[starts >= search_start]
            keep = (~seq.is_drum[sel]) & (seq.velocity[sel] != 0)
            melody = _melody_from_notes(
                seq.start_step[sel].tolist(),
                seq.end_step[sel].tolist(),
                seq.pitch[sel].tolist(),
                keep.tolist(),
                search_start,
                steps_per_bar,
                gap_steps,
                pad_end,
            )
            search_start = melody.end_step + (-melody.end_step) % steps_per_bar
            if not melody.events:
                break
            if len(melody) < steps_per_bar * min_bars:
                continue
            melody.truncate(max_steps_truncate, steps_per_bar, pad_end)
            pitches = np.asarray(melody.events)
            pitch_classes = np.unique(pitches[pitches >= 0] % 12)
            if len(pitch_classes) < min_unique_pitches:
                continue
            melodies.append(melody)
    return melodies


def clean_leading_note_offs(windows: np.ndarray) -> np.ndarray:
    """NOTE_OFFs before a window's first note-on become NO_EVENT (note_seq Melody slicing)."""
    seen_note = np.maximum.accumulate(windows >= 0, axis=-1)
    return np.where(~seen_note & (windows == NOTE_OFF), NO_EVENT, windows)


def melody_to_notes(
    events,
    *,
    steps_per_quarter: int = 4,
    qpm: float = DEFAULT_QPM,
    velocity: int = 80,
    program: int = 0,
    instrument: int = 0,
) -> NoteSequence:
    """note_seq Melody.to_sequence: events (T,) -> notes; the end of the list ends a held note.

    A note starts at each note-on and ends at the next note-on or NOTE_OFF, or at the end."""
    row = np.asarray(events, dtype=np.int64).reshape(1, -1)  # (1, T)
    return melodies_to_notes(
        row,
        steps_per_quarter=steps_per_quarter,
        qpm=qpm,
        velocity=velocity,
        program=program,
        instrument=instrument,
    )[0]


def melodies_to_notes(
    events: np.ndarray,
    *,
    steps_per_quarter: int = 4,
    qpm: float = DEFAULT_QPM,
    velocity: int = 80,
    program: int = 0,
    instrument: int = 0,
    time_signatures: tuple[TimeSignature, ...] = (),
) -> list[NoteSequence]:
    """melody_to_notes of every row of events (N, T) at once, with array operations over the
    whole batch (decoding returns many melodies together); `time_signatures` marks each."""
    events = clean_leading_note_offs(np.asarray(events, dtype=np.int64))  # (N, T)
    n_rows, steps = events.shape
    if n_rows == 0:
        return []
    seconds_per_step = 60.0 / qpm / steps_per_quarter
    bound = (events >= 0) | (events == NOTE_OFF)  # (N, T) steps that end a held note
    # next_bound[r, t]: the first bound step > t in row r, or T (the end of the list).
    at = np.where(bound, np.arange(steps), steps)  # (N, T)
    after = np.full((n_rows, steps + 1), steps, dtype=np.int64)  # (N, T + 1)
    after[:, :steps] = np.minimum.accumulate(at[:, ::-1], axis=1)[:, ::-1]
    rows, starts = np.nonzero(events >= 0)  # (M,) each, row-major: by row, then by step
    ends = after[rows, starts + 1]  # (M,)
    pitch = events[rows, starts].astype(np.int16)  # (M,)
    start_s = starts * seconds_per_step  # (M,) as note_seq: step * seconds per step
    end_s = ends * seconds_per_step  # (M,)
    splits = np.cumsum(np.bincount(rows, minlength=n_rows))[:-1]  # row boundaries in M
    tempos = (Tempo(0.0, qpm),)
    out = []
    columns = (np.split(pitch, splits), np.split(start_s, splits), np.split(end_s, splits))
    for p, s, e in zip(*columns, strict=True):
        n = len(p)
        # Unquantized, like note_seq's Melody.to_sequence, so it can be converted again.
        out.append(
            NoteSequence(
                pitch=p,
                velocity=np.full(n, velocity, dtype=np.int16),
                start=s,
                end=e,
                program=np.full(n, program, dtype=np.int16),
                is_drum=np.zeros(n, bool),
                instrument=np.full(n, instrument, dtype=np.int32),
                tempos=tempos,
                time_signatures=time_signatures,
                total_time=float(e[-1]) if n else 0.0,
            )
        )
    return out
