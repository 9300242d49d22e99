"""Generation latency of TrainedModel on CPU, the operations of the Magenta reference's
bench_generate.py (model loaded, batch 64, one 2-bar window each).

Usage: python benchmarks/bench_generate.py [--model MODEL_DIR] [--tensors NPZ] [--n 64]
    [--precision fp32,fp32-torch,bf16] [--threads 1] [--repeats 7] [--json PATH]

sample (temperature 1, NoteSequences out), encode_tensors, encode (NoteSequences in),
decode_to_tensors and decode (temperature 1, Magenta's default), interpolate (n steps,
temperature 1), plus `sample 1` (one call, after the other operations and precisions: caches
and threads cold) and `sample 1, in a row` (10 calls back to back, time per call: the latency
of steady use, e.g. generating one sample after another). `fp32-torch` is fp32 with the
decode loop kept on the torch path (native_decode.exact_decoding), to show what the C loop
gives. Precisions are interleaved per repetition; medians of
wall and process CPU time are reported (CPU time is the steadier measure on a loaded machine).
Defaults: the bundled folk model (cat-mel_2bar_small sizes) and its two tunes' windows.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time

import numpy as np
import torch

from musicvae.data.converters import build_converter
from musicvae.inference.bundled import bundled_model_dir, bundled_tunes
from musicvae.inference.trained_model import TrainedModel
from musicvae.models.cpu_features import describe
from musicvae.models.native_decode import exact_decoding


def load_windows(model: TrainedModel, npz: str | None):
    """inputs (N, T, D_in), outputs (N, T, D), lengths (N,) from an npz or the bundled tunes."""
    if npz:
        d = np.load(npz)
        return d["inputs"].astype(np.float32), d["outputs"].astype(np.float32), d["lengths"]
    windows = [model.windows(t) for t in bundled_tunes()]
    return (
        np.concatenate([w.inputs for w in windows]).astype(np.float32),
        np.concatenate([w.outputs for w in windows]).astype(np.float32),
        np.concatenate([w.lengths for w in windows]),
    )


ROW_OF_ONES = "sample 1, in a row"
CALLS = {ROW_OF_ONES: 10}  # operations that time several calls: reported per call


def operations(model: TrainedModel, windows, n: int) -> dict:
    """name -> a no-argument call, as in the reference's bench_generate.py."""
    inputs, outputs, lengths = windows
    idx = np.arange(n) % len(inputs)
    seqs = []
    for s in build_converter(model.config.data).from_tensors(outputs[idx]):
        try:
            model.encode([s])
            seqs.append(s)
        except ValueError:  # yields no or several windows
            pass
    seqs = (seqs * (n // max(len(seqs), 1) + 1))[:n]
    z = np.random.RandomState(0).randn(n, model.z_size).astype(np.float32)
    length = model.max_seq_len
    return {
        "sample 1": lambda: model.sample(1, length, temperature=1.0, seed=0),
        ROW_OF_ONES: lambda: [
            model.sample(1, length, temperature=1.0, seed=k) for k in range(CALLS[ROW_OF_ONES])
        ],
        "sample": lambda: model.sample(n, length, temperature=1.0, seed=0),
        "encode_tensors": lambda: model.encode_tensors(inputs[idx], lengths[idx]),
        "encode": lambda: model.encode(seqs),
        "decode_to_tensors": lambda: model.decode_to_tensors(z, length, 1.0, seed=0),
        "decode": lambda: model.decode(z, length, temperature=1.0, seed=0),
        "interpolate": lambda: model.interpolate(seqs[0], seqs[1], n, temperature=1.0, seed=0),
    }


def context(precision: str):
    """The block a precision's operations run in: fp32-torch keeps decoding on the torch loop."""
    return exact_decoding() if precision == "fp32-torch" else contextlib.nullcontext()


def measure(models: dict[str, TrainedModel], windows, n: int, repeats: int) -> dict:
    """{operation: {precision: {"wall_s", "cpu_s"}}} medians, precisions interleaved."""
    ops = {}
    for p, m in models.items():
        ops[p] = {
            name: (lambda fn=fn, p=p: _in_context(p, fn))
            for name, fn in operations(m, windows, n).items()
        }
    result = {}
    for name in next(iter(ops.values())):
        times = {p: ([], []) for p in models}
        for p in models:
            ops[p][name]()  # warm-up
        for k in range(repeats):
            for p in list(models) if k % 2 == 0 else list(models)[::-1]:
                wall, cpu = time.perf_counter(), time.process_time()
                ops[p][name]()
                times[p][0].append(time.perf_counter() - wall)
                times[p][1].append(time.process_time() - cpu)
        calls = CALLS.get(name, 1)
        result[name] = {
            p: {"wall_s": statistics.median(w) / calls, "cpu_s": statistics.median(c) / calls}
            for p, (w, c) in times.items()
        }
    return result


def _in_context(precision: str, fn):
    with context(precision):
        return fn()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="model folder (default: the bundled folk model)")
    parser.add_argument("--tensors", help="npz with inputs, outputs, lengths (default: bundled)")
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--precision", default="fp32,fp32-torch,bf16")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (pinned)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    path = args.model or bundled_model_dir()
    precisions = [p.strip() for p in args.precision.split(",") if p.strip()]
    start = time.perf_counter()
    models = {p: TrainedModel.load(path, precision=p.split("-")[0]) for p in precisions}
    load_s = (time.perf_counter() - start) / len(models)
    windows = load_windows(models[precisions[0]], args.tensors)
    result = measure(models, windows, args.n, args.repeats)
    print(
        f"model {path}, n {args.n}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{describe()}; load {load_s * 1000:.0f} ms"
    )
    print(f"{'operation (ms)':18s} " + " ".join(f"{p + ' wall/cpu':>16s}" for p in precisions))
    for name, row in result.items():
        cols = " ".join(
            f"{row[p]['wall_s'] * 1e3:8.1f}/{row[p]['cpu_s'] * 1e3:<7.1f}" for p in precisions
        )
        print(f"{name:18s} {cols}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"n": args.n, "threads": args.threads, "results": result}, f)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
