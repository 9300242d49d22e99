"""Prior realism: samples decoded from z ~ N(0, I) against held-out windows, feature by feature
(Yang & Lerch 2020), plus the degenerate-sample rate and the recommended sampling temperature.

Overlap of two feature distributions = the area under the minimum of their two histograms on
shared bins (1.0 = identical, 0.0 = disjoint): unit bins for integer features spanning at most
OVERLAP_INTEGER_SPAN values, else OVERLAP_BINS equal bins over the pooled range.
"""

from __future__ import annotations

import numpy as np

from musicvae.configs import Config
from musicvae.evaluation import features as F
from musicvae.evaluation.windows import stream_names
from musicvae.inference.attributes import events_from_classes
from musicvae.inference.trained_model import TrainedModel

TEMPERATURES = (0.0, 0.5, 1.0)  # the report's columns (0 = argmax)
GRID = (0.0, 0.2, 0.4, 0.5, 0.6, 0.8, 1.0)  # for the recommended temperature
OVERLAP_BINS = 32
OVERLAP_INTEGER_SPAN = 128
MAX_DEGENERATE = 0.05  # the recommended temperature's bar (issue 10)
MAX_RELATIVE_DIFFERENCE = 0.20


def overlap(a, b) -> float:
    """Area under the minimum of the two histograms of a (N,) and b (M,) on shared bins."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if not len(a) or not len(b):
        return float("nan")
    pooled = np.concatenate([a, b])
    lo, hi = pooled.min(), pooled.max()
    if lo == hi:
        return 1.0
    if np.all(pooled == np.round(pooled)) and hi - lo <= OVERLAP_INTEGER_SPAN:
        edges = np.arange(lo - 0.5, hi + 1.0)
    else:
        edges = np.linspace(lo, hi, OVERLAP_BINS + 1)
    pa = np.histogram(a, edges)[0] / len(a)
    pb = np.histogram(b, edges)[0] / len(b)
    return float(np.minimum(pa, pb).sum())


def temperature_key(t: float | None) -> str:
    """0.5 -> "0.5", 0 / None (argmax) -> "0"."""
    return f"{float(t or 0.0):g}"


def window_features(config: Config, tokens) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """tokens (N, T, S) -> ({feature: (N,)}, degenerate (N,) bool). A multi-stream (trio)
    window prefixes each feature by its stream and is degenerate when any stream is."""
    tokens = np.asarray(tokens, np.int64)
    names = stream_names(config)
    out: dict[str, np.ndarray] = {}
    degenerate = np.zeros(len(tokens), bool)
    for k, stream in enumerate(names):
        classes = tokens[..., k]  # (N, T)
        if stream == "drums":
            feats, bad = F.drum_features(classes), F.degenerate_drums(classes)
        else:
            events = events_from_classes(classes, config.data.min_pitch)
            feats, bad = F.melody_features(events), F.degenerate_melody(events)
        prefix = f"{stream}/" if len(names) > 1 else ""
        out.update({prefix + name: v for name, v in feats.items()})
        degenerate |= bad
    return out, degenerate


def criterion_features(config: Config) -> tuple[str, ...]:
    """The features whose means must lie within 20% of the data's for a temperature to pass."""
    if config.data.kind == "melody":
        return ("note_count", "pitch_range")
    if config.data.kind == "drums":
        return ("density",)
    return ("melody/note_count", "melody/pitch_range", "drums/density")


def prior_tokens(
    model: TrainedModel, codes: np.ndarray, temperature: float | None, seed: int
) -> np.ndarray:
    """codes (N, Z) decoded free-running -> tokens (N, T, S) (argmax of each stream)."""
    samples = model.decode_to_tensors(codes, None, temperature or None, seed)  # (N, T, D)
    bounds = np.cumsum((0,) + tuple(model.model.depths))
    return np.stack(
        [samples[..., lo:hi].argmax(-1) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)],
        axis=-1,
    ).astype(np.int16)


def compare(config: Config, data_feats: dict, tokens: np.ndarray) -> dict:
    """Samples' tokens against the data's features -> degenerate rate, feature means, overlaps
    and the relative difference of the criterion features' means."""
    feats, degenerate = window_features(config, tokens)
    means = {k: float(v.mean()) for k, v in feats.items()}
    overlaps = {k: overlap(v, data_feats[k]) for k, v in feats.items()}
    relative = {}
    for k in criterion_features(config):
        ref = float(data_feats[k].mean())
        relative[k] = (means[k] - ref) / ref if ref else float("inf")
    return {
        "samples": len(tokens),
        "degenerate_rate": float(degenerate.mean()) if len(tokens) else float("nan"),
        "features": means,
        "overlap": overlaps,
        "mean_overlap": float(np.mean(list(overlaps.values()))),
        "relative_difference": relative,
    }


def passes(entry: dict) -> bool:
    """Degenerate rate <= 5% and every criterion feature's mean within 20% of the data's."""
    return entry["degenerate_rate"] <= MAX_DEGENERATE and all(
        abs(v) <= MAX_RELATIVE_DIFFERENCE for v in entry["relative_difference"].values()
    )


def recommend(by_temperature: dict[str, dict]) -> dict:
    """The highest temperature that passes; else the one with the lowest degenerate rate plus
    worst relative difference. -> {value, passes, rule}."""
    passing = [float(t) for t, e in by_temperature.items() if passes(e)]
    rule = (
        f"highest temperature of {sorted(float(t) for t in by_temperature)} whose prior samples "
        f"have a degenerate rate <= {MAX_DEGENERATE:.0%} and mean "
        f"{', '.join(next(iter(by_temperature.values()))['relative_difference'])} within "
        f"{MAX_RELATIVE_DIFFERENCE:.0%} of the held-out data's; if none passes, the one with the "
        "lowest degenerate rate + largest relative difference"
    )
    if passing:
        return {"value": max(passing), "passes": True, "rule": rule}

    def score(t: str) -> float:
        e = by_temperature[t]
        return e["degenerate_rate"] + max(abs(v) for v in e["relative_difference"].values())

    best = min(by_temperature, key=score)
    return {"value": float(best), "passes": False, "rule": rule}


def realism(
    model: TrainedModel,
    data_tokens: np.ndarray,
    samples: int = 1000,
    temperatures=GRID,
    seed: int = 0,
) -> tuple[dict, dict[str, np.ndarray]]:
    """`samples` codes z ~ N(0, I) (the same codes at every temperature) decoded at each
    temperature and compared with the data windows -> (metrics, {temperature: tokens})."""
    config = model.config
    data_feats, data_degenerate = window_features(config, data_tokens)
    codes = np.random.default_rng([seed, 1]).standard_normal((samples, model.z_size))
    codes = codes.astype(np.float32)  # (samples, Z)
    by_t, tokens = {}, {}
    for t in temperatures:
        key = temperature_key(t)
        tokens[key] = prior_tokens(model, codes, t, int(seed) + 2)
        by_t[key] = compare(config, data_feats, tokens[key])
    metrics = {
        "samples": int(samples),
        "data": {
            "windows": len(data_tokens),
            "degenerate_rate": float(data_degenerate.mean()),
            "features": {k: float(v.mean()) for k, v in data_feats.items()},
        },
        "criteria": {
            "max_degenerate_rate": MAX_DEGENERATE,
            "max_relative_difference": MAX_RELATIVE_DIFFERENCE,
            "features": list(criterion_features(config)),
        },
        "temperatures": by_t,
        "recommended_temperature": recommend(by_t),
    }
    return metrics, tokens
