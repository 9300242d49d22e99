"""Training-time augmentation: Magenta's NoteSequenceAugmenter (transposition only)."""

from __future__ import annotations

import numpy as np

from musicvae.music.notes import NoteSequence


def transpose_sequence(
    seq: NoteSequence, amount: int, min_pitch: int = 0, max_pitch: int = 127
) -> NoteSequence:
    """note_seq.transpose_note_sequence with deletion: drums stay, notes leaving the range go.

    As in note_seq, total_time becomes the end of the last kept note.
    """
    moved = np.where(seq.is_drum, seq.pitch, seq.pitch + amount)
    keep = seq.is_drum | ((moved >= min_pitch) & (moved <= max_pitch))
    kept_end = seq.end[keep]
    return seq.select(
        keep,
        pitch=moved[keep],
        total_time=float(kept_end.max()) if len(kept_end) else 0.0,
    )


def random_transpose(
    seq: NoteSequence, transpose_range: tuple[int, int], rng: np.random.Generator
) -> NoteSequence:
    """Transposes by a uniform integer in the inclusive `transpose_range`."""
    lo, hi = transpose_range
    return transpose_sequence(seq, int(rng.integers(lo, hi + 1)))
