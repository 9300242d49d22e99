"""The study's own realism features, over melody events, on top of musicvae.evaluation.

The evaluation package has the shared measures (reconstruction, the degenerate rule, pitch
range, pitch-class histogram and entropy, sounding pitches, interpolation's Hamming distance and
pairs, the attribute matrix); this module adds what only the 16-bar study reports: onset-based
scale fit, leaps, rests, note lengths, beats and the bar-level structure features that the
real-vs-generated classifier (realism_classifier.py) reads, plus the study's interpolation
curves with the language model.

Events are (N, T) arrays (MIDI pitch = note-on, -1 = note-off, -2 = no event;
musicvae.inference.attributes.events_from_classes makes them from melody classes).
"""

from __future__ import annotations

import numpy as np

from musicvae.evaluation.features import (
    pitch_class_entropy,
    pitch_class_histogram,
    pitch_range,
    sounding_pitches,
)
from musicvae.evaluation.interpolation import hamming, pooled_distance
from musicvae.evaluation.realism import prior_tokens
from musicvae.inference.attributes import average_interval, syncopation_8th, syncopation_16th
from musicvae.inference.latent import interpolation_path

MAJOR_SCALE = np.array([1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1], bool)  # pitch classes of C major
STEPS_PER_BAR = 16


def one_hot(classes: np.ndarray, depth: int) -> np.ndarray:
    """(N, T) classes -> (N, T, depth) float32."""
    return np.eye(depth, dtype=np.float32)[classes]


def onsets(events: np.ndarray) -> np.ndarray:
    return events >= 0


def note_density(events) -> np.ndarray:
    """Onsets per step: (N, T) -> (N,)."""
    return onsets(np.asarray(events)).mean(-1)


def mean_pitch(events) -> np.ndarray:
    """Mean onset pitch (0 without onsets): (N, T) -> (N,)."""
    events = np.asarray(events)
    on = onsets(events)
    return _ratio(np.where(on, events, 0).sum(-1), on.sum(-1))


def _ratio(num, den) -> np.ndarray:
    num, den = np.asarray(num, np.float64), np.asarray(den, np.float64)
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den > 0)


