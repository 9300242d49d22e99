"""MIDI files to and from NoteSequence.

Reading gives exactly what Magenta 2.1.4 got from `note_seq.midi_io.midi_file_to_note_sequence`:
pretty_midi 0.2.9 over mido 1.2.6 (pinned in Magenta's setup.py), copied into a NoteSequence the
note_seq way. `midi_bytes.py` tokenizes the bytes (it says why we do not call mido or pretty_midi);
this module applies pretty_midi's semantics with numpy, bit for bit:
- tempo map (`_load_tempo_changes`): track 0 set_tempo events only; one at tick 0 replaces the
  default 120 qpm; later ones are dropped when their tick scale equals the previous one.
- tick to seconds (`_update_tick_to_time`): last_end + tick_scale * (tick - segment start), the
  same float64 operations in the same order, evaluated only at the ticks we need.
- note pairing (`_load_instruments`): per (track, channel, pitch), a note-off (or note-on with
  velocity 0) closes every open note, except that notes opened on the off's own tick stay open
  when some earlier note was closed (and are dropped when none was); notes still open at the end
  of a track are dropped. The program is the channel's current program *at the note-off*;
  instruments are keyed by (program, channel, track), created when their first note closes, drums
  are channel 9; notes are listed per instrument in closing order.
- metadata (`_load_metadata`): track 0 time signatures (numerator 0 or negative time -> error, as
  pretty_midi's TimeSignature), key signatures (negative time -> error).
- note_seq (`midi_to_note_sequence`): instrument = position in pretty_midi's instrument list,
  denominators >= 2**31 rejected (int32 field), total_time by its max-end loop.

pretty_midi 0.2.9 vs 0.2.11 (installed for the tests): 0.2.11's Note() raises when end < start
(only possible with a negative, SMPTE resolution, which 0.2.9 accepts), reads lyrics and text of
all tracks (no effect on notes), takes a charset (latin1 either way) and checks the max tick
before building the tempo map (no effect); we follow 0.2.9. The mido 1.2.6 vs 1.3 differences are
listed in midi_bytes.py.

Writing (`write_midi`, `midi_bytes`) uses mido (any valid type-1 file will do): track 0 holds the
tempos and time signatures, then one track per (instrument, program, is_drum) group on the
channel `group_channels` assigns (drums on 9). `tempo_map` / `seconds_to_position` convert
seconds to ticks here and to 16th steps for the piano roll; `note_channels` gives the audio
renderer the same channels as the file.
"""

from __future__ import annotations

import io
import os
from collections import defaultdict

import mido
import numpy as np

from musicvae.music.midi_bytes import MidiReadError, RawMidi, parse
from musicvae.music.notes import (
    DEFAULT_QPM,
    DEFAULT_TICKS_PER_QUARTER,
    NoteSequence,
    Tempo,
    TimeSignature,
)

__all__ = ["MidiReadError", "midi_bytes", "read_midi", "write_midi"]

DRUM_CHANNEL = 9
_MELODIC_CHANNELS = tuple(c for c in range(16) if c != DRUM_CHANNEL)


def _ticks_per_quarter(seq: NoteSequence) -> int:
    """The sequence's resolution, or note_seq's 220 when it has none (or an SMPTE one, < 0)."""
    return int(seq.ticks_per_quarter) if seq.ticks_per_quarter > 0 else DEFAULT_TICKS_PER_QUARTER


