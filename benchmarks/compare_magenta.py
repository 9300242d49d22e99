"""Magenta 2.1.4 and musicvae side by side in ONE run: training steps and generation latency.

Usage: python benchmarks/compare_magenta.py [--magenta-python PATH] [--work DIR]
    [--only train|generate|hier] [--train-steps 12] [--repeats 5] [--threads 1] [--json PATH]

Magenta runs unchanged from ../shared/magenta-reference (its train_timed.py and
bench_generate.py, wrapped by magenta_clock.py to record CPU time next to wall time); ours runs
benchmarks/bench_train.py and bench_generate.py (fp32 and bf16 interleaved; generation also
fp32-torch, our decode loop in torch rather than C). Both sides are pinned to --threads threads
(torch.set_num_threads; TF intra/inter-op; OMP_NUM_THREADS): 1 (default) compares core for core
on a machine shared with other jobs; on an idle 2-core machine, 2 is how both run by default.
Magenta and our runs alternate. Ratios are given on median wall time and on median process
CPU time; on a loaded machine the CPU-time ratio is the steadier one. Training:
cat-mel_2bar_small at batch 64 and 512 from scheduled-sampling step 0 (Magenta: its own data
pipeline over a tfrecord of ../shared/corpus/multitrack; ours: random windows). Generation:
the same cat-mel_2bar_small checkpoint on both sides
(../shared/magenta-golden/checkpoints/mel2_small, imported for ours).
hierdec-mel_16bar: ours only (Magenta ran out of memory at 24 GB on this machine kind; see the
reference's README), fp32 (today's exact path) against bf16.

Without the reference venv (built by ../shared/magenta-reference/setup.sh) it says so and
measures our side only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
REFERENCE = SHARED / "magenta-reference"
CHECKPOINT = SHARED / "magenta-golden" / "checkpoints" / "mel2_small" / "model.ckpt"
TENSORS = (
    REPO / "tests/fixtures/golden/tensors/cat-mel_2bar_small/folk/airds/book2_0108_X0309.mid.npz"
)
CORPUS = SHARED / "corpus" / "multitrack"
THREADS = 1  # per side; main() sets it from --threads


def thread_env(n: int) -> dict[str, str]:
    """Both sides' thread settings: torch via OMP/MKL (and --threads), TF via its env vars."""
    return {
        "OMP_NUM_THREADS": str(n),
        "MKL_NUM_THREADS": str(n),
        "TF_NUM_INTRAOP_THREADS": str(n),
        "TF_NUM_INTEROP_THREADS": str(n),
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }


GEN_OPS = ["sample", "encode_tensors", "encode", "decode_to_tensors", "decode", "interpolate"]


def find_magenta(arg: str | None) -> Path | None:
    """The reference python: --magenta-python, $MAGENTA_PYTHON, .magenta-venv, ../magenta-venv."""
    candidates = [arg, os.environ.get("MAGENTA_PYTHON")]
    candidates += [
        str(REPO / ".magenta-venv/bin/python"),
        str(REPO.parent / "magenta-venv/bin/python"),
    ]
    for c in candidates:
        if c and Path(c).is_file():
            return Path(c)
    return None


