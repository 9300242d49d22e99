"""Why a readable file yields no melody window: the real reason, in one line.

Magenta's melody rule can refuse a file for its instruments (2-bar configs read programs 0-31
only), its pitch range (21-108), its meter (4/4 only) or the shape of its lines (a bar of rest
ends a melody; of simultaneous onsets only the highest note is kept). The message names the
cause that applies, with what the file holds, instead of blaming the music in general.
"""

from __future__ import annotations

import numpy as np

from musicvae.music.notes import NoteSequence
from musicvae.music.sequences import split_on_time_changes

# General MIDI program families, 8 programs each.
GM_FAMILIES = (
    "piano",
    "chromatic percussion",
    "organ",
    "guitar",
    "bass",
    "strings",
    "ensemble",
    "brass",
    "reed",
    "pipe",
    "synth lead",
    "synth pad",
    "synth effects",
    "ethnic",
    "percussive",
    "sound effects",
)


def program_names(programs) -> str:
    """'40 (strings), 73 (pipe)' for General MIDI program numbers."""
    return ", ".join(f"{p} ({GM_FAMILIES[p // 8]})" for p in sorted({int(p) for p in programs}))


def chord_onsets(seq: NoteSequence) -> int:
    """How many (instrument, onset time) pairs start two or more notes at once."""
    if not len(seq):
        return 0
    keys = np.stack([seq.instrument.astype(np.float64), np.round(seq.start, 6)], axis=1)
    _, counts = np.unique(keys, axis=0, return_counts=True)
    return int((counts > 1).sum())


def longest_melody_bars(converter, seq: NoteSequence) -> float:
    """The longest melody `converter` (a MelodyConverter) extracts from any piece of `seq`, in
    bars."""
    pieces = split_on_time_changes(seq) if converter.presplit_on_time_changes else [seq]
    longest = 0
    for piece in pieces:
        melodies, _ = converter.melodies(piece)
        longest = max([longest] + [len(m.events) for m in melodies])
    return longest / converter.steps_per_bar


def explain_melody(converter, seq: NoteSequence) -> str:
    """The reason a sequence with notes, some in 4/4, yields no melody window of `converter` (a
    MelodyConverter: its slice_bars, valid_programs, any_program, pitch range and gap_bars)."""
    melodic = seq.select(~seq.is_drum)
    if not len(melodic):
        return "it has only drum notes (MIDI channel 10); a melody needs another instrument"
    found = program_names(melodic.program)
    head = f"no monophonic melody spanning {converter.slice_bars} bars of 4/4"
    if converter.valid_programs is not None and not converter.any_program:
        lo, hi = converter.valid_programs
        inside = (melodic.program >= lo) & (melodic.program < hi)
        if not inside.any():
            return (
                f"{head}: its instruments are programs {found} (General MIDI), and this melody "
                f"config reads programs {lo}-{hi - 1} only (Magenta's rule); use any_program "
                "(--any-program) to read melodies on every non-drum instrument"
            )
        melodic = melodic.select(inside)
    in_range = (melodic.pitch >= converter.min_pitch) & (melodic.pitch <= converter.max_pitch)
    if not in_range.any():
        low, high = int(melodic.pitch.min()), int(melodic.pitch.max())
        return (
            f"{head}: all its melody notes (pitches {low}-{high}) lie outside the range "
            f"{converter.min_pitch}-{converter.max_pitch}"
        )
    bars = longest_melody_bars(converter, seq)
    shape = (
        f"the longest melody line spans {bars:g} bar{'s' if bars != 1 else ''}"
        if bars
        else "no melody line lasts a whole bar"
    )
    gap = converter.gap_bars
    why = (
        f"{shape} (a rest of {gap:g} bar{'s' if gap != 1 else ''} or more ends a line)"
        if gap
        else shape
    )
    facts = [f"programs {found}"]
    meters = sorted({(t.numerator, t.denominator) for t in seq.time_signatures})
    if len(meters) > 1:
        facts.append("meters " + ", ".join(f"{n}/{d}" for n, d in meters) + " (4/4 parts only)")
    chords = chord_onsets(melodic)
    if chords:
        facts.append(f"polyphonic: {chords} chords, of which only the top note is kept")
    return f"{head}: {why}; {'; '.join(facts)}"
