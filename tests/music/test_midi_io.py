"""MIDI reading parity with Magenta's reader (pretty_midi over mido, converted the note_seq way).

Golden values come from pretty_midi itself (the `test` extra installs it), never from our reader.
The installed pretty_midi is 0.2.11 over mido 1.3.x while Magenta 2.1.4 pinned pretty_midi 0.2.9
and mido 1.2.6; where those versions differ the test says so and checks the 0.2.9 behaviour by
hand (see `test_where_the_oracle_differs_from_magentas_versions`).
"""

from __future__ import annotations

import io
import os
import random
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from musicvae.music.midi_io import MidiReadError, midi_bytes, read_midi, write_midi
from musicvae.music.notes import Note, NoteSequence, Tempo, TimeSignature

pretty_midi = pytest.importorskip("pretty_midi")

_REPO = Path(__file__).resolve().parents[2]


def _shared_dir() -> Path | None:
    """The shared data folder: $MUSICVAE_SHARED, <repo>/shared or <repo>/../shared."""
    candidates = [os.environ.get("MUSICVAE_SHARED"), _REPO / "shared", _REPO.parent / "shared"]
    for c in candidates:
        if c and (Path(c) / "corpus").is_dir():
            return Path(c)
    return None


def _corpus_files() -> list[Path]:
    shared = _shared_dir()
    if shared is None:
        return []
    exts = {".mid", ".midi", ".kar"}
    return sorted(p for p in (shared / "corpus").rglob("*") if p.suffix.lower() in exts)


# --- the oracle: pretty_midi, copied into NoteSequence fields as note_seq.midi_io does ---------


def _oracle(data: bytes):
    """note_seq.midi_to_note_sequence on pretty_midi: ("ERR",) or ("OK", fields...)."""
    old = pretty_midi.pretty_midi.MAX_TICK
    pretty_midi.pretty_midi.MAX_TICK = 1e10  # what importing note_seq.midi_io sets
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pm = pretty_midi.PrettyMIDI(io.BytesIO(data))
    except Exception:  # note_seq turns every pretty_midi exception into MIDIConversionError
        return ("ERR",)
    finally:
        pretty_midi.pretty_midi.MAX_TICK = old
    sigs = [(t.time, t.numerator, t.denominator) for t in pm.time_signature_changes]
    if any(d >= 2**31 for _, _, d in sigs):  # note_seq: int32 denominator field
        return ("ERR",)
    times, qpms = pm.get_tempo_changes()
    notes, total = [], 0.0
    for i, inst in enumerate(pm.instruments):
        for n in inst.notes:
            if not total or n.end > total:
                total = n.end
            notes.append(
                (i, int(inst.program), bool(inst.is_drum), n.pitch, n.velocity, n.start, n.end)
            )
    tempos = list(zip(times.tolist(), qpms.tolist(), strict=True))
    return ("OK", pm.resolution, notes, tempos, sigs, float(total))


def _fields(s: NoteSequence):
    """Notes as (instrument, program, is_drum, pitch, velocity, start, end) in note_seq's order
    (instruments in pretty_midi's order, notes in closing order): stricter than a multiset."""
    cols = (s.instrument, s.program, s.is_drum, s.pitch, s.velocity, s.start, s.end)
    notes = list(zip(*(c.tolist() for c in cols), strict=True))
    tempos = [(t.time, t.qpm) for t in s.tempos]
    sigs = [(t.time, t.numerator, t.denominator) for t in s.time_signatures]
    return ("OK", s.ticks_per_quarter, notes, tempos, sigs, s.total_time)


def _ours(data: bytes):
    try:
        s = read_midi(data)
    except MidiReadError as e:
        assert "\n" not in str(e) and str(e), "messages are one non-empty line"
        return ("ERR",)
    return _fields(s)


# --- hand-built MIDI bytes ----------------------------------------------------------------------


def _varlen(n: int) -> bytes:
    out = [n & 0x7F]
    while n > 0x7F:
        n >>= 7
        out.append(0x80 | (n & 0x7F))
    return bytes(reversed(out))


def ev(delta: int, *raw: int) -> bytes:
    """One track event: a delta time and its raw bytes (status optional: running status)."""
    return _varlen(delta) + bytes(raw)


def meta(delta: int, kind: int, body: bytes) -> bytes:
    return _varlen(delta) + bytes([0xFF, kind]) + _varlen(len(body)) + body