def machine() -> dict:
    """Date, CPU, cores, memory and `uptime` load: the line every table carries."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = Path("/proc/meminfo").read_text().split()[1]
        mem_gib = int(mem) / 2**20
    except OSError:
        mem_gib = float("nan")
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "mem_gib": round(mem_gib, 1),
        "python": platform.python_version(),
        "uptime": uptime,
    }


def run(cmd: list[str], env: dict | None = None, timeout: int = 3600) -> str:
    """Runs a command with THREADS threads; returns stdout (raises with its stderr tail)."""
    full_env = {**os.environ, **thread_env(THREADS), **(env or {})}
    full_env["PYTHONPATH"] = str(REPO / "src")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} failed:\n{proc.stderr[-2000:]}")
    return proc.stdout


def tagged_json(text: str, tag: str) -> dict:
    for line in text.splitlines():
        if line.startswith(tag + " "):
            return json.loads(line[len(tag) + 1 :])
    raise RuntimeError(f"no {tag} line in:\n{text[-2000:]}")


def magenta_train(mv: Path, work: Path, batch: int, steps: int, skip: int) -> dict:
    """Median wall and CPU s/step of Magenta's own music_vae_train at a batch size."""
    tfrecord = work / "multitrack.tfrecord"
    if not tfrecord.exists():
        run([str(mv), "-m", "magenta.scripts.convert_dir_to_note_sequences",
             f"--input_dir={CORPUS}", f"--output_file={tfrecord}", "--recursive"])  # fmt: skip
    run_dir = work / f"magenta-run-b{batch}"
    shutil.rmtree(run_dir, ignore_errors=True)
    out = run([str(mv), str(REPO / "benchmarks/magenta_clock.py"), "train",
               str(REFERENCE / "train_timed.py"), "--config=cat-mel_2bar_small",
               f"--run_dir={run_dir}", "--mode=train", f"--examples_path={tfrecord}",
               f"--num_steps={steps}", f"--hparams=batch_size={batch}",
               f"--skip_steps={skip}"])  # fmt: skip
    clock = tagged_json(out, "CLOCK")
    return {
        "wall_s": statistics.median(clock["wall_s"][skip:]),
        "cpu_s": statistics.median(clock["cpu_s"][skip:]),
    }


def ours_train(case: str, steps: int) -> dict:
    """Our median wall and CPU s/step per precision (bench_train.py in its own process)."""
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"ours-train-{os.getpid()}.json"
    run([sys.executable, str(REPO / "benchmarks/bench_train.py"), "--case", case,
         "--steps", str(steps), "--threads", str(THREADS), "--json", str(path)])  # fmt: skip
    r = json.loads(path.read_text())["results"][0]
    return {
        p: {"wall_s": r["s_per_step"][p], "cpu_s": r["cpu_s_per_step"][p], "gib": r["peak_gib"]}
        for p in r["s_per_step"]
    }


def magenta_generate(mv: Path, repeats: int) -> dict:
    out = run([str(mv), str(REPO / "benchmarks/magenta_clock.py"), "generate",
               str(REFERENCE / "bench_generate.py"), "--config", "cat-mel_2bar_small",
               "--checkpoint", str(CHECKPOINT), "--tensors", str(TENSORS), "--n", "64",
               "--repeats", str(repeats)])  # fmt: skip
    timing, clock = tagged_json(out, "GENTIMING"), tagged_json(out, "CLOCK")
    names = [k for k, v in timing.items() if isinstance(v, dict) and "median_s" in v]
    return {
        name: {
            "wall_s": statistics.median(clock[str(i)]["wall_s"]),
            "cpu_s": statistics.median(clock[str(i)]["cpu_s"]),
        }
        for i, name in enumerate(names)
    }


def ours_generate(model_dir: Path, repeats: int) -> dict:
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"ours-gen-{os.getpid()}.json"
    run([sys.executable, str(REPO / "benchmarks/bench_generate.py"), "--model", str(model_dir),
         "--tensors", str(TENSORS), "--repeats", str(repeats), "--threads", str(THREADS),
         "--precision", "fp32,fp32-torch,bf16", "--json", str(path)])  # fmt: skip
    return json.loads(path.read_text())["results"]


def ratio(theirs: float | None, ours: float) -> str:
    return f"{theirs / ours:.1f}x" if theirs else "-"


