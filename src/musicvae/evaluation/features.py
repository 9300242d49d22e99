"""Musical features of windows (Yang & Lerch 2020, "On the evaluation of generative models in
music"), as pure numpy functions over whole batches, and the degenerate-sample rule.

Melody features take (N, T) event arrays (a MIDI pitch = note-on, -1 = note-off, -2 = no event,
one per 16th step; inference/attributes.py) and return (N,) float64. Drum features take (N, T)
9-bit class masks (music/drums.py). A window without notes measures 0 everywhere.
"""

from __future__ import annotations

import numpy as np

from musicvae.inference.attributes import average_interval
from musicvae.music.drums import NUM_DRUM_CLASSES

MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
DRUM_NAMES = ("kick", "snare", "closed_hat", "open_hat", "low_tom", "mid_tom", "high_tom")
DRUM_NAMES += ("crash", "ride")

# The degenerate rule (issue 10): per 2 bars (32 sixteenths) at least this many onsets AND a
# pitch range of at least this many semitones is noise, not a melody; the onset threshold
# scales with the window length.
DEGENERATE_ONSETS_PER_32 = 28
DEGENERATE_RANGE = 48


def _events(events) -> np.ndarray:
    events = np.asarray(events, dtype=np.int64)
    if events.ndim != 2:
        raise ValueError(f"events must be (N, T), got shape {list(events.shape)}")
    return events


def note_count(events) -> np.ndarray:
    """Onsets per window: (N, T) -> (N,)."""
    return (_events(events) >= 0).sum(-1).astype(np.float64)


def pitch_range(events) -> np.ndarray:
    """Highest minus lowest onset pitch in semitones (0 without onsets): (N, T) -> (N,)."""
    events = _events(events)
    onset = events >= 0
    high = np.where(onset, events, -1).max(-1, initial=-1)
    low = np.where(onset, events, 1 << 20).min(-1, initial=1 << 20)
    return np.where(onset.any(-1), high - low, 0).astype(np.float64)


def pitch_class_histogram(events) -> np.ndarray:
    """Onset counts per pitch class: (N, T) -> (N, 12)."""
    events = _events(events)
    onset = events >= 0
    pcs = np.where(onset, np.mod(events, 12), 12)  # 12 = no onset
    counts = np.zeros((len(events), 13))
    np.add.at(counts, (np.arange(len(events))[:, None], pcs), 1)
    return counts[:, :12]


def pitch_class_entropy(events) -> np.ndarray:
    """Entropy in bits of the onsets' pitch-class histogram (0..log2 12): (N, T) -> (N,)."""
    counts = pitch_class_histogram(events)  # (N, 12)
    total = counts.sum(-1, keepdims=True)
    p = np.divide(counts, total, out=np.zeros_like(counts), where=total > 0)
    logs = np.log2(p, out=np.zeros_like(p), where=p > 0)
    return -(p * logs).sum(-1) + 0.0  # + 0.0: no -0.0


def mean_interval(events) -> np.ndarray:
    """Mean absolute interval between consecutive onsets in semitones: (N, T) -> (N,)."""
    return np.asarray(average_interval(_events(events)), np.float64).reshape(len(events))


def sounding_pitches(events) -> np.ndarray:
    """The pitch sounding at each step, -1 where silent: (N, T) -> (N, T)."""
    events = _events(events)
    steps = np.arange(events.shape[-1])
    last = np.maximum.accumulate(np.where(events != -2, steps, -1), axis=-1)  # last event
    value = np.take_along_axis(events, np.maximum(last, 0), axis=-1)
    return np.where((last >= 0) & (value >= 0), value, -1)