EOT = meta(0, 0x2F, b"")


def track(*events: bytes, eot: bool = True) -> bytes:
    body = b"".join(events) + (EOT if eot else b"")
    return b"MTrk" + len(body).to_bytes(4, "big") + body


def smf(*tracks: bytes, fmt: int = 1, division: int = 96, ntracks: int | None = None) -> bytes:
    n = len(tracks) if ntracks is None else ntracks
    header = fmt.to_bytes(2, "big") + n.to_bytes(2, "big", signed=True)
    header += division.to_bytes(2, "big", signed=True)
    return b"MThd" + (6).to_bytes(4, "big") + header + b"".join(tracks)


TEMPO_100 = meta(0, 0x51, (600000).to_bytes(3, "big"))
SIMPLE = smf(track(TEMPO_100), track(ev(0, 0x90, 60, 90), ev(96, 0x80, 60, 0)))

# Valid files exercising pretty_midi's and mido's quirks: ours must equal the oracle exactly.
QUIRKS = {
    "simple": SIMPLE,
    "type 0": smf(
        track(TEMPO_100, ev(0, 0xC0, 5), ev(0, 0x90, 60, 90), ev(96, 0x90, 60, 0)), fmt=0
    ),
    "type 2 (pretty_midi reads it like type 1)": smf(
        track(TEMPO_100, ev(0, 0x90, 60, 90), ev(48, 0x80, 60, 0)),
        track(meta(0, 0x51, (300000).to_bytes(3, "big")), ev(10, 0x91, 62, 70), ev(5, 0x81, 62, 0)),
        fmt=2,
    ),
    "no notes": smf(track(TEMPO_100, meta(0, 0x58, bytes([3, 2, 24, 8])))),
    "running status across metas": smf(
        track(ev(0, 0x90, 60, 90), ev(10, 62, 91), meta(5, 0x01, b"hi"), ev(5, 60, 0), ev(1, 62, 0))
    ),
    "unknown meta loses its delta (mido)": smf(
        track(ev(0, 0x90, 60, 90), meta(50, 0x08, b"prog"), ev(10, 0x80, 60, 0))
    ),
    "off closes all open notes of a pitch": smf(
        track(ev(0, 0x90, 60, 90), ev(10, 0x90, 60, 80), ev(10, 0x90, 60, 70), ev(10, 0x80, 60, 0))
    ),
    "same-tick on survives when an earlier note closes": smf(
        track(ev(0, 0x90, 60, 90), ev(10, 0x90, 60, 80), ev(0, 0x80, 60, 0), ev(7, 0x80, 60, 0))
    ),
    "same-tick on alone is dropped": smf(
        track(ev(5, 0x90, 60, 90), ev(0, 0x80, 60, 0), ev(7, 0x80, 60, 0))
    ),
    "kept note dropped by a second same-tick off": smf(
        track(ev(0, 0x90, 60, 1), ev(4, 0x90, 60, 2), ev(0, 0x80, 60, 0), ev(0, 0x80, 60, 0))
    ),
    "program taken at the note-off": smf(
        track(ev(0, 0xC0, 10), ev(0, 0x90, 60, 90), ev(5, 0xC0, 20), ev(5, 0x80, 60, 0))
    ),
    "instruments ordered by first closed note": smf(
        track(ev(0, 0x90, 60, 90), ev(0, 0x99, 36, 90), ev(5, 0x89, 36, 0), ev(5, 0x80, 60, 0)),
        track(ev(0, 0xC1, 3), ev(0, 0x91, 40, 9), ev(1, 0x81, 40, 0)),
    ),
    "note-on velocity 0 is an off; open notes dropped at track end": smf(
        track(ev(0, 0x90, 60, 90), ev(3, 0x90, 60, 0), ev(0, 0x90, 61, 90))
    ),
    "tempo changes, repeats dropped, tick-0 replaces default": smf(
        track(
            meta(0, 0x51, (400000).to_bytes(3, "big")),
            meta(0, 0x51, (500001).to_bytes(3, "big")),
            meta(30, 0x51, (500001).to_bytes(3, "big")),
            meta(30, 0x51, (250000).to_bytes(3, "big")),
            meta(0, 0x51, (260000).to_bytes(3, "big")),
            meta(0, 0x58, bytes([6, 3, 24, 8])),
        ),
        track(ev(0, 0x90, 60, 90), ev(100, 0x80, 60, 0), meta(0, 0x51, (100).to_bytes(3, "big"))),
    ),
    "sysex sets running status; the peeked byte is dropped": smf(
        track(ev(0, 0xF0, 2, 1, 0xF7), ev(0, 0x05, 1, 2), ev(0, 0x90, 60, 9), ev(4, 0x80, 60, 0))
    ),
    "events after end_of_track still count": smf(
        track(ev(0, 0x90, 60, 90), EOT, ev(4, 0x80, 60, 0))
    ),
    "bytes after the last track are ignored": SIMPLE + b"garbage",
    "negative track count means no tracks (error)": smf(track(TEMPO_100), ntracks=-1),
    "time signature 4/2**30": smf(track(meta(0, 0x58, bytes([4, 30, 24, 8])))),
    "time signature 4/2**32 (note_seq int32 error)": smf(
        track(meta(0, 0x58, bytes([4, 32, 1, 8])))
    ),
    "time signature 4/2**32 outside track 0 is ignored": smf(
        track(EOT), track(meta(0, 0x58, bytes([4, 32, 1, 8])))
    ),
    "time signature numerator 0": smf(track(meta(0, 0x58, bytes([0, 2, 24, 8])))),
    "tempo 0 in track 0": smf(track(meta(0, 0x51, b"\0\0\0"))),
    "tempo 0 in track 1 is ignored": smf(track(EOT), track(meta(0, 0x51, b"\0\0\0"))),
}