def cell(t: dict | None, scale: float = 1.0, fmt: str = "{:.3f}") -> str:
    if not t:
        return "-"
    return f"{fmt.format(t['wall_s'] * scale)} ({fmt.format(t['cpu_s'] * scale)})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--magenta-python", help="the reference venv's python")
    parser.add_argument(
        "--work", default=str(Path(os.environ.get("TMPDIR", "/tmp")) / "mvae-compare")
    )
    parser.add_argument("--only", choices=("train", "generate", "hier"), action="append")
    parser.add_argument("--train-steps", type=int, default=12, help="Magenta steps (3 skipped)")
    parser.add_argument("--ours-steps", type=int, default=4, help="our timed steps per precision")
    parser.add_argument("--repeats", type=int, default=5, help="generation repetitions")
    parser.add_argument("--threads", type=int, default=1, help="threads per side (default 1)")
    parser.add_argument("--json", help="write every number here")
    args = parser.parse_args()
    global THREADS
    THREADS = args.threads
    parts = args.only or ["train", "generate", "hier"]
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    mv = find_magenta(args.magenta_python)
    info = machine()
    print(f"{info['date']}; {info['cpu']}, {info['cores']} cores, {info['mem_gib']} GiB")
    print(f"load: {info['uptime']}")
    print(f"threads: {THREADS} per side (torch.set_num_threads; TF intra/inter-op; OMP)")
    if mv is None:
        print(
            "Magenta reference: NOT BUILT (no .magenta-venv, ../magenta-venv or $MAGENTA_PYTHON; "
            "build it with ../shared/magenta-reference/setup.sh): measuring our side only"
        )
    results: dict = {"machine": info, "train": {}, "generate": {}, "hier": {}}
    rows = []
    if "train" in parts:
        for batch, steps in ((64, args.train_steps), (512, max(5, args.train_steps // 2))):
            case = f"cat-mel_2bar_small/{batch}"
            skip = 3 if steps > 6 else 2
            theirs = magenta_train(mv, work, batch, steps, skip) if mv else None
            ours = ours_train(case, args.ours_steps)
            results["train"][case] = {"magenta": theirs, "ours": ours}
            for p in ("fp32", "bf16"):
                rows.append(
                    (
                        f"train {case} {p} (s/step)",
                        cell(theirs),
                        cell(ours[p]),
                        ratio(theirs and theirs["wall_s"], ours[p]["wall_s"]),
                        ratio(theirs and theirs["cpu_s"], ours[p]["cpu_s"]),
                    )  # fmt: skip
                )
    if "generate" in parts:
        model_dir = work / "mel2_small-torch"
        if not model_dir.exists():
            run([sys.executable, "-m", "musicvae", "import-magenta", str(CHECKPOINT),
                 "--config", "cat-mel_2bar_small", "--output", str(model_dir)])  # fmt: skip
        theirs = magenta_generate(mv, args.repeats) if mv else {}
        ours = ours_generate(model_dir, args.repeats)
        results["generate"] = {"magenta": theirs, "ours": ours}
        for name in ["sample 1", "sample 1, in a row"] + GEN_OPS:
            t = theirs.get(name)
            for p in ("fp32", "fp32-torch", "bf16"):
                o = ours[name][p]
                rows.append(
                    (
                        f"{name} (64 unless 1) {p} (ms)",
                        cell(t, 1e3, "{:.1f}"),
                        cell(o, 1e3, "{:.1f}"),
                        ratio(t and t["wall_s"], o["wall_s"]),
                        ratio(t and t["cpu_s"], o["cpu_s"]),
                    )  # fmt: skip
                )
    if "hier" in parts:
        for case in ("hierdec-mel_16bar/8", "hierdec-mel_16bar-reduced/8"):
            ours = ours_train(case, 1 if case == "hierdec-mel_16bar/8" else args.ours_steps)
            results["hier"][case] = ours
            rows.append(
                (
                    f"train {case}: fp32 vs bf16 (s/step)",
                    "OOM at 24 GB (README)" if case == "hierdec-mel_16bar/8" else "not run",
                    f"{cell(ours['fp32'])} vs {cell(ours['bf16'])}, {ours['bf16']['gib']:.1f} GiB",
                    ratio(ours["fp32"]["wall_s"], ours["bf16"]["wall_s"]),
                    ratio(ours["fp32"]["cpu_s"], ours["bf16"]["cpu_s"]),
                )  # fmt: skip
            )
    results["machine"]["uptime_end"] = subprocess.run(
        ["uptime"], capture_output=True, text=True
    ).stdout.strip()
    print("\n| work | Magenta 2.1.4 wall (CPU) | musicvae wall (CPU) | ratio wall | ratio CPU |")
    print("|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print(f"\nload at the end: {results['machine']['uptime_end']}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
