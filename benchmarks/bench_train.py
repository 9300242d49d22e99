"""Training-step speed: full steps (forward, backward, clipping, Adam) on random windows.

Usage: python benchmarks/bench_train.py [--device cpu|cuda] [--steps N] [--bf16]
Prints sequences/s and s/step per (config, batch). Reference (Magenta 2.1.4, this machine's
2 cores): cat-mel_2bar_small 1.9 s/step at batch 64, 7.4 s at 512; hierdec-mel_16bar ~9 min
and 15 GB per step at batch 8.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch

from musicvae.builders import build_model
from musicvae.configs import get_config
from musicvae.data.converters import build_converter
from musicvae.train import schedules
from musicvae.train.loop import step_schedule

MAGENTA_CPU_S_PER_STEP = {
    ("cat-mel_2bar_small", 64): 1.9,
    ("cat-mel_2bar_small", 512): 7.4,
    ("hierdec-mel_16bar", 8): 540.0,
}
CPU_CASES = [("cat-mel_2bar_small", 64), ("cat-mel_2bar_small", 512), ("hierdec-mel_16bar", 8)]
GPU_CASES = CPU_CASES + [("hierdec-mel_16bar", 512), ("hierdec-trio_16bar", 256)]


def random_batch(config, batch: int, device):
    rng = np.random.default_rng(0)
    conv = build_converter(config.data)
    t = config.hparams.max_seq_len
    depths = conv.stream_depths
    out = np.concatenate(
        [np.eye(d, dtype=np.float32)[rng.integers(0, d, (batch, t))] for d in depths], -1
    )
    inp = (
        out
        if conv.input_depth == conv.output_depth
        else np.eye(conv.input_depth, dtype=np.float32)[
            rng.integers(0, conv.input_depth, (batch, t))
        ]
    )
    return (
        torch.from_numpy(inp).to(device),
        torch.from_numpy(out).to(device),
        torch.full((batch,), t, dtype=torch.long, device=device),
    )


def bench(name: str, batch: int, device: torch.device, steps: int, bf16: bool, step0: int):
    config = get_config(name)
    model = build_model(config).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=1e-3)
    inputs, outputs, lengths = random_batch(config, batch, device)
    hp = config.hparams
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()

    def one(step):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            out = model(inputs, outputs, lengths, **step_schedule(hp, step, training=True))
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        torch.nn.utils.clip_grad_norm_(params, hp.grad_clip)
        for g in opt.param_groups:
            g["lr"] = schedules.learning_rate(step, 1e-3, 0.9999, 1e-5)
        opt.step()

    one(step0)  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for k in range(steps):
        one(step0 + k)
    if device.type == "cuda":
        torch.cuda.synchronize()
    per_step = (time.perf_counter() - start) / steps
    p = schedules.sampling_probability(step0, hp.sampling_schedule, hp.sampling_rate)
    peak = (
        torch.cuda.max_memory_allocated() / 2**30
        if device.type == "cuda"
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    )
    return per_step, batch / per_step, p, peak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument(
        "--step", type=int, default=0, help="global step (sets the scheduled-sampling probability)"
    )
    args = parser.parse_args()
    device = torch.device(args.device)
    cases = GPU_CASES if device.type == "cuda" else CPU_CASES
    print(
        f"device {device} ({torch.cuda.get_device_name() if device.type == 'cuda' else ''}"
        f"{torch.get_num_threads()} threads), torch {torch.__version__}, bf16 {args.bf16}"
    )
    mem = "peak GPU GiB" if device.type == "cuda" else "max RSS GiB"
    print(
        f"{'config':22s} {'batch':>5s} {'sched p':>7s} {'s/step':>8s} {'seq/s':>8s} "
        f"{mem:>12s} {'vs Magenta CPU':>14s}"
    )
    for name, batch in cases:
        steps = 1 if (name, batch) == ("hierdec-mel_16bar", 512) and args.steps > 2 else args.steps
        per_step, rate, p, peak = bench(name, batch, device, steps, args.bf16, args.step)
        ref = MAGENTA_CPU_S_PER_STEP.get((name, batch))
        speedup = f"{ref / per_step:.0f}x" if ref else "-"
        print(
            f"{name:22s} {batch:5d} {p:7.4f} {per_step:8.3f} {rate:8.1f} {peak:12.2f} "
            f"{speedup:>14s}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
