"""A raw Standard MIDI File tokenizer that accepts and rejects exactly what mido 1.2.6 does.

Why our own parser (speed and correctness): Magenta 2.1.4 read MIDI through pretty_midi 0.2.9,
which parses with mido 1.2.6 (both pinned in Magenta's setup.py). mido builds a Python object per
event: 3.1 CPU-s for the 166 MIDI files of the shared multitrack corpus, pretty_midi 4.4 s. symusic
needs 0.02 s but pairs notes FIFO, so it cannot reproduce Magenta's notes. This module walks the
bytes once in a tight loop, keeps only what pretty_midi uses (channel events as three flat
columns; tempo, time and key signatures of track 0) and leaves decoding and validation of channel
events to numpy; with midi_io's vectorized pairing, read_midi takes 0.29 CPU-s for those files.

mido 1.2.6 behaviour replicated here (mido/midifiles/midifiles.py, meta.py, messages/decode.py):
- header: 'MThd', chunk length honoured, fields read as *signed* shorts ('>hhh'), so a negative
  track count means no tracks and an SMPTE division becomes a negative resolution; the file type is
  not checked (type 2 files load like type 1); bytes after the last declared track are ignored.
- a track ends only when the read position equals start + declared length exactly: an event that
  runs past the end (or a length past the end of the file) makes mido read on until EOF, so it is an
  error here; non-'MTrk' chunks where a track is expected are errors; end_of_track does not stop
  reading, events after it count.
- running status: set by every status byte except meta (0xFF), including sysex and system common;
  a data byte with no previous status is an error; a running sysex drops the peeked data byte and
  reads a length; a running 1-byte system message (0xF6, 0xF8...) is an error.
- delta times and lengths are variable-length ints of any length; data bytes > 127 in channel,
  system or sysex messages are errors (no clipping); undefined statuses 0xF4 0xF5 0xF9 0xFD too.
- meta messages are decoded and checked when their type is known: sequence_number (0 or >= 2
  bytes, value <= 255), channel_prefix (1 byte), set_tempo (3 bytes), smpte_offset (5 bytes,
  minutes/seconds <= 59, sub-frames <= 99), time_signature (4 bytes, 2**d must pass mido's
  math.log power-of-two test), key_signature (2 bytes, a known key/mode); anything shorter is an
  error. Unknown meta types are built without their delta time, so their delta is lost.

mido 1.3 (installed with the test oracle) differs from 1.2.6 here, and we follow 1.2.6: 1.3 allows
sequence numbers up to 65535, decodes the SMPTE offset frame rate from data[0] >> 5 (so a first
byte >= 0x80 is an error) instead of >> 6, and refuses meta/sysex lengths over 1,000,000 bytes.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np

# note_seq.midi_io sets pretty_midi.pretty_midi.MAX_TICK = 1e10 (pretty_midi's own default is 1e7)
# when it is imported, so that is the limit Magenta applied.
MAX_TICK = 1e10

# Exponents d for which mido 1.2.6 accepts a time signature denominator 2**d: its check is
# math.log(2**d, 2) == int(math.log(2**d, 2)), which fails for some d (29, 31, 39...).
_DENOMINATOR_EXPONENTS = frozenset(
    d for d in range(256) if math.log(2**d, 2) == int(math.log(2**d, 2))
)
# Meta types mido 1.2.6 decodes (sequence number, texts, device name, ...); the rest are unknown.
_KNOWN_META = frozenset([*range(0x08), 0x09, 0x20, 0x21, 0x2F, 0x51, 0x54, 0x58, 0x59, 0x7F])
# System common / real-time statuses mido knows, with their total length in bytes.
_SYSTEM_LENGTHS = {0xF1: 2, 0xF2: 3, 0xF3: 2, 0xF6: 1, 0xF8: 1, 0xFA: 1, 0xFB: 1, 0xFC: 1, 0xFE: 1}


class MidiReadError(ValueError):
    """A MIDI file that Magenta's reader (pretty_midi 0.2.9 over mido 1.2.6) rejects."""


@dataclass(frozen=True)
class RawMidi:
    """The parts of a MIDI file that pretty_midi uses, in file order (E = channel events)."""

    resolution: int  # ticks per quarter note; negative for SMPTE divisions (as mido reads it)
    tick: np.ndarray  # (E,) int64 absolute tick of each channel event
    status: np.ndarray  # (E,) int64 status byte (running status resolved)
    data1: np.ndarray  # (E,) int64 first data byte
    data2: np.ndarray  # (E,) int64 second data byte (0 for 2-byte messages)
    track: np.ndarray  # (E,) int64 track index
    tempos: tuple[tuple[int, int], ...]  # track 0 set_tempo: (tick, microseconds per quarter)
    time_signatures: tuple[tuple[int, int, int], ...]  # track 0: (tick, numerator, denominator)
    key_signature_ticks: tuple[int, ...]  # track 0 key signatures


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    """mido's read_variable_int: (value, next position); any number of bytes."""
    value = 0
    while True:
        b = data[pos]
        pos += 1
        value = (value << 7) | (b & 0x7F)
        if b < 0x80:
            return value, pos


