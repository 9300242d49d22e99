"""Seconds per training step of the study configs (benchmarks/bench_train.py's method: full
steps with forward, backward, clipping and Adam on random windows), and what a time budget
buys."""

from __future__ import annotations

import time

import numpy as np
import torch

from musicvae.builders import build_model
from musicvae.configs import Config
from musicvae.data.converters import build_converter
from musicvae.train import schedules
from musicvae.train.loop import adam, step_schedule


def random_windows(config: Config, batch: int, seed: int = 0):
    """Random one-hot melody windows: inputs = outputs (B, T, D), lengths (B,) = T."""
    depth = build_converter(config.data).output_depth
    steps = config.hparams.max_seq_len
    classes = np.random.default_rng(seed).integers(0, depth, (batch, steps))  # (B, T)
    outputs = torch.from_numpy(np.eye(depth, dtype=np.float32)[classes])  # (B, T, D)
    return outputs, outputs, torch.full((batch,), steps, dtype=torch.long)


def seconds_per_step(config: Config, batch: int, steps: int = 3) -> float:
    """Mean wall time of `steps` training steps after one warm-up step, on the current
    torch thread count."""
    torch.manual_seed(0)
    model = build_model(config)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = adam(params, config.hparams.learning_rate)
    inputs, outputs, lengths = random_windows(config, batch)
    hp = config.hparams

    def one(step: int) -> None:
        out = model(inputs, outputs, lengths, **step_schedule(hp, step, training=True))
        optimizer.zero_grad(set_to_none=True)
        out["loss"].backward()
        torch.nn.utils.clip_grad_norm_(params, hp.grad_clip)
        lr = schedules.learning_rate(step, hp.learning_rate, hp.decay_rate, hp.min_learning_rate)
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.step()

    one(0)
    start = time.perf_counter()
    for k in range(steps):
        one(k + 1)
    return (time.perf_counter() - start) / steps


def steps_in(hours: float, seconds_per_step: float, eval_overhead: float = 0.1) -> int:
    """Training steps that fit in `hours`, leaving `eval_overhead` of the time to the loop's
    periodic evaluation and checkpoints."""
    return int(hours * 3600 * (1.0 - eval_overhead) / seconds_per_step)
