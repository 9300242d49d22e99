"""MIDI files to and from NoteSequence.

Writing uses mido (a solved problem: any valid type-1 file will do). Reading must give exactly what
Magenta 2.1.4 got from `note_seq.midi_io.midi_file_to_note_sequence`, so it lives in
`midi_bytes.py` (our own parser) and is re-exported here.
"""

from __future__ import annotations

import io
import os
from collections import defaultdict

import mido
import numpy as np

from musicvae.music.notes import DEFAULT_QPM, NoteSequence, Tempo

DRUM_CHANNEL = 9
_MELODIC_CHANNELS = tuple(c for c in range(16) if c != DRUM_CHANNEL)


def _tempo_map(seq: NoteSequence) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tempo segments as (start seconds, start ticks, ticks per second), each (T,)."""
    tempos = sorted(seq.tempos, key=lambda t: t.time)
    if not tempos or tempos[0].time > 0.0:
        tempos.insert(0, Tempo(0.0, DEFAULT_QPM))
    times = np.array([t.time for t in tempos], dtype=np.float64)  # (T,)
    rates = np.array([t.qpm for t in tempos], dtype=np.float64) / 60.0 * seq.ticks_per_quarter
    ticks = np.zeros_like(times)  # (T,) exact (unrounded) tick of each tempo change
    ticks[1:] = np.cumsum(np.diff(times) * rates[:-1])
    return times, ticks, rates


def _seconds_to_ticks(seconds: np.ndarray, tempo_map) -> np.ndarray:
    """Seconds (N,) to the nearest MIDI tick (N,) under a tempo map from `_tempo_map`."""
    times, ticks, rates = tempo_map
    seg = np.searchsorted(times, seconds, side="right") - 1  # (N,)
    seg = np.clip(seg, 0, len(times) - 1)
    exact = ticks[seg] + (seconds - times[seg]) * rates[seg]
    return np.maximum(np.rint(exact), 0).astype(np.int64)


def _delta_track(events: list[tuple[int, int, mido.Message]], name: str | None) -> mido.MidiTrack:
    """A track from (tick, order, message) events, sorted and converted to delta times."""
    track = mido.MidiTrack()
    if name:
        track.append(mido.MetaMessage("track_name", name=name, time=0))
    now = 0
    for tick, _, msg in sorted(events, key=lambda e: (e[0], e[1])):
        track.append(msg.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    return track


def _conductor_track(seq: NoteSequence, tempo_map) -> mido.MidiTrack:
    """Track 0: tempos and time signatures (pretty_midi reads tempos from track 0 only)."""
    events = []
    times, _, rates = tempo_map
    for tick, rate in zip(_seconds_to_ticks(times, tempo_map), rates, strict=True):
        qpm = rate * 60.0 / seq.ticks_per_quarter
        events.append((int(tick), 0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(qpm))))
    if seq.time_signatures:
        ts_ticks = _seconds_to_ticks(np.array([t.time for t in seq.time_signatures]), tempo_map)
        for tick, ts in zip(ts_ticks, seq.time_signatures, strict=True):
            msg = mido.MetaMessage(
                "time_signature", numerator=ts.numerator, denominator=ts.denominator
            )
            events.append((int(tick), 1, msg))
    return _delta_track(events, None)


def _note_tracks(seq: NoteSequence, tempo_map) -> list[mido.MidiTrack]:
    """One track per (instrument, program, is_drum) group, in sorted group order."""
    starts = _seconds_to_ticks(seq.start, tempo_map)  # (N,)
    # A note that rounds to zero ticks keeps one tick: pretty_midi drops zero-tick notes.
    ends = np.maximum(_seconds_to_ticks(seq.end, tempo_map), starts + (seq.end > seq.start))
    groups: dict[tuple[int, int, bool], list[int]] = defaultdict(list)
    for i, key in enumerate(
        zip(seq.instrument.tolist(), seq.program.tolist(), seq.is_drum.tolist(), strict=True)
    ):
        groups[key].append(i)
    tracks = []
    for n, (key, rows) in enumerate(sorted(groups.items())):
        _, program, is_drum = key
        channel = DRUM_CHANNEL if is_drum else _MELODIC_CHANNELS[n % len(_MELODIC_CHANNELS)]
        events = [(0, 0, mido.Message("program_change", channel=channel, program=program & 127))]
        for i in rows:
            pitch = int(seq.pitch[i]) & 127
            velocity = int(min(max(int(seq.velocity[i]), 1), 127))  # velocity 0 means note-off
            start, end = int(starts[i]), int(ends[i])
            # At one tick, note-offs go before note-ons (so a re-struck pitch is not cut), except
            # the off of a zero-length note, which follows its own on so that readers drop it
            # instead of holding it open until the next off.
            events.append(
                (start, 2, mido.Message("note_on", channel=channel, note=pitch, velocity=velocity))
            )
            off_order = 3 if end == start else 1
            events.append(
                (end, off_order, mido.Message("note_off", channel=channel, note=pitch, velocity=0))
            )
        tracks.append(_delta_track(events, None))
    return tracks


def _to_midi_file(seq: NoteSequence) -> mido.MidiFile:
    tempo_map = _tempo_map(seq)
    midi = mido.MidiFile(type=1, ticks_per_beat=int(seq.ticks_per_quarter))
    midi.tracks.append(_conductor_track(seq, tempo_map))
    midi.tracks.extend(_note_tracks(seq, tempo_map))
    return midi


def midi_bytes(seq: NoteSequence) -> bytes:
    """The sequence as the bytes of a type-1 MIDI file (see `write_midi`)."""
    buf = io.BytesIO()
    _to_midi_file(seq).save(file=buf)
    return buf.getvalue()


def write_midi(seq: NoteSequence, path: str | os.PathLike) -> None:
    """Writes a type-1 MIDI file: conductor track 0, one track per instrument group.

    Drums go on channel 9, other groups on channels 0..15 without 9 (round-robin past 15 groups);
    note times in seconds are converted to the nearest tick under the sequence's tempo map.
    """
    with open(path, "wb") as f:
        f.write(midi_bytes(seq))
