"""import-magenta, export-magenta-js: parse, call musicvae.checkpoints, print the report."""

from __future__ import annotations

import argparse
import sys

from musicvae.cli.common import Command


def add_import_magenta(p: argparse.ArgumentParser) -> None:
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


def run_import_magenta(args) -> int:
    from musicvae.checkpoints.importer import import_magenta

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


def add_export_magenta_js(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL_DIR", help="model folder or training run")
    p.add_argument("--output", required=True, help="magenta.js checkpoint folder to write")
    p.add_argument(
        "--quantize", type=int, choices=(1, 2), help="bytes per weight (tfjs quantization)"
    )
    p.add_argument("--overwrite", action="store_true", help="replace a checkpoint in --output")


def run_export_magenta_js(args) -> int:
    from musicvae.checkpoints.exporter import export_magenta_js

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


COMMANDS = [
    Command(
        "import-magenta",
        "Magenta TF checkpoint (prefix, folder, .tar) or magenta.js folder -> model folder",
        add_import_magenta,
        run_import_magenta,
    ),
    Command(
        "export-magenta-js",
        "model folder or training run -> magenta.js checkpoint folder",
        add_export_magenta_js,
        run_export_magenta_js,
    ),
]