def _check_meta(kind: int, body: bytes, where: str) -> None:
    """Raises like mido 1.2.6's MetaSpec.decode plus attribute checks for a known meta type."""
    n = len(body)
    need = {0x20: 1, 0x51: 3, 0x54: 5, 0x58: 4, 0x59: 2}.get(kind, 0)
    if kind == 0x00 and n == 1:
        need = 2
    if n < need:
        raise MidiReadError(
            f"corrupt MIDI file: meta event 0x{kind:02X} has {n} data bytes, not {need} ({where})"
        )
    if kind == 0x00 and n >= 2 and (body[0] << 8 | body[1]) > 255:
        raise MidiReadError(
            f"unsupported MIDI file: sequence number {body[0] << 8 | body[1]} > 255, which"
            f" mido 1.2.6 rejects ({where})"
        )
    if kind == 0x54 and (body[1] > 59 or body[2] > 59 or body[4] > 99):
        raise MidiReadError(f"corrupt MIDI file: SMPTE offset out of range ({where})")
    if kind == 0x58 and body[1] not in _DENOMINATOR_EXPONENTS:
        raise MidiReadError(
            f"corrupt MIDI file: time signature denominator 2**{body[1]} fails mido's"
            f" power-of-two check ({where})"
        )
    if kind == 0x59:
        key = body[0] - 256 if body[0] > 127 else body[0]
        if not (-7 <= key <= 7 and body[1] in (0, 1)):
            raise MidiReadError(
                f"corrupt MIDI file: invalid key signature ({key}, mode {body[1]}) ({where})"
            )


def _read_header(data: bytes) -> tuple[int, int, int]:
    """(resolution, number of tracks, position of the first track) from the MThd chunk."""
    if len(data) == 0:
        raise MidiReadError("empty MIDI data: 0 bytes")
    if len(data) < 8:
        raise MidiReadError(f"truncated MIDI file: {len(data)} bytes, too short for a header")
    if data[:4] != b"MThd":
        raise MidiReadError(f"not a MIDI file: starts with {bytes(data[:4])!r}, not b'MThd'")
    size = int.from_bytes(data[4:8], "big")
    header = data[8 : 8 + size]
    if len(header) < 6:
        raise MidiReadError(f"truncated MIDI file: header chunk has {len(header)} bytes, needs 6")
    _, ntracks, division = struct.unpack(">hhh", header[:6])
    return division, ntracks, 8 + len(header)


def _read_track(data, pos, end, track, ticks, statuses, starts, metas):
    """Tokenizes one MTrk body; appends channel events; returns (final tick, number of events)."""
    ta, sa, pa = ticks.append, statuses.append, starts.append
    tick = 0
    status = 0  # running status; 0 = none yet
    count = 0
    while pos < end:
        b = data[pos]
        pos += 1
        if b < 0x80:
            delta = b
        else:
            delta, pos = _varint(data, pos - 1)
        s = data[pos]
        count += 1
        if s >= 0xF0 or (s < 0x80 and not 0x80 <= status < 0xF0):
            pos, status, delta = _read_other(data, pos, s, status, delta, tick, track, metas)
            tick += delta
            continue
        if s >= 0x80:
            status = s
            pos += 1
        # pos is now at the first data byte (the peeked byte under running status)
        tick += delta
        ta(tick)
        sa(status)
        pa(pos)
        pos += 1 if 0xC0 <= status < 0xE0 else 2
    if pos != end:
        raise MidiReadError(f"corrupt MIDI file: an event runs past the end of track {track}")
    return tick, count


