"""The `musicvae` command line: a table of subcommands, each parsing, calling one function."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from musicvae import __version__


def _workers(value: str | None) -> int:
    return int(value) if value else max(1, (os.cpu_count() or 1))


def cmd_configs(args) -> int:
    from musicvae.configs import CONFIG_MAP

    for name, config in CONFIG_MAP.items():
        hp = config.hparams
        print(
            f"{name:28s} {config.data.kind:6s} {config.data.slice_bars:2d} bars  "
            f"{config.decoder:22s} enc {list(hp.enc_rnn_size)} dec {list(hp.dec_rnn_size)} "
            f"z {hp.z_size}"
        )
    return 0


def cmd_convert(args) -> int:
    from musicvae.configs import get_config, with_any_program
    from musicvae.data.convert import run_convert

    config = get_config(args.config)
    if args.any_program:
        config = with_any_program(config)
    report = run_convert(
        config,
        args.inputs,
        args.output,
        all_windows=args.all_windows,
        seed=args.seed,
        workers=_workers(args.workers),
        progress=not args.quiet,
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


def cmd_prepare(args) -> int:
    from musicvae.configs import get_config, with_any_program
    from musicvae.data.build import parse_shard, prepare_dataset, resolve_sources

    config = get_config(args.config)
    if args.any_program:
        config = with_any_program(config)
    workers = _workers(args.workers)
    sources, extra = resolve_sources(
        args.input, progress=not args.quiet, workers=workers, rebar_2_4=args.folk_rebar_2_4
    )
    manifest = prepare_dataset(
        config,
        sources,
        args.output,
        workers=workers,
        eval_fraction=args.eval_fraction,
        max_windows_per_file=args.max_windows_per_file,
        shard=parse_shard(args.shard),
        progress=not args.quiet,
        extra_manifest=extra,
    )
    _print_manifest(manifest, args.output)
    windows = manifest["counts"]["windows"]
    if windows["train"] + windows["eval"] == 0:
        print(f"error: no input yielded a {config.data.kind} window", file=sys.stderr)
        return 1
    return 0


def cmd_train(args) -> int:
    from musicvae.configs import Config, HParams
    from musicvae.train.loop import TrainOptions, train

    overrides = HParams.parse(args.hparams) if args.hparams else {}
    config = Config.from_name(args.config, **overrides)
    options = TrainOptions(
        steps=args.steps,
        batch_size=args.batch_size,
        device=args.device,
        seed=args.seed,
        resume=args.resume,
        log_every=args.log_every,
        eval_every=args.eval_every,
        eval_batches=args.eval_batches,
        checkpoint_every=args.checkpoint_every,
        checkpoint_minutes=args.checkpoint_minutes,
        bf16=args.bf16,
        progress=not args.quiet,
    )
    last = train(config, args.data, args.run_dir, options)
    if last:
        shown = {
            k: round(v, 4)
            for k, v in last.items()
            if k
            in (
                "loss",
                "metrics/accuracy",
                "eval/accuracy_teacher_forced",
                "eval/accuracy_sampled",
                "eval/loss",
            )
        }
        print(f"{config.name}: step {args.steps}: {shown}; run: {args.run_dir}")
    return 0


def cmd_demo(args) -> int:
    """The bundled model samples, interpolates and moves a tune; writes an HTML page."""
    from musicvae.demo import run_demo
    from musicvae.render import audio_available

    page = run_demo(args.output, model_path=args.model, seed=args.seed, audio=not args.no_audio)
    has_audio, note = audio_available()
    if not has_audio and not args.no_audio:
        print(note)
    print(f"demo: {page} (open it in a browser)")
    return 0


def cmd_import_magenta(args) -> int:
    from musicvae.convert.importer import import_magenta

    report = import_magenta(
        args.source,
        args.output,
        config=args.config,
        hparams=args.hparams,
        overwrite=args.overwrite,
        fp16=args.fp16,
    )
    sizes = report["sizes"]
    skipped = report["skipped"]
    print(
        f"{report['config']} (config from {report['config_from']}): enc {sizes['enc_rnn_size']} "
        f"dec {sizes['dec_rnn_size']} z {sizes['z_size']}, "
        f"{report['parameters'] / 1e6:.2f} M parameters"
    )
    print(
        f"  {report['kind']} checkpoint {report['source']}: {report['variables']} variables "
        f"imported, {len(skipped)} skipped"
        + (f" ({', '.join(skipped[:4])}{', ...' if len(skipped) > 4 else ''})" if skipped else "")
    )
    for note in report["notes"]:
        print(f"  config.json: {note}")
    print(f"  verified on a random sequence (finite): {report['verification']}")
    print(f"model folder: {report['output']}")
    return 0


def cmd_export_magenta_js(args) -> int:
    from musicvae.convert.exporter import export_magenta_js

    report = export_magenta_js(args.model, args.output, args.quantize, args.overwrite)
    quantized = f", {args.quantize}-byte quantized" if args.quantize else ""
    print(
        f"{report['config']}: {report['variables']} variables, {report['shards']} shard(s), "
        f"{report['bytes'] / 1e6:.1f} MB{quantized} ({report['converter']})"
    )
    for warning in report["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"magenta.js checkpoint: {report['output']}")
    return 0


def _generation(name: str):
    """A command of musicvae.inference.commands, imported when it runs (torch loads lazily)."""

    def run(args) -> int:
        from musicvae.inference import commands

        return getattr(commands, f"cmd_{name}")(args)

    return run


def _model_options(p: argparse.ArgumentParser, output: str | None, audio: bool = True) -> None:
    p.add_argument(
        "--model",
        help="model folder or training run (default: the bundled folk 2-bar melody model)",
    )
    p.add_argument("--device", default="cpu", help="cpu, cuda (or cuda:N)")
    if output is not None:
        p.add_argument("--output", default=output, help=f"output folder (default: {output})")
    if audio:
        p.add_argument(
            "--no-audio", action="store_true", help="MIDI and piano rolls only (no WAVs)"
        )
    p.add_argument("--seed", type=int, help="makes the run reproducible (default: a fresh one)")


def _temperature_option(p: argparse.ArgumentParser, default: float | None) -> None:
    shown = "argmax" if default is None else default
    p.add_argument(
        "--temperature", type=float, default=default, help=f"0 = argmax (default: {shown})"
    )


def add_generation_commands(sub) -> None:
    """sample, interpolate, reconstruct, encode, attributes (musicvae.inference.commands)."""
    p = sub.add_parser("sample", help="decode random codes into new sequences (MIDI)")
    p.add_argument("--n", type=int, default=8, help="number of samples (1..10000)")
    _temperature_option(p, 0.5)
    p.add_argument("--length", type=int, help="steps to decode (default: the config's window)")
    p.add_argument("--same-z", action="store_true", help="one code for all samples")
    _model_options(p, "musicvae-sample")
    p.set_defaults(func=_generation("sample"))

    p = sub.add_parser("interpolate", help="a latent path between two sequences (MIDI)")
    p.add_argument("start", metavar="A.mid")
    p.add_argument("end", metavar="B.mid")
    p.add_argument("--steps", type=int, default=8, help="sequences, ends included (2..10000)")
    p.add_argument("--method", choices=("slerp", "lerp"), default="slerp")
    p.add_argument("--start-window", type=int, help="window of A when it has several")
    p.add_argument("--end-window", type=int, help="window of B when it has several")
    _temperature_option(p, None)
    _model_options(p, "musicvae-interpolate")
    p.set_defaults(func=_generation("interpolate"))

    p = sub.add_parser("reconstruct", help="every window of each input, encoded and decoded")
    p.add_argument("inputs", nargs="+", metavar="INPUT.mid")
    _temperature_option(p, None)
    _model_options(p, "musicvae-reconstruct")
    p.set_defaults(func=_generation("reconstruct"))

    p = sub.add_parser("encode", help="latent codes of inputs (z, mu, sigma as .npy and JSON)")
    p.add_argument("inputs", nargs="+", metavar="INPUT.mid")
    p.add_argument("--window", type=int, help="window K of each input when it has several")
    p.add_argument("--all-windows", action="store_true", help="encode every window")
    _model_options(p, "musicvae-encode", audio=False)
    p.set_defaults(func=_generation("encode"))

    p = sub.add_parser("attributes", help="melody attribute vectors (the paper's section 5.3)")
    actions = p.add_subparsers(dest="action", required=True)
    a = actions.add_parser("compute", help="vectors from a prepared dataset -> vectors.npz")
    a.add_argument("--data", required=True, help="dataset folder made by `musicvae prepare`")
    a.add_argument("--output", required=True, help="vectors file to write (.npz)")
    a.add_argument("--split", default="train", choices=("train", "eval"))
    a.add_argument("--max-windows", type=int, help="a random subset of this many windows")
    a.add_argument("--attributes", nargs="+", help="attribute names (default: all five)")
    _model_options(a, None, audio=False)
    a.set_defaults(func=_generation("attributes_compute"))
    a = actions.add_parser("apply", help="move an input along an attribute vector (MIDI)")
    a.add_argument("input", metavar="INPUT.mid")
    a.add_argument(
        "--vectors",
        help="vectors.npz from `attributes compute` (default: the bundled model's vectors, "
        "when --model is not given)",
    )
    a.add_argument("--attribute", required=True, help="e.g. note_density")
    a.add_argument(
        "--amount", type=float, nargs="+", default=[1.0], help="one or more amounts (default: 1)"
    )
    a.add_argument("--window", type=int, help="window K of the input when it has several")
    _temperature_option(a, None)
    _model_options(a, "musicvae-attributes")
    a.set_defaults(func=_generation("attributes_apply"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="musicvae", description="MusicVAE in PyTorch, faithful to Magenta."
    )
    parser.add_argument("--version", action="version", version=f"musicvae {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("configs", help="list the registered configs")
    p.set_defaults(func=cmd_configs)

    p = sub.add_parser(
        "convert",
        help="MIDI files -> windows (.npz per file + report.json), as Magenta's converters",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help=".mid/.midi files or folders")
    p.add_argument("--config", required=True, help="config name (see `musicvae configs`)")
    p.add_argument("--output", required=True, help="output folder")
    p.add_argument(
        "--all-windows",
        action="store_true",
        help="every distinct window, no cap (Magenta inference mode without a cap); default: "
        "a training sample of at most max_tensors_per_notesequence windows per file",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the training sample")
    p.add_argument(
        "--any-program",
        action="store_true",
        help="melody configs: read melodies on every non-drum instrument (violin, flute, synth "
        "lead, ...); default: Magenta's rule (2-bar configs read programs 0-31 only)",
    )
    p.add_argument("--workers", help="parallel processes (default: all cores)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("prepare", help="build a training dataset (sharded, resumable, parallel)")
    p.add_argument("--config", required=True, help="config name (see `musicvae configs`)")
    p.add_argument(
        "--input",
        required=True,
        nargs="+",
        help="MIDI folders/files, or the built-in corpus: folk (all) or folk:N (N tunes)",
    )
    p.add_argument("--output", required=True, help="dataset folder (resumed if it exists)")
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
    p.add_argument(
        "--any-program",
        action="store_true",
        help="melody configs: read melodies on every non-drum instrument (violin, flute, synth "
        "lead, ...); default: Magenta's rule (2-bar configs read programs 0-31 only)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("train", help="train a model on a prepared dataset (CPU, GPU, torchrun)")
    p.add_argument("--config", required=True, help="config name (see `musicvae configs`)")
    p.add_argument("--data", required=True, help="dataset folder made by `musicvae prepare`")
    p.add_argument("--run-dir", required=True, help="checkpoints, metrics.jsonl, tensorboard/")
    p.add_argument("--steps", type=int, required=True, help="total steps (also when resuming)")
    p.add_argument("--batch-size", type=int, help="global batch size (default: the config's)")
    p.add_argument(
        "--hparams", default="", help="Magenta syntax overrides, e.g. 'enc_rnn_size=[64],z_size=16'"
    )
    p.add_argument("--device", default="cpu", help="cpu, cuda (or cuda:N)")
    p.add_argument("--resume", action="store_true", help="continue the run in --run-dir")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--eval-batches", type=int, default=4)
    p.add_argument("--checkpoint-every", type=int, default=250)
    p.add_argument(
        "--checkpoint-minutes",
        type=float,
        default=10.0,
        help="also checkpoint when this many minutes have passed since the last one; 0 = off "
        "(default: 10). Ctrl-C or SIGTERM saves the current step, then stops",
    )
    p.add_argument("--bf16", action="store_true", help="bf16 autocast (CUDA only)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "demo",
        help="offline demo with the bundled model: samples, an interpolation and attribute "
        "moves as MIDI, piano rolls and audio on one HTML page",
    )
    p.add_argument("--output", default="musicvae-demo", help="folder of the page and files")
    p.add_argument("--model", help="model folder (default: the bundled folk melody model)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-audio", action="store_true", help="skip WAV rendering")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "import-magenta",
        help="Magenta TF checkpoint (prefix, folder, .tar) or magenta.js folder -> model folder",
    )
    p.add_argument(
        "source", help="model.ckpt-N prefix, a folder or .tar holding one, or a magenta.js folder"
    )
    p.add_argument(
        "--config",
        help="Magenta config name (sizes are read from the checkpoint); optional for "
        "magenta.js folders, whose config.json and weights choose it",
    )
    p.add_argument("--output", required=True, help="model folder to write")
    p.add_argument(
        "--hparams", default="", help="Magenta syntax overrides (rarely needed: sizes are inferred)"
    )
    p.add_argument("--fp16", action="store_true", help="store float16 weights (half the size)")
    p.add_argument("--overwrite", action="store_true", help="replace a model in --output")
    p.set_defaults(func=cmd_import_magenta)

    p = sub.add_parser(
        "export-magenta-js", help="model folder or training run -> magenta.js checkpoint folder"
    )
    p.add_argument("model", metavar="MODEL_DIR", help="model folder or training run")
    p.add_argument("--output", required=True, help="magenta.js checkpoint folder to write")
    p.add_argument(
        "--quantize", type=int, choices=(1, 2), help="bytes per weight (tfjs quantization)"
    )
    p.add_argument("--overwrite", action="store_true", help="replace a checkpoint in --output")
    p.set_defaults(func=cmd_export_magenta_js)

    add_generation_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    from musicvae.configs import ConfigError
    from musicvae.data.convert import NoInputError
    from musicvae.train.checkpoint import CheckpointError
    from musicvae.train.loop import TrainingError

    try:
        return args.func(args)
    except (ConfigError, NoInputError, ValueError, TrainingError, CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
