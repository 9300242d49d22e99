"""One ABC tune to a NoteSequence, through music21 (pure Python, so it works on every machine).

music21 parses the ABC text; we read notes, tempos and time signatures off the parsed score and
build the NoteSequence ourselves, because music21's own MIDI writer crashes on many tunes with
repeats. Four things are fixed on the way, each explained where it happens: grace notes inside
tuplets, repeats whose start sign is implied (`A :| B :|`), runaway repeat expansion, and pickup
bars (anacrusis).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from musicvae.music.notes import DEFAULT_QPM, NoteSequence, Tempo, TimeSignature

DEFAULT_VELOCITY = 80
# 480 is divisible by 3 (and by 2**5): ABC triplets and 32nd notes land on whole ticks, where
# note_seq's 220 would round them.
TICKS_PER_QUARTER = 480
# A tune played with all its repeats is at most a few times as long as written: AABB is 2x, a
# 3-time repeat 3x, nested repeats a bit more. Past this, expansion went wrong and we keep the
# tune as written (music21 once made a 264-quarter O'Neill's tune 27,856 quarters long).
MAX_EXPANSION_RATIO = 6.0
# Longer than any real tune here (the longest Essen ballad is about 700 quarters as written).
MAX_QUARTERS = 4000.0

_X_LINE = re.compile(r"^X:[ \t]*(.*?)[ \t]*\r?$", re.MULTILINE)


class AbcError(ValueError):
    """A tune that cannot be converted; the message is one line, for failure reports."""


@dataclass(frozen=True)
class AbcTune:
    """One tune of an ABC file: its position in the file, its `X:` number and its text."""

    index: int
    number: str
    text: str = field(repr=False)


@dataclass(frozen=True)
class Conversion:
    """A converted tune and one-line remarks about what was changed or given up on the way."""

    sequence: NoteSequence
    remarks: tuple[str, ...] = ()


def split_tunes(text: str) -> list[AbcTune]:
    """The tunes of an ABC file, each from its `X:` line up to the next one.

    Text before the first `X:` (the file header) is dropped: in the music21 folk corpus it is only
    comments; no file there sets header fields that would apply to every tune.
    """
    marks = list(_X_LINE.finditer(text))
    ends = [m.start() for m in marks[1:]] + [len(text)]
    return [
        AbcTune(index=i, number=m.group(1), text=text[m.start() : end])
        for i, (m, end) in enumerate(zip(marks, ends, strict=True))
    ]


def one_line(exc: BaseException) -> str:
    """An exception as one short line: `Type: message`."""
    message = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {message}"[:200]


def abc_to_sequence(text: str, *, rebar_2_4: bool = False, source: str = "") -> Conversion:
    """Parses one ABC tune and returns its notes with repeats expanded and pickups padded.

    Notes get program 0, the score's velocity (or 80), one instrument per voice; tempos come from
    `Q:` (or 120 qpm); time signatures from the score, 2/4 written as 4/4 if `rebar_2_4` (notes
    unchanged). Raises AbcError for tunes that cannot be used.
    """
    score = _parse(strip_grace_notes(text))
    score, remarks = _expand_repeats(score)
    if _BODY_METER.search(text.partition("\nK:")[2]):
        # music21 keeps the new bar length but drops the TimeSignature (8 tunes of the corpus).
        remarks.append("meter change in the tune body lost (music21 ignores it)")
    if float(score.highestTime) > MAX_QUARTERS:
        raise AbcError(f"too long: {float(score.highestTime):.0f} quarter notes")
    signatures, dropped = _time_signatures(score)
    remarks += [f"time signature {ratio} dropped: MIDI cannot store it" for ratio in dropped]
    if rebar_2_4:
        signatures = rebar_2_4_as_4_4(signatures)
    pad = _pickup_pad(score, signatures)
    rows = _note_rows(score)
    if not rows:
        raise AbcError("no notes")
    sequence = _sequence(rows, signatures, _tempo_points(score, pad), pad, source)
    return Conversion(sequence, tuple(remarks))


def _sequence(rows, signatures, tempo_points, pad: float, source: str) -> NoteSequence:
    """The NoteSequence of note rows and marks in quarters, the notes shifted by `pad`."""

    def seconds(q):
        return _quarters_to_seconds(q, tempo_points)

    def shift(q: float) -> float:
        # Marks at the very start stay at 0 (before the padding silence); the rest move with it.
        return q + pad if q > 0 else 0.0

    part, pitch, start_q, end_q, velocity = (np.array(col) for col in zip(*rows, strict=True))
    order = np.lexsort((pitch, start_q))  # (N,) by start, then pitch
    end = seconds(end_q[order] + pad)  # (N,)
    return NoteSequence(
        pitch=pitch[order],
        velocity=velocity[order],
        start=seconds(start_q[order] + pad),
        end=end,
        program=np.zeros(len(order)),
        is_drum=np.zeros(len(order), dtype=bool),
        instrument=part[order],
        tempos=tuple(Tempo(float(seconds(q)), qpm) for q, qpm in tempo_points),
        time_signatures=tuple(
            TimeSignature(float(seconds(shift(q))), num, den) for q, num, den in signatures
        ),
        total_time=float(end.max()),
        ticks_per_quarter=TICKS_PER_QUARTER,
        source=source,
    )


def strip_grace_notes(text: str) -> str:
    """The tune without its grace-note groups `{...}` (they have no duration and are not kept).

    Removed before parsing because music21 counts a grace note inside a tuplet as one of the
    tuplet's notes: `(3{F}EDE` puts the last E outside the triplet and shifts the rest of the
    tune by a sixth of a quarter (and the bar gets a 1/6 time signature MIDI cannot store).
    """
    lines = text.split("\n")
    body = next((i + 1 for i, line in enumerate(lines) if line.startswith("K:")), len(lines))
    for i in range(body, len(lines)):
        if not _FIELD_LINE.match(lines[i]):
            lines[i] = _GRACE.sub("", lines[i])
    return "\n".join(lines)


_GRACE = re.compile(r"\{[^}]*\}")
_BODY_METER = re.compile(r"^M:|\[M:", re.MULTILINE)
_FIELD_LINE = re.compile(r"^([A-Za-z]:|%)")


def _parse(text: str):
    """The music21 Score of one tune."""
    from music21 import converter, stream

    try:
        parsed = converter.parseData(text, format="abc")
    except Exception as exc:  # music21 raises many kinds on bad ABC
        raise AbcError(f"music21 cannot parse it: {one_line(exc)}") from exc
    if isinstance(parsed, stream.Opus):
        parsed = parsed.scores[0] if parsed.scores else None
    if not isinstance(parsed, stream.Score) or not parsed.parts:
        raise AbcError("music21 found no tune in it")
    return parsed


def _has_repeats(score) -> bool:
    from music21 import bar, repeat

    for m in score.recurse().getElementsByClass("Measure"):
        if isinstance(m.leftBarline, bar.Repeat) or isinstance(m.rightBarline, bar.Repeat):
            return True
    return bool(score.recurse().getElementsByClass(repeat.RepeatExpression))


def _add_implied_repeat_starts(part) -> None:
    """Adds the start sign that ABC leaves out before a repeated section, so `A :| B :|` is AABB.

    music21 sends an end repeat without a start back to the beginning of the tune, so a reel
    written `A :| B :|` (most of O'Neill's and Ryan's) came out AABAAB, and `A:|B:|C:|D:|`
    doubled at every sign (one tune became hours long). By the notation convention a repeat
    without a start sign goes back to the previous double bar or end repeat; we add the start
    sign there, after any 1st/2nd-ending measures.
    """
    from music21 import bar, spanner

    measures = list(part.getElementsByClass("Measure"))
    in_bracket = {
        id(m)
        for b in part.spannerBundle.getByClass(spanner.RepeatBracket)
        for m in b.getSpannedElements()
    }
    has_start = False  # an explicit start sign since the last end repeat
    section = 0  # where the current section starts: after the last double bar or end repeat
    for i, m in enumerate(measures):
        left, right = m.leftBarline, m.rightBarline
        if isinstance(left, bar.Repeat) and left.direction == "start":
            has_start = True
        elif _is_double_bar(left) and id(m) not in in_bracket:
            section = i
        if isinstance(right, bar.Repeat) and right.direction == "end":
            if not has_start:
                j = section
                while j <= i and id(measures[j]) in in_bracket:
                    j += 1
                if 0 < j <= i:  # at 0 the tune's beginning is the start already
                    measures[j].leftBarline = bar.Repeat(direction="start")
            has_start = False
            section = i + 1
        elif _is_double_bar(right):
            section = i + 1


_DOUBLE_BARS = ("double", "final", "heavy-light", "light-heavy", "heavy-heavy")


def _is_double_bar(barline) -> bool:
    return (
        barline is not None and not hasattr(barline, "direction") and (barline.type in _DOUBLE_BARS)
    )


def _expand_repeats(score):
    """The score with repeats played out, or as written if expansion fails or runs away."""
    if not _has_repeats(score):
        return score, []
    for part in score.parts:
        _add_implied_repeat_starts(part)
    written = float(score.highestTime)
    try:
        expanded = score.expandRepeats()
    except Exception as exc:
        return score, [f"repeats not expanded: {one_line(exc)}"]
    played = float(expanded.highestTime)
    if played > MAX_EXPANSION_RATIO * max(written, 1.0):
        return score, [f"repeats not expanded: {written:g} quarters would play as {played:g}"]
    return expanded, []


def _marks(part, cls) -> list[tuple[float, object]]:
    """(offset in quarters, element) of each `cls` element in a part, measure by measure.

    Not `part.flatten()`: music21's ABC reader puts one TimeSignature object in several measures
    when a meter returns (3/4, 4/4, 3/4), and a flat stream keeps only one of its offsets.
    """
    measures = list(part.getElementsByClass("Measure"))
    if not measures:  # a tune without bar lines
        return [(float(part.elementOffset(el)), el) for el in part.getElementsByClass(cls)]
    return [
        (float(part.elementOffset(m) + m.elementOffset(el)), el)
        for m in measures
        for el in m.getElementsByClass(cls)
    ]


def _time_signatures(score) -> tuple[list[tuple[float, int, int]], list[str]]:
    """(offset in quarters, numerator, denominator) of each change in the first voice.

    Also returns the signatures dropped because MIDI stores only power-of-2 denominators (music21
    makes up odd ones, like 1/6, for bars whose length it got wrong).
    """
    from music21 import meter

    out: list[tuple[float, int, int]] = []
    dropped: set[str] = set()
    for offset, ts in _marks(score.parts[0], meter.TimeSignature):
        entry = (offset, int(ts.numerator), int(ts.denominator))
        if entry[2] <= 0 or entry[2] & (entry[2] - 1):
            dropped.add(f"{entry[1]}/{entry[2]}")
            continue
        if out and out[-1][0] == entry[0]:
            out.pop()  # two at one offset: the later one holds
        if not out or out[-1][1:] != entry[1:]:
            out.append(entry)
    return out, sorted(dropped)


def rebar_2_4_as_4_4(signatures: list[tuple[float, int, int]]) -> list[tuple[float, int, int]]:
    """Every 2/4 becomes 4/4 (two written bars make one); other signatures stay.

    Opt-in: Magenta's 4/4 models (16 steps a bar) skip 2/4 tunes, a quarter of this corpus. A
    signature change then restarts the bar count, which is where Magenta splits a sequence too.
    """
    out: list[tuple[float, int, int]] = []
    for offset, num, den in signatures:
        entry = (offset, 4, 4) if (num, den) == (2, 4) else (offset, num, den)
        if not out or out[-1][1:] != entry[1:]:
            out.append(entry)
    return out


def _pickup_pad(score, signatures: list[tuple[float, int, int]]) -> float:
    """Silence to put before a pickup bar so that bar lines fall on multiples of the bar length.

    A tune that starts with a 1-beat pickup in 4/4 would otherwise have its bar lines at beats
    1, 5, 9, ..., and the MIDI's time signature would lie about where downbeats are (Magenta
    counts bars from time 0). Padding by (bar - pickup) keeps all notes, their spacing and the
    written time signature; the alternative, dropping the pickup, loses notes. Our earlier
    conversion of this corpus made the same choice.
    """
    if not signatures or signatures[0][0] != 0.0:
        return 0.0
    _, num, den = signatures[0]
    bar = 4.0 * num / den
    measures = score.parts[0].getElementsByClass("Measure")
    if len(measures) < 2:
        return 0.0
    first = float(measures[0].duration.quarterLength)
    return bar - first if 0.0 < first < bar else 0.0


def _note_rows(score) -> list[tuple[int, int, float, float, int]]:
    """(voice, pitch, start, end, velocity) of each sounding note, times in quarters.

    Tied notes become one note. We merge ties ourselves: music21's stripTies took a fifth of
    the conversion time.
    """
    from music21 import chord, dynamics, harmony, note

    rows: list[list] = []
    for voice, part in enumerate(score.parts):
        loudness = None  # velocity of the last dynamic mark seen
        tied: dict[int, int] = {}  # pitch -> row of the note its tie continues
        for el in part.flatten():
            if isinstance(el, dynamics.Dynamic) and el.volumeScalar is not None:
                loudness = round(127 * el.volumeScalar)
                continue
            # Chord symbols ("Am") are Chords to music21 but are not played; grace notes have
            # no duration of their own.
            if isinstance(el, harmony.Harmony) or not isinstance(el, (note.Note, chord.Chord)):
                continue
            if el.duration.isGrace or el.quarterLength <= 0:
                continue
            velocity = el.volume.velocity or loudness or DEFAULT_VELOCITY
            start = float(el.offset)
            end = start + float(el.quarterLength)
            parts = el.notes if isinstance(el, chord.Chord) else (el,)
            for n in parts:
                tie = (n.tie or el.tie).type if (n.tie or el.tie) else None
                pitch = n.pitch.midi
                row = tied.pop(pitch, None)
                if row is not None and tie in ("stop", "continue") and rows[row][3] == start:
                    rows[row][3] = end  # the tie goes on: lengthen the note it started
                else:
                    row = len(rows)
                    rows.append([voice, pitch, start, end, velocity])
                if tie in ("start", "continue"):
                    tied[pitch] = row
    return [tuple(r) for r in rows]


def _tempo_points(score, pad: float) -> list[tuple[float, float]]:
    """(quarters, qpm) of each tempo, starting at 0; 120 qpm until a `Q:` says otherwise."""
    from music21 import tempo

    points = [(0.0, DEFAULT_QPM)]
    for offset, mark in _marks(score.parts[0], tempo.MetronomeMark):
        qpm = mark.getQuarterBPM()
        if not qpm or qpm <= 0:
            continue  # a text-only tempo ("Allegro") has no number
        q = offset + pad if offset > 0 else 0.0
        if points[-1][0] == q:
            points.pop()
        if not points or points[-1][1] != qpm:
            points.append((q, float(qpm)))
    return points


def _quarters_to_seconds(quarters, points: list[tuple[float, float]]):
    """Times in quarters (any shape) to seconds under piecewise-constant tempos `points`."""
    at = np.array([q for q, _ in points])  # (T,)
    spq = 60.0 / np.array([qpm for _, qpm in points])  # (T,) seconds per quarter
    seconds_at = np.concatenate([[0.0], np.cumsum(np.diff(at) * spq[:-1])])  # (T,)
    q = np.asarray(quarters, dtype=np.float64)
    seg = np.clip(np.searchsorted(at, q, side="right") - 1, 0, len(at) - 1)
    return seconds_at[seg] + (q - at[seg]) * spq[seg]
