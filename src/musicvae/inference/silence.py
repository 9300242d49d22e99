"""All-rest results: a decoded window with no note is noted and skipped, not written as an
empty MIDI file (the commands print the stems this returns)."""

from __future__ import annotations

from musicvae.music.notes import NoteSequence


def is_silent(seq: NoteSequence) -> bool:
    """True when the sequence has no note at all (an all-rest window)."""
    return len(seq) == 0


def drop_silent(
    named: list[tuple[str, NoteSequence]],
) -> tuple[list[tuple[str, NoteSequence]], list[str]]:
    """(stem, sequence) pairs -> the pairs with notes, and the stems of the all-rest ones."""
    kept = [(stem, seq) for stem, seq in named if not is_silent(seq)]
    skipped = [stem for stem, seq in named if is_silent(seq)]
    return kept, skipped
