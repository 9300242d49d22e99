"""The study's evaluation stage: the held-out reference and each decoder's measures.

Per decoder (eval/<config>.json): Table 1's teacher-forced and sampled accuracy, prior samples
at each temperature (degenerate share, realism features against held-out data, the realism
classifier's accuracy, language-model log-likelihood), latent interpolation (Hamming distance
and log-likelihood along alpha) and the attribute matrix. The reference (eval/data.json):
held-out features and log-likelihood, and the data-space interpolation baseline on the same
pairs. A result is reused while its model step and the language model's step are unchanged.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from musicvae.evaluation import interpolation
from musicvae.evaluation.attributes_matrix import attribute_matrix as _attribute_matrix
from musicvae.evaluation.features import degenerate_melody
from musicvae.evaluation.reconstruction import reconstruction
from musicvae.evaluation.windows import EvalWindows
from musicvae.inference.attributes import (
    attribute_vectors,
    classes_of,
    encode_classes,
    events_from_classes,
)
from musicvae.study import measures
from musicvae.study.realism_classifier import realism_accuracy

log = logging.getLogger(__name__)

ALPHAS = np.linspace(0.0, 1.0, 11)
TEMPERATURES = (0.5, 1.0)  # prior samples: Magenta's demo temperature and the model's own


def _mean_features(events: np.ndarray) -> dict[str, float]:
    return {k: float(v.mean()) for k, v in measures.realism_features(events).items()}


def _pairs(held: np.ndarray, count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng([seed, 11])
    return interpolation.choose_pairs(held[..., None], count, rng)  # (P, 2)


def _data_space_path(a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """a, b (T,) classes -> (K, T): evaluation's data-space path on one stream."""
    return interpolation.data_space_path(a[:, None], b[:, None], ALPHAS, rng)[..., 0]


def reconstruction_accuracy(model, classes, seed: int = 0, chunk: int = 256) -> dict:
    """Table 1 from z = mu (evaluation.reconstruction) on (N, T) melody classes ->
    {teacher_forced, sampled (temperature 1.0), argmax, drop, windows}."""
    tokens = classes_of(classes)[..., None].astype(np.int16)  # (N, T, 1)
    lengths = np.full(len(tokens), tokens.shape[1], np.int64)
    result, _ = reconstruction(model, EvalWindows(tokens, lengths, "held-out"), seed, chunk)
    out = {k: result[f"{k}_accuracy"] for k in ("teacher_forced", "sampled", "argmax")}
    out["drop"] = out["teacher_forced"] - out["sampled"]
    out["windows"] = result["windows"]
    return out


def attribute_matrix(
    model, train_classes, eval_classes, max_windows: int = 20000, seed: int = 0
) -> dict:
    """Attribute vectors from training windows, each added (amount 1) to the codes of held-out
    windows (evaluation.attributes_matrix) -> {"names", "base" (A,), "matrix" (A, A) in % change,
    rows = vector added, columns = attribute measured, nan where the unchanged value is 0}."""
    vectors, _ = attribute_vectors(model, train_classes, max_windows=max_windows, seed=seed)
    mu = encode_classes(model, classes_of(eval_classes))  # (N, Z)
    result = _attribute_matrix(model, mu, vectors)
    names = result["attributes"]
    base = np.array([result["base"][n] for n in names])  # (A,)
    with np.errstate(invalid="ignore"):  # 0 * inf where the base is 0: masked below
        matrix = np.where(base[None] != 0, np.array(result["matrix"]) * 100.0, np.nan)
    return {
        "names": names,
        "base": base.tolist(),
        "matrix": matrix.tolist(),
        "windows": result["windows"],
    }


