"""Wall time of `musicvae evaluate` (every section, plots included) on CPU.

Usage: python benchmarks/bench_evaluate.py --data datasets/folk-mel2 [--model MODEL_DIR]
           [--split eval] [--samples 1000] [--threads 2] [--max-windows N]
The issue's bar: 5,000 held-out 2-bar windows in under a minute on 2 CPU cores. Prints the
time of each section (metrics.json's elapsed_s) and the total, then the short table.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from musicvae.evaluation import evaluate
from musicvae.evaluation.report import summary_lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="a prepared dataset or MIDI folder")
    parser.add_argument("--model", default=None, help="default: the bundled model")
    parser.add_argument("--split", default="eval")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-windows", type=int)
    parser.add_argument("--output", help="default: a temporary folder")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = evaluate(
            args.model,
            args.data,
            args.output or tmp,
            split=args.split,
            samples=args.samples,
            max_windows=args.max_windows,
        )
        wall = time.perf_counter() - start
    m = result.metrics
    print(
        f"{m['config']}: {m['reconstruction']['windows']} windows, {args.samples} prior samples "
        f"x {len(m['realism']['temperatures'])} temperatures, torch {torch.__version__}, "
        f"{args.threads} thread(s)"
    )
    print("section seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in m["elapsed_s"].items()))
    print(f"wall {wall:.1f} s")
    print("\n".join(summary_lines(m)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
