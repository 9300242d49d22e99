"""Issue 10's bar for prior samples, counted here from the notes of fresh samples (not read
from a card): at most 5% degenerate (empty, or >= 28 onsets per 2 bars with a range >= 48
semitones) and mean note count and pitch range within 20% of the held-out data's means."""

from __future__ import annotations

import numpy as np


def assert_meets_prior_bar(tunes, card: dict, bars: int) -> None:
    """tunes: NoteSequences sampled from the prior; card: the model's card.json (its held-out
    data features); bars: the window length (the onset limit scales with it)."""
    pitches = [[n.pitch for n in tune.notes()] for tune in tunes]
    count = np.array([len(p) for p in pitches], float)
    span = np.array([max(p) - min(p) if p else 0 for p in pitches], float)
    degenerate = (count == 0) | ((count >= 28 * bars / 2) & (span >= 48))
    assert degenerate.mean() <= 0.05
    data = card["evaluation"]["realism"]["data"]["features"]
    for name, ours in (("note_count", count.mean()), ("pitch_range", span.mean())):
        theirs = data[name]
        assert abs(ours - theirs) <= 0.2 * theirs, (name, ours, theirs)