def reference(held: np.ndarray, lm, lm_step: int, pairs: int, seed: int) -> dict:
    """Held-out data as the yardstick, and data-space interpolation between held-out pairs."""
    from musicvae.study.lm import log_likelihood

    events = events_from_classes(held)
    chosen = _pairs(held, pairs, seed)
    a, b = held[chosen[:, 0]], held[chosen[:, 1]]
    rng = np.random.default_rng([seed, 12])
    paths = np.stack([_data_space_path(x, y, rng) for x, y in zip(a, b, strict=True)])
    ll = log_likelihood(lm, held)
    return {
        "lm_step": lm_step,
        "windows": int(len(held)),
        "degenerate_share": float(degenerate_melody(events).mean()),
        "features": _mean_features(events),
        "lm_nats_per_step": float(ll.mean() / held.shape[1]),
        "interpolation_pairs": int(len(chosen)),
        "data_space": measures.path_curves(paths, a, b, lambda c: log_likelihood(lm, c)),
    }


def prior(model, held: np.ndarray, lm, n: int, temperature: float, seed: int) -> dict:
    """Prior samples z ~ N(0, I) decoded at `temperature`, against held-out windows."""
    from musicvae.study.lm import log_likelihood

    z = np.random.default_rng([seed, 13]).standard_normal((n, model.z_size)).astype(np.float32)
    classes = model.decode_to_tensors(z, temperature=temperature, seed=seed).argmax(-1)  # (n, T)
    events = events_from_classes(classes)
    real = events_from_classes(held)
    generated = measures.realism_features(events)
    return {
        "samples": int(n),
        "degenerate_share": float(degenerate_melody(events).mean()),
        "features": {k: float(v.mean()) for k, v in generated.items()},
        "relative_difference": measures.relative_differences(
            generated, measures.realism_features(real)
        ),
        "classifier": realism_accuracy(real, events, seed=seed),
        "lm_nats_per_step": float(log_likelihood(lm, classes).mean() / classes.shape[1]),
    }, classes


def decoder_measures(
    model, held: np.ndarray, train: np.ndarray, lm, options, step: int, lm_step: int
) -> tuple[dict, dict[str, np.ndarray]]:
    """Everything the report needs of one trained decoder -> (result, prior classes per
    temperature)."""
    from musicvae.study.lm import log_likelihood

    seed = options.seed
    log.info("%s: reconstruction of %d held-out windows", model.config.name, len(held))
    result = {
        "config": model.config.name,
        "step": step,
        "lm_step": lm_step,
        "reconstruction": reconstruction_accuracy(model, held, seed=seed),
        "prior": {},
    }
    samples = {}
    for t in TEMPERATURES:
        log.info(
            "%s: %d prior samples at temperature %s", model.config.name, options.prior_samples, t
        )
        result["prior"][str(t)], samples[str(t)] = prior(
            model, held, lm, options.prior_samples, t, seed
        )
    chosen = _pairs(held, options.pairs, seed)
    a, b = held[chosen[:, 0]], held[chosen[:, 1]]
    log.info("%s: interpolation between %d pairs", model.config.name, len(chosen))
    paths = measures.latent_paths(model, a, b, len(ALPHAS))
    result["latent"] = measures.path_curves(paths, a, b, lambda c: log_likelihood(lm, c))
    log.info("%s: attribute matrix", model.config.name)
    result["attributes"] = attribute_matrix(
        model, train, held, max_windows=options.attribute_windows, seed=seed
    )
    return result, samples


def write_samples(model, samples: dict[str, np.ndarray], folder: Path, count: int = 4) -> None:
    """A few prior samples per temperature as MIDI files (to listen to)."""
    from musicvae.data.converters import build_converter
    from musicvae.music.midi_io import write_midi

    folder.mkdir(parents=True, exist_ok=True)
    converter = build_converter(model.config.data)
    for t, classes in samples.items():
        one_hot = measures.one_hot(classes[:count], model.output_depth)
        for k, seq in enumerate(converter.from_tensors(one_hot)):
            write_midi(seq, folder / f"prior_t{t}_{k}.mid")
