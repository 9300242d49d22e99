"""`musicvae evaluate`: reconstruction (Table 1), prior realism, interpolation, attribute matrix."""

from __future__ import annotations

import argparse

from musicvae.cli.common import MODEL_HELP, Command, add_any_program


def add_evaluate(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help=MODEL_HELP)
    p.add_argument(
        "--data",
        required=True,
        nargs="+",
        help="a dataset folder from `musicvae prepare`, or MIDI files/folders (every window)",
    )
    p.add_argument("--output", required=True, help="folder for metrics.json, report.md, PNGs")
    p.add_argument(
        "--split",
        default="eval",
        choices=("eval", "train", "all"),
        help="dataset split to evaluate (default: eval; ignored for MIDI files)",
    )
    p.add_argument(
        "--samples", type=int, default=1000, help="prior samples per temperature (default: 1000)"
    )
    p.add_argument("--seed", type=int, default=0, help="seeds every sampled part (default: 0)")
    p.add_argument("--max-windows", type=int, help="a seeded random subset of this many windows")
    p.add_argument("--no-plots", action="store_true", help="metrics.json and report.md only")
    p.add_argument(
        "--card",
        action="store_true",
        help="also write the metrics into the model folder's card.json and README.md",
    )
    p.add_argument("--device", default="cpu", help="cpu, cuda (or cuda:N) (default: cpu)")
    p.add_argument(
        "--overwrite", action="store_true", help="replace an earlier run's files in --output"
    )
    add_any_program(p)


def run_evaluate(args: argparse.Namespace) -> int:
    """Measure a model on held-out windows; metrics.json, report.md, plots (and the card)."""
    from musicvae.evaluation import evaluate
    from musicvae.evaluation.card import write_card
    from musicvae.evaluation.report import summary_lines
    from musicvae.inference.bundled import model_location

    model_dir = model_location(args.model)
    if args.card and not model_dir.is_dir():
        raise ValueError(f"--card writes into a model folder; {model_dir} is not a folder")
    result = evaluate(
        args.model,
        args.data if len(args.data) > 1 else args.data[0],
        args.output,
        split=args.split,
        samples=args.samples,
        seed=args.seed,
        max_windows=args.max_windows,
        make_plots=not args.no_plots,
        device=args.device,
        any_program=args.any_program,
        overwrite=args.overwrite,
    )
    for line in summary_lines(result.metrics):
        print(line)
    if args.card:
        print(f"model card: {write_card(model_dir, result.metrics)}")
    elapsed = result.metrics["elapsed_s"]["total"]
    print(
        f"wrote {', '.join(f.name for f in result.files)} to {result.output_dir} ({elapsed:.1f} s)"
    )
    return 0


COMMANDS = [
    Command(
        "evaluate",
        "measure a model: reconstruction (Table 1), prior realism, interpolation, "
        "attribute vectors -> metrics.json, report.md, plots",
        add_evaluate,
        run_evaluate,
    ),
]
