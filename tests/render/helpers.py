"""Hand-built sequences for the render tests: 120 qpm, so one 16th step is 0.125 s."""

from __future__ import annotations

from musicvae.music.notes import Note, NoteSequence, Tempo

STEP = 0.125  # seconds per 16th at 120 qpm


def sequence(notes: list[tuple], bars: int = 2) -> NoteSequence:
    """Notes given as (pitch, start step, end step[, program, is_drum, instrument])."""
    built = [
        Note(
            pitch=n[0],
            start=n[1] * STEP,
            end=n[2] * STEP,
            program=n[3] if len(n) > 3 else 0,
            is_drum=n[4] if len(n) > 4 else False,
            instrument=n[5] if len(n) > 5 else 0,
        )
        for n in notes
    ]
    return NoteSequence.from_notes(built, tempos=(Tempo(0.0, 120.0),), total_time=bars * 16 * STEP)
