"""The study's evaluation measures as small functions over melody class arrays.

Stand-ins: the `eval` branch is writing `musicvae.evaluation` (reconstruction accuracies,
realism features, the degenerate rule, interpolation, the attribute matrix); once it is merged,
these can be swapped for its functions one by one (same meanings, documented per function).

Windows are (N, T) melody classes (Magenta's OneHotMelodyConverter: 0 = no event, 1 = note-off,
2 + pitch - 21 = note-on); `events_of` turns them into events (MIDI pitch, -1 note-off, -2 no
event) for the musical measures of musicvae.inference.attributes.
"""

from __future__ import annotations

import numpy as np

from musicvae.inference.attributes import (
    ATTRIBUTES,
    attribute_vectors,
    average_interval,
    classes_of,
    encode_classes,
    events_from_classes,
    syncopation_8th,
    syncopation_16th,
)
from musicvae.inference.latent import interpolation_path

MAJOR_SCALE = np.array([1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1], bool)  # pitch classes of C major
STEPS_PER_BAR = 16
# The degenerate rule of the 2-bar model card (issue 10): no note at all, or noise, i.e. at
# least 28 onsets per 32 steps (scaled by length) spanning at least 48 semitones.
DEGENERATE_ONSETS_PER_32 = 28
DEGENERATE_RANGE = 48


def events_of(windows, min_pitch: int = 21) -> np.ndarray:
    """Melody windows ((N, T) classes, (N, T, 1) tokens or (N, T, 90) one-hot) -> (N, T)
    events."""
    return events_from_classes(windows, min_pitch)


def one_hot(classes: np.ndarray, depth: int) -> np.ndarray:
    """(N, T) classes -> (N, T, depth) float32."""
    return np.eye(depth, dtype=np.float32)[classes]


# ---------------------------------------------------------------- reconstruction (Table 1)


def reconstruction_accuracy(model, classes, seed: int = 0, chunk: int = 256) -> dict:
    """Held-out per-step accuracy from z = mu (Table 1): teacher-forced, sampled at temperature
    1.0 (the paper's 'sampling' column) and argmax. model: a TrainedModel; classes (N, T)."""
    classes = classes_of(classes)
    depth = model.output_depth
    right = {"teacher_forced": 0, "sampled": 0, "argmax": 0}
    for start in range(0, len(classes), chunk):
        target = classes[start : start + chunk]  # (n, T)
        windows = one_hot(target, depth)  # (n, T, D)
        _, mu, _ = model.encode_tensors(windows)  # (n, Z)
        tf = model.teacher_forced_logits(windows, None, mu).argmax(-1)  # (n, T)
        sampled = model.decode_to_tensors(mu, temperature=1.0, seed=seed + start).argmax(-1)
        greedy = model.decode_to_tensors(mu, temperature=None).argmax(-1)
        right["teacher_forced"] += int((tf == target).sum())
        right["sampled"] += int((sampled == target).sum())
        right["argmax"] += int((greedy == target).sum())
    total = max(classes.size, 1)
    out = {k: v / total for k, v in right.items()}
    out["drop"] = out["teacher_forced"] - out["sampled"]
    out["windows"] = int(len(classes))
    return out


# ---------------------------------------------------------------- realism features


def onsets(events: np.ndarray) -> np.ndarray:
    return events >= 0


def note_density(events) -> np.ndarray:
    """Onsets per step: (N, T) -> (N,)."""
    return onsets(np.asarray(events)).mean(-1)


def pitch_range(events) -> np.ndarray:
    """Highest minus lowest onset pitch (0 without onsets): (N, T) -> (N,)."""
    events = np.asarray(events)
    on = onsets(events)
    high = np.where(on, events, -(10**6)).max(-1)
    low = np.where(on, events, 10**6).min(-1)
    return np.where(on.any(-1), high - low, 0).astype(np.float64)


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


def pitch_class_counts(events) -> np.ndarray:
    """Onsets per pitch class: (N, T) -> (N, 12)."""
    events = np.asarray(events)
    on = onsets(events)
    pcs = np.where(on, np.mod(events, 12), 12)
    counts = np.zeros((len(events), 13))
    np.add.at(counts, (np.arange(len(events))[:, None], pcs), 1)
    return counts[:, :12]


def scale_fit(events) -> np.ndarray:
    """Share of onsets in the best-fitting major scale (any of the 12 keys; folk tunes are in
    many keys, so C-diatonic alone would measure the key): (N, T) -> (N,)."""
    counts = pitch_class_counts(events)  # (N, 12)
    scales = np.stack([np.roll(MAJOR_SCALE, k) for k in range(12)]).astype(float)  # (12, 12)
    best = (counts @ scales.T).max(-1)  # (N,)
    return _ratio(best, counts.sum(-1))


def pitch_class_entropy(events) -> np.ndarray:
    """Entropy in bits of the onsets' pitch-class histogram: (N, T) -> (N,)."""
    counts = pitch_class_counts(events)
    p = counts / np.maximum(counts.sum(-1, keepdims=True), 1)
    logs = np.log2(np.where(p > 0, p, 1.0))
    return -(p * logs).sum(-1)


def sounding(events) -> np.ndarray:
    """(N, T) bool: a note sounds at the step (an onset, or held since one without a note-off)."""
    events = np.asarray(events)
    t = events.shape[-1]
    marked = np.where(events != -2, np.arange(t), -1)  # onset or note-off
    last = np.maximum.accumulate(marked, axis=-1)  # last event at or before each step
    state = np.take_along_axis(events, np.maximum(last, 0), -1)
    return (last >= 0) & (state >= 0)