def _read_other(data, pos, s, status, delta, tick, track, metas):
    """Meta, sysex and system events at pos (status byte or peeked data byte), like mido 1.2.6.

    Returns (next position, running status, delta to add to the tick).
    """
    where = f"track {track}, byte {pos}"
    if s < 0x80:
        if not status:
            raise MidiReadError(
                f"corrupt MIDI file: data byte 0x{s:02X} with no running status ({where})"
            )
        peeked, s = 1, status
    else:
        peeked = 0
        if s != 0xFF:
            status = s
    pos += 1
    if s == 0xFF:
        kind = data[pos]
        length, pos = _varint(data, pos + 1)
        body = data[pos : pos + length]
        if len(body) < length:
            raise MidiReadError(f"truncated MIDI file: meta event needs {length} bytes ({where})")
        if kind not in _KNOWN_META:
            return pos + length, status, 0  # mido 1.2.6 builds UnknownMetaMessage with time=0
        _check_meta(kind, body, where)
        if track == 0 and kind in (0x51, 0x58, 0x59):
            metas.append((kind, tick + delta, body))
        return pos + length, status, delta
    if s in (0xF0, 0xF7):
        length, pos = _varint(data, pos)  # a peeked data byte is dropped, as mido does
        body = data[pos : pos + length]
        if len(body) < length:
            raise MidiReadError(f"truncated MIDI file: sysex needs {length} bytes ({where})")
        body = body[1:] if body[:1] == b"\xf0" else body
        body = body[:-1] if body[-1:] == b"\xf7" else body
        if any(x > 127 for x in body):
            raise MidiReadError(f"corrupt MIDI file: sysex data byte > 127 ({where})")
        return pos + length, status, delta
    size = _SYSTEM_LENGTHS.get(s)
    if size is None:
        raise MidiReadError(f"corrupt MIDI file: undefined status byte 0x{s:02X} ({where})")
    if size == 1 and peeked:
        raise MidiReadError(
            f"corrupt MIDI file: running status on 1-byte message 0x{s:02X} ({where})"
        )
    body = data[pos - peeked : pos + size - 1 - peeked]
    if len(body) < size - 1:
        raise MidiReadError(f"truncated MIDI file: data ends inside message 0x{s:02X} ({where})")
    if any(x > 127 for x in body):
        raise MidiReadError(f"corrupt MIDI file: data byte > 127 in message 0x{s:02X} ({where})")
    return pos + size - 1 - peeked, status, delta


def parse(data: bytes) -> RawMidi:
    """Tokenizes a MIDI file; raises MidiReadError wherever mido 1.2.6 or pretty_midi would."""
    resolution, ntracks, pos = _read_header(data)
    ticks: list[int] = []
    statuses: list[int] = []
    starts: list[int] = []
    metas: list[tuple[int, int, bytes]] = []
    track_first = []
    n = len(data)
    try:
        for track in range(max(ntracks, 0)):
            if pos + 8 > n:
                raise MidiReadError(
                    f"truncated MIDI file: header declares {ntracks} tracks, data ends"
                    f" in track {track}"
                )
            if data[pos : pos + 4] != b"MTrk":
                raise MidiReadError(
                    f"corrupt MIDI file: expected an MTrk chunk at byte {pos}, found"
                    f" {bytes(data[pos : pos + 4])!r}"
                )
            size = int.from_bytes(data[pos + 4 : pos + 8], "big")
            pos += 8
            if pos + size > n:
                raise MidiReadError(
                    f"truncated MIDI file: track {track} declares {size} bytes, only"
                    f" {n - pos} remain"
                )
            track_first.append(len(ticks))
            last, count = _read_track(data, pos, pos + size, track, ticks, statuses, starts, metas)
            if count == 0:  # pretty_midi takes max() over each track's events
                raise MidiReadError(f"corrupt MIDI file: track {track} has no events")
            if last + 1 > MAX_TICK:  # pretty_midi: max tick + 1 > MAX_TICK; ticks only grow
                raise MidiReadError(
                    f"corrupt MIDI file: track {track} reaches tick {last}, past note_seq's"
                    f" limit of {MAX_TICK:.0e} ticks"
                )
            pos += size
    except IndexError:
        raise MidiReadError("truncated MIDI file: data ends inside an event") from None
    if ntracks <= 0:
        raise MidiReadError(f"corrupt MIDI file: header declares {ntracks} tracks")
    if resolution == 0:
        raise MidiReadError("corrupt MIDI file: 0 ticks per quarter note")
    buf = np.frombuffer(data, dtype=np.uint8)
    first = np.asarray(starts, dtype=np.int64)  # (E,) position of each first data byte
    status = np.asarray(statuses, dtype=np.int64)  # (E,)
    three = (status < 0xC0) | (status >= 0xE0)  # (E,) messages with two data bytes
    data1 = buf[first].astype(np.int64)  # (E,)
    data2 = np.where(three, buf[np.minimum(first + 1, n - 1)], 0).astype(np.int64)  # (E,)
    if (data1 > 127).any() or (data2 > 127).any():
        bad = int(first[(data1 > 127) | (data2 > 127)][0])
        raise MidiReadError(
            f"corrupt MIDI file: data byte > 127 in a channel message at byte {bad}"
        )
    track = np.repeat(np.arange(len(track_first)), np.diff(track_first + [len(ticks)]))
    tempos = tuple((t, int.from_bytes(b[:3], "big")) for k, t, b in metas if k == 0x51)
    sigs = tuple((t, b[0], 2 ** b[1]) for k, t, b in metas if k == 0x58)
    keys = tuple(t for k, t, _ in metas if k == 0x59)
    tick = np.asarray(ticks, dtype=np.int64)
    return RawMidi(resolution, tick, status, data1, data2, track, tempos, sigs, keys)
