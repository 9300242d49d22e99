"""The 16-bar flat vs hierarchical study (issue 11, docs/REPRODUCTION.md), one resumable command.

Usage: python tools/study_16bar.py --out runs/study16 [--steps N] [--batch B] [--debug]
Prepares hierdec-mel_16bar windows of the folk corpus, trains study-flat-mel_16bar and
study-hierdec-mel_16bar (both at once, one thread each), trains the language model, evaluates
both decoders on the held-out split and writes OUT/report/ (report.md, results.json, plots).
Rerunning the same command continues where it stopped; a larger --steps trains further.
--bench measures seconds per training step of both configs instead (one thread).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--out", required=True, help="study folder (continued if it exists)")
    p.add_argument("--steps", type=int, help="training steps per decoder (default 2000; debug 6)")
    p.add_argument("--batch", type=int, help="batch size (default 64; debug 8)")
    p.add_argument("--debug", action="store_true", help="tiny models and data: a smoke run")
    p.add_argument(
        "--bf16",
        action="store_true",
        help="train with bf16 autocast (CPUs with native bf16 only; kept for the study's reruns)",
    )
    p.add_argument("--input", help="MIDI folder or folk[:N] (default folk; debug folk:200)")
    p.add_argument("--jobs", type=int, help="trainings at once, one thread each (default 2)")
    p.add_argument("--workers", type=int, default=1, help="processes preparing the data")
    p.add_argument("--lm-steps", type=int, help="language-model steps (default 1000)")
    p.add_argument("--publish", help="copy the report folder's files here (for committing)")
    p.add_argument(
        "--bench", type=int, metavar="STEPS", help="time STEPS training steps per config"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p.parse_args(argv)


def options_from(args):
    from musicvae.study.runner import StudyOptions

    given = {
        "steps": args.steps,
        "batch": args.batch,
        "input": args.input,
        "jobs": args.jobs,
        "lm_steps": args.lm_steps,
    }
    given = {k: v for k, v in given.items() if v is not None}
    for name in ("steps", "batch", "jobs", "lm_steps"):
        if name in given and given[name] < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1")
    common = dict(workers=args.workers, progress=not args.quiet, bf16=args.bf16, **given)
    if args.debug:
        return StudyOptions.debug_sizes(Path(args.out), **common)
    return StudyOptions(out=Path(args.out), **common)


def bench(options, steps: int) -> int:
    import torch

    from musicvae.study.bench import seconds_per_step, steps_in
    from musicvae.study.runner import study_config

    torch.set_num_threads(1)
    load = os.getloadavg()[0]
    precision = "bf16 autocast" if options.bf16 else "fp32"
    print(
        f"1 thread, batch {options.batch}, {precision}, "
        f"load average {load:.1f} on {os.cpu_count()} cores"
    )
    for name in options.configs.values():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=options.bf16):
            s = seconds_per_step(study_config(name, options.batch), options.batch, steps)
        print(f"{name:30s} {s:7.2f} s/step  ~{steps_in(3.0, s)} steps in 3 h")
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    from musicvae.data.dataset import DatasetError
    from musicvae.data.windows import NoInputError
    from musicvae.errors import CheckpointError, TrainingError
    from musicvae.study.report import trend
    from musicvae.study.runner import StudyError, run_study

    try:
        options = options_from(args)
        if args.bench:
            return bench(options, args.bench)
        results = run_study(options, publish=args.publish)
    except (StudyError, NoInputError, DatasetError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (TrainingError, CheckpointError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    verdict = trend(results)
    for kind in ("flat", "hierarchical"):
        rec = results[kind]["reconstruction"]
        print(
            f"{kind:12s} teacher-forced {rec['teacher_forced']:.3f} sampled {rec['sampled']:.3f} "
            f"drop {rec['drop']:.3f} (step {results[kind]['step']})"
        )
    print(f"trend shown: {verdict['shown']}; report: {options.out / 'report' / 'report.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