def in_scale(events) -> np.ndarray:
    """Share of sounding steps whose pitch class lies in the best-fitting 7-note diatonic
    (major-scale) pitch-class set, the maximum over its 12 transpositions: (N, T) -> (N,)."""
    sounding = sounding_pitches(events)  # (N, T)
    pcs = np.where(sounding >= 0, np.mod(sounding, 12), 12)
    counts = np.zeros((len(sounding), 13))
    np.add.at(counts, (np.arange(len(sounding))[:, None], pcs), 1)
    counts = counts[:, :12]  # (N, 12) sounding steps per pitch class
    member = np.zeros((12, 12))  # (transposition, pitch class)
    for r in range(12):
        member[r, [(p + r) % 12 for p in MAJOR_SCALE]] = 1
    best = (counts @ member.T).max(-1)  # (N,)
    total = counts.sum(-1)
    return np.divide(best, total, out=np.zeros_like(best), where=total > 0)


def note_tokens(events) -> np.ndarray:
    """Each onset as one token (pitch and steps to the next onset or the window's end), left
    aligned; the padding is distinct negative numbers that match nothing: (N, T) -> (N, M)."""
    events = _events(events)
    n, t = events.shape
    onset = events >= 0
    counts = onset.sum(-1)
    width = max(int(counts.max(initial=0)), 1)
    tokens = -1 - np.tile(np.arange(width), (n, 1))  # (N, M) distinct padding
    rows, cols = np.nonzero(onset)
    rank = np.cumsum(onset, axis=-1)[rows, cols] - 1  # onset's index in its window
    nxt = np.full(len(rows), t)
    same = rows[1:] == rows[:-1]  # (K - 1,): the next onset is in the same window
    nxt[:-1][same] = cols[1:][same]
    tokens[rows, rank] = events[rows, cols] * (t + 1) + (nxt - cols)
    return tokens


def longest_repeat(events) -> np.ndarray:
    """The most notes (pitch and inter-onset time) in a run that occurs twice in a window
    without overlapping itself: (N, T) -> (N,)."""
    tokens = note_tokens(events)  # (N, M)
    best = np.zeros(len(tokens))
    for d in range(1, tokens.shape[1]):
        same = tokens[:, :-d] == tokens[:, d:]  # (N, M - d): a run at offset d
        count = np.cumsum(same, axis=-1)
        reset = np.maximum.accumulate(np.where(~same, count, 0), axis=-1)
        run = (count - reset).max(-1)  # longest run of matches
        best = np.maximum(best, np.minimum(run, d))  # longer runs overlap their copy
    return best


MELODY_FEATURES = {
    "note_count": note_count,
    "pitch_range": pitch_range,
    "pitch_class_entropy": pitch_class_entropy,
    "mean_interval": mean_interval,
    "in_scale": in_scale,
    "longest_repeat": longest_repeat,
}


def melody_features(events) -> dict[str, np.ndarray]:
    """Every melody feature: (N, T) events -> {name: (N,)}."""
    return {name: fn(events) for name, fn in MELODY_FEATURES.items()}


def drum_features(masks) -> dict[str, np.ndarray]:
    """Hits per drum class and density (share of steps with a hit): (N, T) masks -> {name: (N,)}."""
    masks = np.asarray(masks, dtype=np.int64)
    bits = (masks[..., None] >> np.arange(NUM_DRUM_CLASSES)) & 1  # (N, T, 9)
    out = {
        f"hits_{name}": bits[..., c].sum(-1).astype(np.float64) for c, name in enumerate(DRUM_NAMES)
    }
    steps = max(masks.shape[-1], 1)
    out["density"] = (masks != 0).sum(-1) / steps
    return out


def degenerate_melody(events) -> np.ndarray:
    """Empty, or noise: >= 28 onsets per 32 steps (scaled by length) with a range >= 48
    semitones: (N, T) -> (N,) bool."""
    events = _events(events)
    count = note_count(events)
    threshold = DEGENERATE_ONSETS_PER_32 * events.shape[-1] / 32
    return (count == 0) | ((count >= threshold) & (pitch_range(events) >= DEGENERATE_RANGE))


def degenerate_drums(masks) -> np.ndarray:
    """A drum window without a single hit: (N, T) -> (N,) bool."""
    return ~(np.asarray(masks) != 0).any(-1)