# Files both readers reject: the one-line MidiReadError must come, never another exception.
BAD = {
    "empty file": b"",
    "random bytes": bytes(random.Random(0).randrange(256) for _ in range(300)),
    "not MIDI (RIFF)": b"RIFF" + bytes(40),
    "short header": b"MThd\0\0\0\6\0\1",
    "truncated in a track": SIMPLE[:-5],
    "truncated track chunk header": SIMPLE[:30],
    "fewer tracks than declared": smf(track(TEMPO_100), ntracks=3),
    "empty track": smf(track(eot=False)),
    "zero tracks": smf(),
    "division 0": smf(track(TEMPO_100), division=0),
    "junk chunk instead of MTrk": smf(b"XFIH\0\0\0\0" + track(TEMPO_100), ntracks=1),
    "event overruns its track": smf(b"MTrk\0\0\0\3" + ev(0, 0x90, 60), track(EOT), ntracks=2),
    "data byte > 127": smf(track(ev(0, 0x90, 60, 200))),
    "running status with none": smf(track(ev(0, 60, 90))),
    "undefined status 0xF4": smf(track(ev(0, 0xF4))),
    "running status on 0xF8": smf(track(ev(0, 0xF8), ev(0, 0x10))),
    "sysex data > 127": smf(track(ev(0, 0xF0, 3, 1, 0x99, 0xF7))),
    "short set_tempo": smf(track(meta(0, 0x51, b"\1\2"))),
    "bad key signature": smf(track(meta(0, 0x59, bytes([9, 0])))),
    "time signature 2**29 fails mido's log2 test": smf(track(meta(0, 0x58, bytes([4, 29, 1, 8])))),
    "time signature 2**31 fails it too": smf(
        track(EOT), track(meta(0, 0x58, bytes([4, 31, 1, 8])))
    ),
    "absurd ticks (> 1e10, note_seq's MAX_TICK)": smf(
        track(*[ev(0x0FFFFFFF, 0x90, 60, 1)] * 40, ev(0, 0x80, 60, 0))
    ),
    "absurd single delta": smf(track(ev(2**40, 0x90, 60, 1))),
}


@pytest.mark.parametrize("name", QUIRKS)
def test_quirks_match_pretty_midi(name: str) -> None:
    data = QUIRKS[name]
    assert _ours(data) == _oracle(data)


@pytest.mark.parametrize("name", BAD)
def test_bad_input_raises_midi_read_error(name: str) -> None:
    data = BAD[name]
    assert _oracle(data) == ("ERR",), "pretty_midi must reject this too"
    with pytest.raises(MidiReadError) as err:
        read_midi(data)
    message = str(err.value)
    assert message and "\n" not in message