def tempo_map(tempos, units_per_quarter: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tempo segments as (start seconds, start position, units per second), each (T,), for a
    position counted in `units_per_quarter` (MIDI ticks, 16th steps). 120 qpm until the first
    tempo; of several tempos at one time, the last one holds."""
    tempos = sorted(tempos, key=lambda t: t.time)
    if not tempos or tempos[0].time > 0.0:
        tempos.insert(0, Tempo(0.0, DEFAULT_QPM))
    times = np.array([t.time for t in tempos], dtype=np.float64)  # (T,)
    rates = np.array([t.qpm for t in tempos], dtype=np.float64) / 60.0 * units_per_quarter
    positions = np.zeros_like(times)  # (T,) exact (unrounded) position of each tempo change
    positions[1:] = np.cumsum(np.diff(times) * rates[:-1])
    return times, positions, rates


def seconds_to_position(seconds: np.ndarray, segments) -> np.ndarray:
    """Seconds (N,) -> exact (unrounded) positions (N,) under a tempo map from `tempo_map`."""
    times, positions, rates = segments
    seg = np.searchsorted(times, seconds, side="right") - 1  # (N,)
    seg = np.clip(seg, 0, len(times) - 1)
    return positions[seg] + (seconds - times[seg]) * rates[seg]


def _tempo_map(seq: NoteSequence) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The sequence's tempo map in MIDI ticks."""
    return tempo_map(seq.tempos, _ticks_per_quarter(seq))


def _seconds_to_ticks(seconds: np.ndarray, tempo_map) -> np.ndarray:
    """Seconds (N,) to the nearest MIDI tick (N,) under a tempo map from `_tempo_map`."""
    return np.maximum(np.rint(seconds_to_position(seconds, tempo_map)), 0).astype(np.int64)


def _delta_track(events: list[tuple[int, int, mido.Message]]) -> mido.MidiTrack:
    """A track from (tick, order, message) events, sorted and converted to delta times."""
    track = mido.MidiTrack()
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
        tempo = round(60e6 / (rate * 60.0 / _ticks_per_quarter(seq)))  # microseconds per quarter
        tempo = min(max(tempo, 1), 0xFFFFFF)  # what a set_tempo event can hold
        events.append((int(tick), 0, mido.MetaMessage("set_tempo", tempo=tempo)))
    if seq.time_signatures:
        ts_ticks = _seconds_to_ticks(np.array([t.time for t in seq.time_signatures]), tempo_map)
        for tick, ts in zip(ts_ticks, seq.time_signatures, strict=True):
            msg = mido.MetaMessage(
                "time_signature", numerator=ts.numerator, denominator=ts.denominator
            )
            events.append((int(tick), 1, msg))
    return _delta_track(events)


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
    channels = group_channels(groups)
    for key, rows in sorted(groups.items()):
        program, channel = key[1], channels[key]
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
        tracks.append(_delta_track(events))
    return tracks


def group_channels(groups) -> dict[tuple[int, int, bool], int]:
    """MIDI channel of each (instrument, program, is_drum) group as write_midi assigns them:
    drums on channel 9 (General MIDI's 10), the other groups in sorted order over the 15
    melodic channels (wrapping around beyond 15)."""
    channels, melodic = {}, 0
    for key in sorted(groups):
        if key[2]:
            channels[key] = DRUM_CHANNEL
        else:
            channels[key] = _MELODIC_CHANNELS[melodic % len(_MELODIC_CHANNELS)]
            melodic += 1
    return channels


def note_channels(seq: NoteSequence) -> np.ndarray:
    """Each note's MIDI channel (N,) int64, as write_midi writes it."""
    columns = (seq.instrument.tolist(), seq.program.tolist(), seq.is_drum.tolist())
    keys = [(int(i), int(p), bool(d)) for i, p, d in zip(*columns, strict=True)]
    channels = group_channels(set(keys))
    return np.array([channels[k] for k in keys], dtype=np.int64)


def _to_midi_file(seq: NoteSequence) -> mido.MidiFile:
    tempo_map = _tempo_map(seq)
    midi = mido.MidiFile(type=1, ticks_per_beat=_ticks_per_quarter(seq))
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


# ---------------------------------------------------------------------------------------------
# Reading


def _tick_scales(raw: RawMidi) -> tuple[np.ndarray, np.ndarray]:
    """pretty_midi's (tick, seconds per tick) tempo segments: ticks (S,) int64, scales (S,)."""
    res = raw.resolution
    scales = [(0, 60.0 / (120.0 * res))]
    for tick, tempo in raw.tempos:
        if tempo == 0:
            raise MidiReadError(f"corrupt MIDI file: set_tempo of 0 microseconds at tick {tick}")
        if tick == 0:
            scales = [(0, 60.0 / ((6e7 / tempo) * res))]
        else:
            scale = 60.0 / ((6e7 / tempo) * res)
            if scale != scales[-1][1]:
                scales.append((tick, scale))
    ticks = np.array([t for t, _ in scales], dtype=np.int64)
    return ticks, np.array([s for _, s in scales], dtype=np.float64)


def _tick_to_time(ticks: np.ndarray, scale_ticks: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """Seconds (N,) float64 of ticks (N,), bit-identical to pretty_midi's __tick_to_time array."""
    last_end = np.zeros(len(scales))  # (S,) time of each segment's first tick
    for k in range(1, len(scales)):
        last_end[k] = last_end[k - 1] + scales[k - 1] * float(scale_ticks[k] - scale_ticks[k - 1])
    seg = np.searchsorted(scale_ticks, ticks, side="right") - 1  # (N,) last segment starting <= t
    return last_end[seg] + scales[seg] * (ticks - scale_ticks[seg]).astype(np.float64)


def _close_notes(key: np.ndarray, tick: np.ndarray, on: np.ndarray) -> np.ndarray:
    """For note events grouped by key (M,), the index of the off closing each on (-1: dropped).

    pretty_midi per (track, channel, pitch): an off at tick T closes all open notes, keeping those
    opened at T if it closed any other (K_k below), else dropping them. Vectorized by the rule: an
    on at t meets the next off k of its key; closed there if T_k != t; if T_k == t it survives only
    when off k closed something, and is then closed by off k+1 unless that is at t too.
    """
    m = len(key)
    offs = np.flatnonzero(~on)  # (K,) positions of the offs
    n_off = len(offs)
    on_idx = np.flatnonzero(on)
    if n_off == 0 or len(on_idx) == 0:
        return np.full(len(on_idx), -1, dtype=np.int64)
    first = np.ones(m, dtype=bool)
    first[1:] = key[1:] != key[:-1]
    group_start = np.maximum.accumulate(np.where(first, np.arange(m), 0))  # (M,)
    t_off = tick[offs]  # (K,)
    prev_same = np.zeros(n_off, dtype=bool)
    prev_same[1:] = key[offs[1:]] == key[offs[:-1]]
    lo = np.maximum(group_start[offs], np.concatenate(([0], offs[:-1] + 1)))  # ons since last off
    has_ons = offs > lo
    earlier = has_ons & (tick[np.minimum(lo, m - 1)] < t_off)  # A: an on before T is open
    same = has_ons & (tick[np.maximum(offs - 1, 0)] == t_off)  # B: an on at T is open
    changed = prev_same & (t_off != np.concatenate(([-1], t_off[:-1])))  # C: T != previous T
    # K_k = B & (A | (C & K_{k-1})): forward-fill from the offs where it does not propagate.
    decides = ~(same & ~earlier & changed)
    last = np.maximum.accumulate(np.where(decides, np.arange(n_off), 0))
    kept = (same & earlier)[last]  # (K,) notes opened at T stay open after off k
    kept_before = np.concatenate(([False], kept[:-1]))
    closed_any = earlier | (changed & kept_before)  # (K,)

    k = np.cumsum(~on)[on_idx]  # (O,) index of the next off
    k1 = np.minimum(k, n_off - 1)
    ok = (k < n_off) & (key[offs[k1]] == key[on_idx])
    t = tick[on_idx]
    direct = ok & (t_off[k1] != t)
    k2 = np.minimum(k1 + 1, n_off - 1)
    later = ok & ~direct & closed_any[k1] & (k1 + 1 < n_off)
    later &= (key[offs[k2]] == key[on_idx]) & (t_off[k2] != t)
    return np.where(direct, offs[k1], np.where(later, offs[k2], -1))


def _programs_at(raw: RawMidi, events: np.ndarray) -> np.ndarray:
    """The current program of each event's (track, channel) just before it (0 if none): (N,)."""
    kind = raw.status >> 4
    pcs = np.flatnonzero(kind == 0xC)
    if len(pcs) == 0:
        return np.zeros(len(events), dtype=np.int64)
    n = len(raw.status) + 1
    pc_code = (raw.track[pcs] * 16 + (raw.status[pcs] & 0xF)) * n + pcs
    order = np.argsort(pc_code, kind="stable")
    pc_code = pc_code[order]
    ev_chan = raw.track[events] * 16 + (raw.status[events] & 0xF)
    j = np.searchsorted(pc_code, ev_chan * n + events) - 1  # last change before the event
    found = (j >= 0) & (pc_code[np.maximum(j, 0)] // n == ev_chan)
    return np.where(found, raw.data1[pcs][order][np.maximum(j, 0)], 0)


def _notes(raw: RawMidi):
    """Notes as pretty_midi lists them: (on event, off event, instrument index) each (N,)."""
    kind = raw.status >> 4
    events = np.flatnonzero((kind == 0x8) | (kind == 0x9))  # (M,) note events, file order
    key = (raw.track[events] * 16 + (raw.status[events] & 0xF)) * 128 + raw.data1[events]
    grouped = np.argsort(key, kind="stable")  # (M,)
    events, key = events[grouped], key[grouped]
    on = (kind[events] == 0x9) & (raw.data2[events] > 0)
    closer = _close_notes(key, raw.tick[events], on)
    on_ev = events[on][closer >= 0]  # (N,)
    off_ev = events[closer[closer >= 0]]  # (N,)
    order = np.lexsort((on_ev, off_ev))  # pretty_midi appends notes as their off is read
    on_ev, off_ev = on_ev[order], off_ev[order]
    program = _programs_at(raw, off_ev)
    inst_key = (raw.track[off_ev] * 16 + (raw.status[off_ev] & 0xF)) * 128 + program
    _, first, inst = np.unique(inst_key, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first)] = np.arange(len(first))  # instruments in order of creation
    inst = rank[inst.reshape(-1)]
    order = np.argsort(inst, kind="stable")
    return on_ev[order], off_ev[order], inst[order], program[order]


def _total_time(end: np.ndarray) -> float:
    """note_seq's `if not total_time or end > total_time` loop (a plain max unless ends < 0)."""
    if len(end) == 0 or end.min() >= 0.0:
        return float(end.max()) if len(end) else 0.0
    total = 0.0
    for e in end.tolist():
        if not total or e > total:
            total = e
    return total


def _signatures(raw: RawMidi, to_time) -> tuple[TimeSignature, ...]:
    """Track 0 time signatures, with pretty_midi's and note_seq's checks."""
    out = []
    if raw.key_signature_ticks and to_time(raw.key_signature_ticks).min() < 0:
        raise MidiReadError("unsupported MIDI file: key signature at a negative time (SMPTE)")
    for tick, numerator, denominator in raw.time_signatures:
        time = float(to_time([tick])[0])
        if numerator <= 0 or time < 0:
            raise MidiReadError(
                f"corrupt MIDI file: time signature {numerator}/{denominator}"
                f" at tick {tick} is invalid"
            )
        if denominator >= 2**31:
            raise MidiReadError(
                f"corrupt MIDI file: time signature denominator {denominator}"
                " does not fit note_seq's int32"
            )
        out.append(TimeSignature(time, numerator, denominator))
    return tuple(out)


def _to_note_sequence(raw: RawMidi, source: str) -> NoteSequence:
    scale_ticks, scales = _tick_scales(raw)

    def to_time(ticks) -> np.ndarray:
        return _tick_to_time(np.asarray(ticks, dtype=np.int64), scale_ticks, scales)

    time_signatures = _signatures(raw, to_time)
    tempo_times = to_time(scale_ticks)  # (S,)
    qpm = 60.0 / (scales * raw.resolution)  # pretty_midi get_tempo_changes
    tempos = tuple(Tempo(float(t), float(q)) for t, q in zip(tempo_times, qpm, strict=True))
    on_ev, off_ev, inst, program = _notes(raw)
    end = to_time(raw.tick[off_ev])
    return NoteSequence(
        pitch=raw.data1[on_ev],
        velocity=raw.data2[on_ev],
        start=to_time(raw.tick[on_ev]),
        end=end,
        program=program,
        is_drum=(raw.status[off_ev] & 0xF) == 9,
        instrument=inst,
        tempos=tempos,
        time_signatures=time_signatures,
        total_time=_total_time(end),
        ticks_per_quarter=raw.resolution,
        source=source,
    )


def read_midi(source: str | os.PathLike | bytes) -> NoteSequence:
    """Reads a MIDI file (path or bytes) exactly as Magenta 2.1.4's note_seq/pretty_midi did.

    Raises MidiReadError (a ValueError) for anything pretty_midi 0.2.9 / mido 1.2.6 reject.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, name = bytes(source), ""
    else:
        with open(source, "rb") as f:
            data, name = f.read(), os.fspath(source)
    return _to_note_sequence(parse(data), name)


def read_midi_file(path: str | os.PathLike, label: str | None = None) -> NoteSequence:
    """read_midi for a file a user named: an unreadable or corrupt file raises one ValueError
    line that starts with `label` (default: the path)."""
    label = os.fspath(path) if label is None else label
    try:
        return read_midi(path)
    except MidiReadError as e:
        raise ValueError(f"{label}: {e}") from None
    except OSError as e:
        raise ValueError(f"{label}: cannot read file ({e.strerror or e})") from None