def rest_share(events) -> np.ndarray:
    """Share of steps where no note sounds: (N, T) -> (N,)."""
    return 1.0 - sounding(events).mean(-1)


def mean_note_length(events) -> np.ndarray:
    """Sounding steps per onset (0 without onsets): (N, T) -> (N,)."""
    events = np.asarray(events)
    return _ratio(sounding(events).sum(-1), onsets(events).sum(-1))


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


def degenerate(events) -> np.ndarray:
    """The 2-bar card's degenerate rule scaled by length: no onset, or >= 28 onsets per 32
    steps spanning >= 48 semitones: (N, T) -> (N,) bool."""
    events = np.asarray(events)
    count = onsets(events).sum(-1)
    threshold = DEGENERATE_ONSETS_PER_32 * events.shape[-1] / 32
    return (count == 0) | ((count >= threshold) & (pitch_range(events) >= DEGENERATE_RANGE))


def relative_differences(generated: dict, real: dict) -> dict[str, float]:
    """Per feature, (mean generated - mean real) / |mean real| (nan where the real mean is 0)."""
    out = {}
    for name, values in generated.items():
        ref = float(np.mean(real[name]))
        out[name] = (float(np.mean(values)) - ref) / abs(ref) if ref else float("nan")
    return out


# ---------------------------------------------------------------- interpolation (5.2)


def hamming(a, b) -> np.ndarray:
    """Differing steps: a, b (..., T) -> (...)."""
    return (np.asarray(a) != np.asarray(b)).sum(-1)


def choose_pairs(classes: np.ndarray, pairs: int, rng: np.random.Generator) -> np.ndarray:
    """Up to `pairs` disjoint index pairs of different windows: -> (P, 2)."""
    n = len(classes)
    order = rng.permutation(n)[: 2 * min(pairs, n // 2)].reshape(-1, 2)
    return order[hamming(classes[order[:, 0]], classes[order[:, 1]]) > 0]


def data_space_path(a, b, alphas, rng: np.random.Generator) -> np.ndarray:
    """The paper's naive baseline: a, b (T,) classes -> (K, T); point k takes B's class at
    round(alpha_k * d(A, B)) of the differing steps (a seeded random subset, growing with
    alpha) and A's class elsewhere."""
    a, b = np.asarray(a), np.asarray(b)
    order = rng.permutation(np.flatnonzero(a != b))
    path = np.repeat(a[None], len(alphas), axis=0)  # (K, T)
    for k, alpha in enumerate(alphas):
        take = order[: int(round(float(alpha) * len(order)))]
        path[k, take] = b[take]
    return path


def latent_paths(model, a, b, alphas_count: int) -> np.ndarray:
    """Slerp between the mu's of windows a, b (P, T) each, decoded by argmax -> (P, K, T)."""
    depth = model.output_depth
    _, mu_a, _ = model.encode_tensors(one_hot(a, depth))  # (P, Z)
    _, mu_b, _ = model.encode_tensors(one_hot(b, depth))
    codes = np.concatenate(
        [interpolation_path(x, y, alphas_count, "slerp") for x, y in zip(mu_a, mu_b, strict=True)]
    )  # (P * K, Z)
    decoded = model.decode_to_tensors(codes, temperature=None).argmax(-1)  # (P * K, T)
    return decoded.reshape(len(a), alphas_count, -1)


def path_curves(paths: np.ndarray, a: np.ndarray, b: np.ndarray, log_likelihood=None) -> dict:
    """paths (P, K, T) between windows a, b (P, T) -> mean over pairs, per alpha, of the
    Hamming distance to A normalised by d(A, B), and (with `log_likelihood`, a function of
    (M, T) classes -> (M,) nats) the language-model log-likelihood per step in nats."""
    p, k, t = paths.shape
    d_ab = np.maximum(hamming(a, b), 1)[:, None]  # (P, 1)
    out = {"hamming_to_a": (hamming(paths, a[:, None]) / d_ab).mean(0).tolist()}
    if log_likelihood is not None:
        nats = log_likelihood(paths.reshape(p * k, t)).reshape(p, k) / t  # (P, K)
        out["lm_nats_per_step"] = nats.mean(0).tolist()
    return out


# ---------------------------------------------------------------- attribute matrix (5.3)


def attribute_matrix(
    model, train_classes, eval_classes, max_windows: int = 20000, seed: int = 0
) -> dict:
    """Attribute vectors from training windows, each added (amount 1) to the codes of held-out
    windows: the % change of every attribute of the argmax decodings against the decodings of
    the unchanged codes (nan where that is 0). -> {"names", "base" (A,), "matrix" (A, A):
    rows = vector added, columns = attribute measured}."""
    vectors, _ = attribute_vectors(model, train_classes, max_windows=max_windows, seed=seed)
    names = list(ATTRIBUTES)
    mu = encode_classes(model, classes_of(eval_classes))  # (N, Z)

    def measured(codes: np.ndarray) -> np.ndarray:
        events = events_of(model.decode_to_tensors(codes, temperature=None))  # (N, T)
        return np.array([ATTRIBUTES[n](events).mean() for n in names])  # (A,)

    base = measured(mu)
    rows = []
    for name in names:
        after = measured(mu + vectors[name][None])
        with np.errstate(divide="ignore", invalid="ignore"):  # nan where the base is 0
            rows.append(np.where(base != 0, (after - base) / np.abs(base) * 100.0, np.nan))
    return {
        "names": names,
        "base": base.tolist(),
        "matrix": np.array(rows).tolist(),
        "windows": int(len(mu)),
    }