def test_no_notes_is_a_valid_empty_sequence() -> None:
    seq = read_midi(QUIRKS["no notes"])
    assert len(seq) == 0 and seq.total_time == 0.0
    # pretty_midi's qpm is 60 / (60 / (6e7 / 600000 * 96) * 96), which rounds to 99.99999999999999.
    assert seq.tempos == (Tempo(0.0, 60.0 / (60.0 / ((6e7 / 600000) * 96) * 96)),)
    assert seq.tempos[0].qpm == pytest.approx(100.0)
    assert seq.time_signatures == (TimeSignature(0.0, 3, 4),)


def test_tick_limit_is_note_seqs_1e10_not_pretty_midis_1e7() -> None:
    """note_seq raises pretty_midi's MAX_TICK to 1e10 on import, so 2e7 ticks read fine."""
    data = smf(track(ev(0, 0x90, 60, 90), ev(20_000_000, 0x80, 60, 0)))
    seq = read_midi(data)
    assert seq.end.tolist() == [60.0 / (120.0 * 96) * 20_000_000]


def test_where_the_oracle_differs_from_magentas_versions() -> None:
    """Cases where pretty_midi 0.2.11 / mido 1.3 (installed) disagree with 0.2.9 / 1.2.6."""
    # SMPTE division: mido reads it as a negative resolution and pretty_midi 0.2.9 keeps the
    # (negative) times; 0.2.11 raises because its Note() rejects end < start.
    smpte = smf(track(ev(0, 0x90, 60, 90), ev(40, 0x80, 60, 0)), division=0xE728 - 0x10000)
    assert _oracle(smpte) == ("ERR",)
    seq = read_midi(smpte)
    assert seq.ticks_per_quarter == 0xE728 - 0x10000
    assert seq.start.tolist() == [0.0]
    assert seq.end.tolist() == [60.0 / (120.0 * (0xE728 - 0x10000)) * 40]  # < 0
    assert seq.total_time == seq.end[0]  # note_seq: `if not total_time` takes the first end
    # Sequence number > 255: mido 1.2.6 checks it against 0..255 (1.3 allows 0..65535).
    seqnum = smf(track(meta(0, 0x00, b"\x01\x00"), ev(0, 0x90, 60, 9), ev(1, 0x80, 60, 0)))
    assert _oracle(seqnum)[0] == "OK"
    with pytest.raises(MidiReadError, match="sequence number"):
        read_midi(seqnum)
    # SMPTE offset with frame-rate bits 0b1xx: mido 1.3 decodes data[0] >> 5 (KeyError), 1.2.6
    # data[0] >> 6 (valid).
    offset = smf(
        track(meta(0, 0x54, bytes([0xE1, 0, 0, 0, 0])), ev(0, 0x90, 60, 9), ev(1, 0x80, 60, 0))
    )
    assert _oracle(offset) == ("ERR",)
    assert len(read_midi(offset)) == 1
    # Meta events longer than 1,000,000 bytes: mido 1.3 refuses them (MAX_MESSAGE_LENGTH), 1.2.6
    # reads them.
    long_text = smf(track(meta(0, 0x01, bytes(1_000_001)), ev(0, 0x90, 60, 9), ev(1, 0x80, 60, 0)))
    assert _oracle(long_text) == ("ERR",)
    assert len(read_midi(long_text)) == 1


def test_corpus_parity_with_pretty_midi() -> None:
    """Every corpus MIDI file: same notes, tempos, time signatures, total time; or both fail."""
    files = _corpus_files()
    if not files:
        pytest.skip("no shared corpus (set MUSICVAE_SHARED or put it at <repo>/../shared/corpus)")
    mismatched, ours_cpu = [], 0.0
    for path in files:
        data = path.read_bytes()
        t0 = time.process_time()
        ours = _ours(data)
        ours_cpu += time.process_time() - t0
        if ours != _oracle(data):
            mismatched.append(path.name)
    matched = len(files) - len(mismatched)
    print(f"midi parity: matched {matched}/{len(files)}; read_midi CPU {ours_cpu:.2f} s")
    assert not mismatched, f"{len(mismatched)} files differ, e.g. {mismatched[:5]}"


def test_read_midi_accepts_paths_and_bytes(tmp_path: Path) -> None:
    path = tmp_path / "simple.mid"
    path.write_bytes(SIMPLE)
    from_path = read_midi(path)
    assert from_path.source == str(path)
    assert _fields(from_path) == _ours(SIMPLE) == _fields(read_midi(str(path)))
    assert _fields(read_midi(bytearray(SIMPLE))) == _ours(SIMPLE)


