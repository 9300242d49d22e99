"""configs, convert, prepare: parse, call one library function, print."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from musicvae.cli.common import Command, add_any_program, config_of, workers


def add_configs(p: argparse.ArgumentParser) -> None:
    pass


def run_configs(args) -> int:
    from musicvae.configs import CONFIG_MAP  # pure data: no torch

    for name, config in CONFIG_MAP.items():
        hp = config.hparams
        print(
            f"{name:28s} {config.data.kind:6s} {config.data.slice_bars:2d} bars  "
            f"{config.decoder:22s} enc {list(hp.enc_rnn_size)} dec {list(hp.dec_rnn_size)} "
            f"z {hp.z_size}"
        )
    return 0


def add_convert(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="INPUT", help=".mid/.midi files or folders")
    p.add_argument("--config", required=True, help="config name (see `musicvae configs`)")
    p.add_argument("--output", required=True, help="output folder, new or empty")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an earlier run's files in --output (default: refuse a non-empty output)",
    )
    p.add_argument(
        "--all-windows",
        action="store_true",
        help="every distinct window, no cap (Magenta inference mode without a cap); default: "
        "a training sample of at most max_tensors_per_notesequence windows per file",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the training sample")
    add_any_program(p)
    p.add_argument("--workers", help="parallel processes (default: all cores)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run_convert(args) -> int:
    from musicvae.data.windows import run_convert as convert

    config = config_of(args.config, args.any_program)
    report = convert(
        config,
        args.inputs,
        args.output,
        all_windows=args.all_windows,
        seed=args.seed,
        workers=workers(args.workers),
        progress=not args.quiet,
        overwrite=args.overwrite,
    )
    t = report["totals"]
    print(
        f"{config.name}: {t['files']} files, {t['with_windows']} with windows "
        f"({t['windows']} windows), {t['without_windows']} without, {t['failed']} failed "
        f"in {report['elapsed_s']:.1f} s; report: {Path(args.output) / 'report.json'}"
    )
    for entry in report["files"]:
        if "error" in entry:
            print(f"  failed: {entry['file']}: {entry['error']}")
    if t["with_windows"] == 0:
        print(f"error: no input yielded a {config.data.kind} window", file=sys.stderr)
        return 1
    return 0


def add_prepare(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="config name (see `musicvae configs`)")
    p.add_argument(
        "--input",
        required=True,
        nargs="+",
        help="MIDI folders/files, or the built-in corpus: folk (all) or folk:N (N tunes)",
    )
    p.add_argument(
        "--output",
        required=True,
        help="dataset folder: new, empty, or a dataset of the same settings (resumed)",
    )
    p.add_argument("--workers", help="parallel processes (default: all cores)")
    p.add_argument("--eval-fraction", type=float, default=0.1, help="share of files for eval")
    p.add_argument("--max-windows-per-file", type=int, help="cap windows per file (default: all)")
    p.add_argument("--shard", help="i/N: prepare only shard i of N (split a corpus over machines)")
    p.add_argument(
        "--folk-rebar-2-4",
        action="store_true",
        help="built-in folk corpus only: re-bar 2/4 tunes as 4/4 (about 50%% more windows; "
        "Magenta's rules, which skip 2/4, stay the default)",
    )
    add_any_program(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _print_manifest(manifest: dict, output: str) -> None:
    c = manifest["counts"]
    print(
        f"{manifest['config']}: {c['files_read']} files read, {c['files_failed']} failed, "
        f"{c['files_with_windows']} with windows; windows: train {c['windows']['train']}, "
        f"eval {c['windows']['eval']} ({manifest['elapsed_s']:.1f} s)"
    )
    print(f"dataset: {output} (manifest.json)")
    for entry in manifest["failed"][:10]:
        print(f"  failed: {entry['file']}: {entry['error']}")
    if len(manifest["failed"]) > 10:
        print(f"  ... and {len(manifest['failed']) - 10} more in manifest.json")


def run_prepare(args) -> int:
    from musicvae.data.prepare import prepare

    config = config_of(args.config, args.any_program)
    manifest = prepare(
        config,
        args.input,
        args.output,
        workers=workers(args.workers),
        eval_fraction=args.eval_fraction,
        max_windows_per_file=args.max_windows_per_file,
        shard=args.shard,
        progress=not args.quiet,
        rebar_2_4=args.folk_rebar_2_4,
    )
    _print_manifest(manifest, args.output)
    windows = manifest["counts"]["windows"]
    if windows["train"] + windows["eval"] == 0:
        print(f"error: no input yielded a {config.data.kind} window", file=sys.stderr)
        return 1
    return 0


def add_windows(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE.mid", help="a MIDI file")
    p.add_argument("--config", required=True, help="config name (see `musicvae configs`)")
    add_any_program(p)


def run_windows(args) -> int:
    from musicvae.data.listing import file_windows

    config = config_of(args.config, args.any_program)
    infos, reason = file_windows(args.file, config)
    if not infos:
        print(f"error: {args.file}: no window: {reason}", file=sys.stderr)
        return 1
    bars = config.data.slice_bars
    print(f"{args.file}: {len(infos)} windows of {bars} bars for {config.name}")
    print(f"  {'K':>3s}  {'bars':>9s}  {'notes':>5s}  tracks")
    for w in infos:
        span = f"{w.first_bar}-{w.last_bar}"
        print(f"  {w.index:3d}  {span:>9s}  {w.notes:5d}  {', '.join(w.tracks)}")
    print("choose one with --window K (encode, attributes apply) or --start-window K")
    return 0


COMMANDS = [
    Command("configs", "list the registered configs", add_configs, run_configs),
    Command(
        "convert",
        "MIDI files -> windows (.npz per file + report.json), as Magenta's converters",
        add_convert,
        run_convert,
    ),
    Command(
        "prepare",
        "build a training dataset (sharded, resumable, parallel)",
        add_prepare,
        run_prepare,
    ),
    Command(
        "windows",
        "list a MIDI file's windows for a config: bars, tracks, notes (the K of --window K)",
        add_windows,
        run_windows,
    ),
]
