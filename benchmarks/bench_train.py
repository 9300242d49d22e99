"""Training-step speed: full steps (forward, backward, clipping, Adam) on random windows.

Usage: python benchmarks/bench_train.py [--case NAME ...] [--precision fp32,bf16] [--threads 1]
    [--steps 3] [--step 0] [--device cpu|cuda] [--json PATH]

Precisions are measured interleaved (fp32 step, bf16 step, fp32 step, ...) on one model and one
batch, and the median is reported, so that a machine shared with other jobs loads both alike.
fp32 is the exact path (nn.LSTM); bf16 is CPU (or CUDA) bf16 autocast, which our LSTMs turn
into bf16 matrix products with fp32 state and fp32 master weights. Threads are pinned
(`--threads`, default 1) for a core-for-core comparison with Magenta (compare_magenta.py).
Reported: median wall s/step and median process CPU s/step (on a loaded machine the CPU time
is the steadier measure: it leaves out time spent waiting for a core). Memory: the process's
max RSS after the case (CPU) or peak allocated (CUDA).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time

import numpy as np
import torch

from musicvae.builders import build_model
from musicvae.configs import Config, get_config
from musicvae.data.converters import build_converter
from musicvae.models.cpu_features import describe
from musicvae.train import schedules
from musicvae.train.loop import adam, step_schedule

# name -> (config, hparam overrides, batch)
CASES = {
    "cat-mel_2bar_small/64": ("cat-mel_2bar_small", {}, 64),
    "cat-mel_2bar_small/512": ("cat-mel_2bar_small", {}, 512),
    "hierdec-mel_16bar/8": ("hierdec-mel_16bar", {}, 8),
    # The reduced 16-bar model of the 16-bar study: encoder [512], conductor and core decoder
    # [256, 256] (this code shares the conductor's sizes with the core decoder), z 256.
    "hierdec-mel_16bar-reduced/8": (
        "hierdec-mel_16bar",
        {"enc_rnn_size": (512,), "dec_rnn_size": (256, 256), "z_size": 256},
        8,
    ),
    "hierdec-mel_16bar-reduced/64": (
        "hierdec-mel_16bar",
        {"enc_rnn_size": (512,), "dec_rnn_size": (256, 256), "z_size": 256},
        64,
    ),
    "hierdec-mel_16bar/512": ("hierdec-mel_16bar", {}, 512),  # GPU
    "hierdec-trio_16bar/256": ("hierdec-trio_16bar", {}, 256),  # GPU
}
CPU_DEFAULT = ["cat-mel_2bar_small/64", "cat-mel_2bar_small/512", "hierdec-mel_16bar-reduced/8"]


def case_config(name: str) -> tuple[Config, int]:
    """A case name -> (config with its overrides, batch size)."""
    config_name, overrides, batch = CASES[name]
    return Config.from_name(config_name, **overrides) if overrides else get_config(
        config_name
    ), batch


def random_batch(config: Config, batch: int, device):
    """Random one-hot windows of full length: inputs, outputs (B, T, D), lengths (B,)."""
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


def bench_case(
    name: str, device: torch.device, steps: int, precisions: list[str], step0: int
) -> dict:
    """Median s/step per precision, interleaved; one model, one batch, one optimizer."""
    config, batch = case_config(name)
    torch.manual_seed(0)
    model = build_model(config).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = adam(params, 1e-3)  # as musicvae train makes it
    inputs, outputs, lengths = random_batch(config, batch, device)
    hp = config.hparams
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()

    def one(step: int, precision: str) -> tuple[float, float]:
        start, cpu = time.perf_counter(), time.process_time()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            out = model(inputs, outputs, lengths, **step_schedule(hp, step, training=True))
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        torch.nn.utils.clip_grad_norm_(params, hp.grad_clip)
        for g in opt.param_groups:
            g["lr"] = schedules.learning_rate(step, 1e-3, 0.9999, 1e-5)
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start, time.process_time() - cpu

    times: dict[str, list[tuple[float, float]]] = {p: [] for p in precisions}
    for p in precisions:
        one(step0, p)  # warm-up
    for k in range(steps):
        for p in precisions if k % 2 == 0 else precisions[::-1]:
            times[p].append(one(step0 + k, p))
    peak = (
        torch.cuda.max_memory_allocated() / 2**30
        if device.type == "cuda"
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    )
    return {
        "case": name,
        "batch": batch,
        "sampling_probability": schedules.sampling_probability(
            step0, hp.sampling_schedule, hp.sampling_rate
        ),
        "s_per_step": {p: statistics.median(w for w, _ in t) for p, t in times.items()},
        "cpu_s_per_step": {p: statistics.median(c for _, c in t) for p, t in times.items()},
        "all_wall_cpu_s": times,
        "peak_gib": peak,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--case", action="append", choices=sorted(CASES), help="repeatable")
    parser.add_argument("--precision", default="fp32,bf16", help="comma-separated: fp32, bf16")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (pinned)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per precision")
    parser.add_argument(
        "--step", type=int, default=0, help="global step (sets the scheduled-sampling probability)"
    )
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    precisions = [p.strip() for p in args.precision.split(",") if p.strip()]
    cases = args.case or CPU_DEFAULT
    print(
        f"device {device}, {torch.get_num_threads()} torch threads, torch {torch.__version__}, "
        f"{describe()}"
    )
    print(
        f"{'case':30s} {'sched p':>7s} " + " ".join(f"{p + ' wall/cpu s':>17s}" for p in precisions)
    )
    results = []
    for name in cases:
        r = bench_case(name, device, args.steps, precisions, args.step)
        results.append(r)
        cols = " ".join(
            f"{r['s_per_step'][p]:8.3f}/{r['cpu_s_per_step'][p]:.3f}" for p in precisions
        )
        print(f"{name:30s} {r['sampling_probability']:7.4f} {cols}  peak {r['peak_gib']:.2f} GiB")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": args.threads, "cpu": describe(), "results": results}, f)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
