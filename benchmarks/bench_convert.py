"""Conversion speed: `convert` on ../shared/corpus and `prepare` on the folk corpus.

Usage: python benchmarks/bench_convert.py [--folk N] [--workers W] [--skip-prepare]
Prints a table (files/s, windows/s, CPU s). Reference: Magenta 2.1.4 (note_seq parsing +
cat-mel_2bar_small converter, all windows) spent ~55 CPU-s on the 165 multitrack files.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from musicvae.configs import get_config
from musicvae.data.prepare import prepare_dataset, resolve_sources
from musicvae.data.windows import convert_many, find_midi_files

SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpus"
MAGENTA_MULTITRACK_CPU_S = 55.0


def cpu_seconds() -> float:
    """User + system time of this process and its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def bench_convert(config_name: str, folder: Path, workers: int) -> dict:
    config = get_config(config_name)
    sources = find_midi_files([folder])
    wall, cpu = time.perf_counter(), cpu_seconds()
    windows = sum(r.count for r in convert_many(sources, config.data, workers=workers))
    wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    return dict(
        task=f"convert {folder.name} ({config_name})",
        files=len(sources),
        windows=windows,
        wall=wall,
        cpu=cpu,
        workers=workers,
    )


def bench_prepare(n: int, workers: int) -> dict:
    config = get_config("cat-mel_2bar_small")
    sources, _ = resolve_sources([f"folk:{n}"], progress=False, workers=workers)  # cached
    with tempfile.TemporaryDirectory() as tmp:
        wall, cpu = time.perf_counter(), cpu_seconds()
        m = prepare_dataset(config, sources, Path(tmp) / "ds", workers=workers, progress=False)
        wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    windows = m["counts"]["windows"]["train"] + m["counts"]["windows"]["eval"]
    return dict(
        task=f"prepare folk:{n} (cat-mel_2bar_small)",
        files=len(sources),
        windows=windows,
        wall=wall,
        cpu=cpu,
        workers=workers,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--folk", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--skip-prepare", action="store_true")
    args = parser.parse_args()
    if not SHARED.exists():
        print(f"{SHARED} is absent: nothing to benchmark", file=sys.stderr)
        return 1
    rows = []
    for config in (
        "cat-mel_2bar_small",
        "cat-drums_2bar_small",
        "hierdec-mel_16bar",
        "hierdec-trio_16bar",
    ):
        rows.append(bench_convert(config, SHARED / "multitrack", 1))
    rows.append(bench_convert("cat-mel_2bar_small", SHARED / "multitrack", args.workers))
    if not args.skip_prepare:
        rows.append(bench_prepare(args.folk, args.workers))
    print(
        f"{'task':46s} {'workers':>7s} {'files':>6s} {'windows':>8s} {'wall s':>7s} "
        f"{'CPU s':>7s} {'files/s':>8s} {'windows/s':>9s}"
    )
    for r in rows:
        print(
            f"{r['task']:46s} {r['workers']:7d} {r['files']:6d} {r['windows']:8d} "
            f"{r['wall']:7.2f} {r['cpu']:7.2f} {r['files'] / r['wall']:8.1f} "
            f"{r['windows'] / r['wall']:9.0f}"
        )
    first = rows[0]
    print(
        f"\nMagenta 2.1.4 on the same {first['files']} files: ~{MAGENTA_MULTITRACK_CPU_S:.0f} "
        f"CPU-s; ours {first['cpu']:.2f} CPU-s: "
        f"{MAGENTA_MULTITRACK_CPU_S / first['cpu']:.0f}x the throughput"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
