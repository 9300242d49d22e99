"""Reconstruction of held-out windows, the paper's Table 1 (and Magenta's eval metrics).

Per stream and overall: teacher-forced accuracy (argmax of the logits with the ground truth fed
back, z = mu), sampled accuracy (free-running from z = mu, feeding back the model's own samples
at temperature 1.0, seeded), argmax accuracy (free-running, argmax), r_loss (summed
cross-entropy per window with z = mu, Magenta's losses/r_loss), kl (KL(q(z|x) || N(0, I)) in
nats per window) and elbo = -(r_loss + kl) (a one-sample bound on log p(x) in nats, z = mu).
Accuracies pool every valid step of every window (Magenta's metrics/accuracy; the overall value
of a multi-stream model is the mean of its streams, as Magenta's); r_loss, kl and elbo are means
over windows.
"""

from __future__ import annotations

import logging

import numpy as np

from musicvae.evaluation.windows import EvalWindows, stream_names
from musicvae.inference.trained_model import TrainedModel

log = logging.getLogger(__name__)

CHUNK = 1024  # windows per pass: bounded memory for 512-wide drum logits


def valid_mask(lengths, steps: int) -> np.ndarray:
    """(N,) lengths -> (N, T) bool, True at valid steps."""
    return np.arange(steps)[None, :] < np.asarray(lengths)[:, None]


def split_streams(array: np.ndarray, depths: tuple[int, ...]) -> list[np.ndarray]:
    """(..., D) -> one (..., d_k) view per stream."""
    bounds = np.cumsum((0,) + tuple(depths))
    return [array[..., lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]


def correct_counts(predicted, target, mask) -> tuple[int, int]:
    """predicted, target (N, T) class indices, mask (N, T) -> (correct valid steps, valid steps)."""
    mask = np.asarray(mask, bool)
    return int(((np.asarray(predicted) == np.asarray(target)) & mask).sum()), int(mask.sum())


def cross_entropy_sum(logits, target, mask) -> np.ndarray:
    """Softmax cross-entropy summed over valid steps: logits (N, T, D), target (N, T) class
    indices, mask (N, T) -> (N,) in nats (float64)."""
    logits = np.asarray(logits, np.float64)
    top = logits.max(-1, keepdims=True)
    log_z = np.log(np.exp(logits - top).sum(-1)) + top[..., 0]  # (N, T)
    picked = np.take_along_axis(logits, np.asarray(target)[..., None], -1)[..., 0]
    return np.where(mask, log_z - picked, 0.0).sum(-1)


def kl_nats(mu, sigma) -> np.ndarray:
    """KL(N(mu, sigma^2) || N(0, I)) summed over Z: (N, Z) each -> (N,) nats (float64)."""
    mu, sigma = np.asarray(mu, np.float64), np.asarray(sigma, np.float64)
    return 0.5 * (sigma**2 + mu**2 - 1.0 - 2.0 * np.log(sigma)).sum(-1)


def _chunk_seed(seed: int, start: int) -> int:
    return int(np.random.SeedSequence([int(seed), 7, start]).generate_state(1)[0])


def reconstruction(
    model: TrainedModel, windows: EvalWindows, seed: int = 0, chunk: int = CHUNK
) -> tuple[dict, np.ndarray]:
    """Table 1 on `windows` -> ({teacher_forced_accuracy, sampled_accuracy, argmax_accuracy,
    r_loss, kl, elbo, windows, streams: {name: {the three accuracies, r_loss}}} with the overall
    values at the top level, and every window's mu (N, Z) for the other sections)."""
    config = model.config
    names = stream_names(config)
    depths = model.model.depths
    counts = {k: np.zeros((len(names), 2), np.int64) for k in ("tf", "sampled", "argmax")}
    r_loss = [np.zeros(0) for _ in names]
    kl, mus = [], []
    for start in range(0, len(windows), chunk):
        rows = slice(start, min(start + chunk, len(windows)))
        inputs, outputs, lengths = windows.batch(config, rows)
        _, mu, sigma = model.encode_tensors(inputs, lengths)  # (n, Z) each
        mus.append(mu)
        kl.append(kl_nats(mu, sigma))
        logits = model.teacher_forced_logits(outputs, lengths, mu)  # (n, T, D)
        sampled = model.decode_to_tensors(mu, None, 1.0, _chunk_seed(seed, start))
        greedy = model.decode_to_tensors(mu, None, None)  # (n, T, D) one-hot
        mask = valid_mask(lengths, outputs.shape[1])  # (n, T)
        target = windows.tokens[rows].astype(np.int64)  # (n, T, S)
        parts = zip(split_streams(logits, depths), split_streams(sampled, depths),
                    split_streams(greedy, depths), strict=True)  # fmt: skip
        for k, (lg, sm, gr) in enumerate(parts):
            tg = target[..., k]  # (n, T)
            counts["tf"][k] += correct_counts(lg.argmax(-1), tg, mask)
            counts["sampled"][k] += correct_counts(sm.argmax(-1), tg, mask)
            counts["argmax"][k] += correct_counts(gr.argmax(-1), tg, mask)
            r_loss[k] = np.concatenate([r_loss[k], cross_entropy_sum(lg, tg, mask)])
    kl_all = np.concatenate(kl) if kl else np.zeros(0)
    r_total = np.sum(r_loss, axis=0) if len(windows) else np.zeros(0)
    acc = {k: c[:, 0] / np.maximum(c[:, 1], 1) for k, c in counts.items()}  # (S,) each
    streams = {
        name: {
            "teacher_forced_accuracy": float(acc["tf"][k]),
            "sampled_accuracy": float(acc["sampled"][k]),
            "argmax_accuracy": float(acc["argmax"][k]),
            "r_loss": float(r_loss[k].mean()) if len(windows) else float("nan"),
        }
        for k, name in enumerate(names)
    }
    out = {
        "windows": len(windows),
        "teacher_forced_accuracy": float(acc["tf"].mean()),
        "sampled_accuracy": float(acc["sampled"].mean()),
        "argmax_accuracy": float(acc["argmax"].mean()),
        "r_loss": float(r_total.mean()) if len(windows) else float("nan"),
        "kl": float(kl_all.mean()) if len(windows) else float("nan"),
        "elbo": float(-(r_total + kl_all).mean()) if len(windows) else float("nan"),
        "sampled_temperature": 1.0,
        "streams": streams,
    }
    mu_all = np.concatenate(mus) if mus else np.zeros((0, model.z_size), np.float32)
    return out, mu_all