def _intervals(events: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """|pitch step| between consecutive onsets, padded: -> (N, T) intervals, (N, T) valid."""
    n, t = events.shape
    on = onsets(events)
    order = np.argsort(~on, axis=-1, kind="stable")  # onsets first, in time order
    pitches = np.take_along_axis(events, order, -1)  # (N, T)
    count = on.sum(-1)  # (N,)
    diffs = np.abs(np.diff(pitches, axis=-1))  # (N, T - 1)
    valid = np.arange(t - 1)[None, :] < (count[:, None] - 1)  # (N, T - 1)
    return diffs, valid


def leap_share(events) -> np.ndarray:
    """Share of consecutive-onset intervals larger than a fifth (7 semitones): (N,)."""
    diffs, valid = _intervals(np.asarray(events))
    return _ratio(((diffs > 7) & valid).sum(-1), valid.sum(-1))


def repeated_pitch_share(events) -> np.ndarray:
    """Share of consecutive onsets that repeat the pitch: (N, T) -> (N,)."""
    diffs, valid = _intervals(np.asarray(events))
    return _ratio(((diffs == 0) & valid).sum(-1), valid.sum(-1))


def scale_fit(events) -> np.ndarray:
    """Share of onsets in the best-fitting major scale (any of the 12 keys; folk tunes are in
    many keys, so C-diatonic alone would measure the key): (N, T) -> (N,)."""
    counts = pitch_class_histogram(events)  # (N, 12)
    scales = np.stack([np.roll(MAJOR_SCALE, k) for k in range(12)]).astype(float)  # (12, 12)
    best = (counts @ scales.T).max(-1)  # (N,)
    return _ratio(best, counts.sum(-1))


def rest_share(events) -> np.ndarray:
    """Share of steps where no note sounds: (N, T) -> (N,)."""
    return 1.0 - (sounding_pitches(events) >= 0).mean(-1)


def mean_note_length(events) -> np.ndarray:
    """Sounding steps per onset (0 without onsets): (N, T) -> (N,)."""
    events = np.asarray(events)
    return _ratio((sounding_pitches(events) >= 0).sum(-1), onsets(events).sum(-1))


def beat_onset_share(events) -> np.ndarray:
    """Share of onsets on a quarter beat (16th position % 4 == 0): (N, T) -> (N,)."""
    events = np.asarray(events)
    on = onsets(events)
    beat = (np.arange(events.shape[-1]) % 4) == 0
    return _ratio((on & beat).sum(-1), on.sum(-1))


def _bars(events: np.ndarray, steps_per_bar: int) -> np.ndarray:
    n, t = events.shape
    return events.reshape(n, t // steps_per_bar, steps_per_bar)  # (N, U, S)


def _repeats_earlier(bars: np.ndarray) -> np.ndarray:
    """(N, U, S) -> (N, U - 1) bool: bar u >= 1 equals some earlier bar of its window."""
    same = (bars[:, :, None, :] == bars[:, None, :, :]).all(-1)  # (N, U, U)
    earlier = np.tril(np.ones(same.shape[1:], bool), k=-1)  # (U, U): v < u
    return (same & earlier).any(-1)[:, 1:]


def bar_repetition(events, steps_per_bar: int = STEPS_PER_BAR) -> np.ndarray:
    """Long-term structure: share of bars 2..U that repeat an earlier bar exactly (notes and
    rhythm): (N, T) -> (N,)."""
    return _repeats_earlier(_bars(np.asarray(events), steps_per_bar)).mean(-1)


def rhythm_repetition(events, steps_per_bar: int = STEPS_PER_BAR) -> np.ndarray:
    """Share of bars 2..U whose onset pattern repeats an earlier bar's: (N, T) -> (N,)."""
    return _repeats_earlier(_bars(onsets(np.asarray(events)), steps_per_bar)).mean(-1)


def half_agreement(events) -> np.ndarray:
    """Share of steps where the second half of a window equals the first (repeated phrases):
    (N, T) -> (N,)."""
    events = np.asarray(events)
    half = events.shape[-1] // 2
    return (events[:, :half] == events[:, half : 2 * half]).mean(-1)


FEATURES = {
    "note_density": note_density,
    "pitch_range": pitch_range,
    "mean_pitch": mean_pitch,
    "average_interval": average_interval,
    "leap_share": leap_share,
    "repeated_pitch_share": repeated_pitch_share,
    "scale_fit": scale_fit,
    "pitch_class_entropy": pitch_class_entropy,
    "rest_share": rest_share,
    "mean_note_length": mean_note_length,
    "beat_onset_share": beat_onset_share,
    "syncopation_8th": syncopation_8th,
    "syncopation_16th": syncopation_16th,
    "bar_repetition": bar_repetition,
    "rhythm_repetition": rhythm_repetition,
    "half_agreement": half_agreement,
}


def realism_features(events) -> dict[str, np.ndarray]:
    """Every realism feature: (N, T) events -> {name: (N,) float64}."""
    events = np.asarray(events, np.int64)
    return {name: np.asarray(fn(events), np.float64) for name, fn in FEATURES.items()}


def relative_differences(generated: dict, real: dict) -> dict[str, float]:
    """Per feature, (mean generated - mean real) / |mean real| (nan where the real mean is 0)."""
    out = {}
    for name, values in generated.items():
        ref = float(np.mean(real[name]))
        out[name] = (float(np.mean(values)) - ref) / abs(ref) if ref else float("nan")
    return out


# ---------------------------------------------------------------- interpolation (5.2)


def _hamming(a, b) -> np.ndarray:
    """Differing steps of melody classes: a, b (..., T) -> (...)."""
    return hamming(np.asarray(a)[..., None], np.asarray(b)[..., None])


def latent_paths(model, a, b, alphas_count: int) -> np.ndarray:
    """Slerp between the mu's of windows a, b (P, T) each, decoded by argmax -> (P, K, T)."""
    depth = model.output_depth
    _, mu_a, _ = model.encode_tensors(one_hot(a, depth))  # (P, Z)
    _, mu_b, _ = model.encode_tensors(one_hot(b, depth))
    codes = np.concatenate(
        [interpolation_path(x, y, alphas_count, "slerp") for x, y in zip(mu_a, mu_b, strict=True)]
    )  # (P * K, Z)
    decoded = prior_tokens(model, codes, None, 0)[..., 0]  # (P * K, T) argmax
    return decoded.reshape(len(a), alphas_count, -1)


def path_curves(paths: np.ndarray, a: np.ndarray, b: np.ndarray, log_likelihood=None) -> dict:
    """paths (P, K, T) between windows a, b (P, T) -> per alpha, the Hamming distance to A
    summed over pairs over d(A, B) summed over pairs (a ratio of sums: a pair of near-equal
    windows cannot dominate it, as it would a mean of ratios), and (with `log_likelihood`, a
    function of (M, T) classes -> (M,) nats) the mean language-model log-likelihood per step
    in nats."""
    p, k, t = paths.shape
    d_ab = _hamming(a, b)  # (P,)
    out = {"hamming_to_a": pooled_distance(paths[..., None], a[..., None], d_ab).tolist()}
    if log_likelihood is not None:
        nats = log_likelihood(paths.reshape(p * k, t)).reshape(p, k) / t  # (P, K)
        out["lm_nats_per_step"] = nats.mean(0).tolist()
    return out
