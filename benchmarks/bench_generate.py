"""Generation latency of TrainedModel on CPU (cat-mel_2bar_small-sized model, model loaded).

Usage: python benchmarks/bench_generate.py [--model MODEL_DIR] [--repeats 5]
Reference, Magenta 2.1.4 on this machine (TF graph mode, model loaded, batch 64, 2 bars):
sample 0.115 s, encode 0.207 s, decode 0.097 s, interpolate (64 steps) 0.227 s.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from musicvae.inference.bundled import bundled_model_dir, bundled_tunes
from musicvae.inference.trained_model import TrainedModel

MAGENTA_S = {
    "sample 64": 0.115,
    "encode 64": 0.207,
    "decode 64": 0.097,
    "interpolate 64 steps": 0.227,
}


def best_of(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    path = args.model or bundled_model_dir()
    start = time.perf_counter()
    model = TrainedModel.load(path)
    load_s = time.perf_counter() - start
    a = model.window_sequences(bundled_tunes()[0])[0]
    b = model.window_sequences(bundled_tunes()[1])[0]
    inputs, outputs, lengths = (x[:64] for x in _windows(model, 64))
    z = np.random.default_rng(0).standard_normal((64, model.z_size)).astype(np.float32)
    rows = {
        "sample 1": lambda: model.sample(1, temperature=0.5, seed=0),
        "sample 64": lambda: model.sample(64, temperature=0.5, seed=0),
        "encode 64": lambda: model.encode_tensors(inputs, lengths),
        "decode 64": lambda: model.decode_to_tensors(z, temperature=0.5, seed=0),
        "interpolate 64 steps": lambda: model.interpolate(a, b, 64),
    }
    print(
        f"model {path} ({model.config.name}), torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; load {load_s * 1000:.0f} ms"
    )
    print(f"{'operation':22s} {'ms':>8s} {'Magenta ms':>10s} {'speed-up':>8s}")
    for name, fn in rows.items():
        t = best_of(fn, args.repeats)
        ref = MAGENTA_S.get(name)
        ref_ms = f"{ref * 1000:.0f}" if ref else "-"
        speed = f"{ref / t:.1f}x" if ref else "-"
        print(f"{name:22s} {t * 1000:8.1f} {ref_ms:>10s} {speed:>8s}")
    return 0


def _windows(model: TrainedModel, n: int):
    from musicvae.inference.bundled import bundled_tunes as tunes

    windows = [model.windows(t) for t in tunes()]
    inputs = np.concatenate([w.inputs for w in windows]).astype(np.float32)
    outputs = np.concatenate([w.outputs for w in windows]).astype(np.float32)
    lengths = np.concatenate([w.lengths for w in windows])
    reps = int(np.ceil(n / len(inputs)))
    return (np.tile(inputs, (reps, 1, 1)), np.tile(outputs, (reps, 1, 1)), np.tile(lengths, reps))


if __name__ == "__main__":
    raise SystemExit(main())
