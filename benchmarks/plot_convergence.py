"""Overlays the eval curves of training runs (e.g. fp32 and bf16) from their metrics.jsonl.

Usage: python benchmarks/plot_convergence.py RUN_DIR[=LABEL] ... --out docs/images/NAME.png
Panels: eval loss, eval r_loss, teacher-forced and sampled eval accuracy (z = mu), and the
training loss (mean over each 100 steps). Needs matplotlib (`pip install matplotlib`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

PANELS = [
    ("eval/loss", "eval loss"),
    ("eval/losses/r_loss", "eval r_loss"),
    ("eval/accuracy_teacher_forced", "eval accuracy, teacher-forced"),
    ("eval/accuracy_sampled", "eval accuracy, sampled"),
]


def read_metrics(run_dir: Path) -> tuple[dict[str, list[tuple[int, float]]], list]:
    """metrics.jsonl -> {eval key: [(step, value)]}, [(step, train loss)]."""
    evals: dict[str, list[tuple[int, float]]] = {k: [] for k, _ in PANELS}
    train = []
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        row = json.loads(line)
        for k in evals:
            if k in row:
                evals[k].append((row["step"], row[k]))
        if "loss" in row:
            train.append((row["step"], row["loss"]))
    return evals, train


def binned(points: list[tuple[int, float]], width: int = 100) -> list[tuple[float, float]]:
    """Means of (step, value) over consecutive bins of `width` steps."""
    bins: dict[int, list[float]] = {}
    for step, value in points:
        bins.setdefault((step - 1) // width, []).append(value)
    return [((b + 0.5) * width, sum(v) / len(v)) for b, v in sorted(bins.items())]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", help="RUN_DIR or RUN_DIR=LABEL")
    parser.add_argument("--out", required=True)
    parser.add_argument("--title", default="")
    args = parser.parse_args()
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("error: plotting needs matplotlib: pip install matplotlib", file=sys.stderr)
        return 2
    fig, axes = plt.subplots(1, len(PANELS) + 1, figsize=(4 * (len(PANELS) + 1), 3.4))
    for spec in args.runs:
        path, _, label = spec.partition("=")
        evals, train = read_metrics(Path(path))
        label = label or Path(path).name
        for ax, (key, title) in zip(axes, PANELS, strict=False):
            steps, values = zip(*evals[key], strict=True) if evals[key] else ((), ())
            ax.plot(steps, values, marker="o", ms=3, label=label)
            ax.set_title(title, fontsize=9)
        steps, values = zip(*binned(train), strict=True) if train else ((), ())
        axes[-1].plot(steps, values, label=label)
        axes[-1].set_title("train loss (100-step means)", fontsize=9)
    for ax in axes:
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    if args.title:
        fig.suptitle(args.title, fontsize=10)
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