def _random_sequence(rng: np.random.Generator, n: int = 200) -> NoteSequence:
    groups = [(0, 0, False), (1, 33, False), (2, 0, True), (3, 81, False)]
    notes = []
    for i in range(n):
        inst, program, drum = groups[i % len(groups)]
        start = float(rng.uniform(0, 30))
        notes.append(
            Note(
                pitch=int(rng.integers(30, 90)) if not drum else int(rng.integers(35, 50)),
                start=start,
                end=start + float(rng.uniform(0.05, 2.0)),
                velocity=int(rng.integers(1, 128)),
                program=program,
                is_drum=drum,
                instrument=inst,
            )
        )
    # One note per (instrument, pitch) at a time: overlapping same-pitch notes are not
    # representable in MIDI, so keep only non-overlapping ones.
    notes.sort(key=lambda x: (x.instrument, x.pitch, x.start))
    kept: list[Note] = []
    for x in notes:
        last = kept[-1] if kept else None
        if last is None or (last.instrument, last.pitch) != (x.instrument, x.pitch):
            kept.append(x)
        elif x.start > last.end + 0.05:
            kept.append(x)
    tempos = (Tempo(0.0, 96.0), Tempo(10.0, 150.0), Tempo(20.0, 72.5))
    return NoteSequence.from_notes(kept, tempos=tempos, time_signatures=(TimeSignature(0, 7, 8),))


def test_write_then_read_round_trip(tmp_path: Path) -> None:
    seq = _random_sequence(np.random.default_rng(0))
    path = tmp_path / "round.mid"
    write_midi(seq, path)
    back = read_midi(path)
    assert path.read_bytes() == midi_bytes(seq)
    assert len(back) == len(seq)
    half_tick = 0.5 * 60.0 / (min(t.qpm for t in seq.tempos) * seq.ticks_per_quarter)

    def rows(s: NoteSequence) -> list:
        cols = (s.program, s.is_drum, s.pitch, s.start, s.end, s.velocity)
        return sorted(zip(*(c.tolist() for c in cols), strict=True))

    for a, b in zip(rows(seq), rows(back), strict=True):
        assert a[:3] == b[:3] and a[5] == b[5]
        assert abs(a[3] - b[3]) <= half_tick + 1e-9 and abs(a[4] - b[4]) <= half_tick + 1e-9
    assert [t.qpm for t in back.tempos] == pytest.approx([t.qpm for t in seq.tempos], rel=1e-5)
    assert [t.time for t in back.tempos] == pytest.approx([0.0, 10.0, 20.0], abs=half_tick)
    assert [(t.numerator, t.denominator) for t in back.time_signatures] == [(7, 8)]
    drums = [set(back.is_drum[back.instrument == i].tolist()) for i in range(4)]
    assert sorted(map(sorted, drums)) == [[False], [False], [False], [True]]
    # The oracle agrees with our reading of our own file.
    assert _ours(path.read_bytes()) == _oracle(path.read_bytes())


def test_write_midi_layout() -> None:
    """Type 1, conductor track first, one track per group, drums on 9, program change at 0."""
    mido = pytest.importorskip("mido")
    groups = [(i, i % 128, False) for i in range(17)] + [(17, 0, True)]
    notes = [Note(60, 0.0, 0.5, 80, p, d, i) for i, p, d in groups]
    seq = NoteSequence.from_notes(notes, tempos=(Tempo(0.0, 90.0),))
    midi = mido.MidiFile(file=io.BytesIO(midi_bytes(seq)))
    assert midi.type == 1 and midi.ticks_per_beat == 220 and len(midi.tracks) == 19
    assert [m.type for m in midi.tracks[0]] == ["set_tempo", "end_of_track"]
    assert midi.tracks[0][0].tempo == round(60e6 / 90)
    channels = []
    for (_, program, _), trk in zip(groups, midi.tracks[1:], strict=True):
        first = trk[0]
        assert first.type == "program_change" and first.time == 0 and first.program == program
        channels.append(first.channel)
    melodic = [c for c in range(16) if c != 9]
    assert channels == [melodic[i % 15] for i in range(17)] + [9]
    on = [m for m in midi.tracks[1] if m.type == "note_on"][0]
    off = [m for m in midi.tracks[1] if m.type == "note_off"][0]
    assert (on.time, off.time) == (0, 165)  # 0.5 s at 90 qpm and 220 ticks per quarter
