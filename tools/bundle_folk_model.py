"""Builds a bundled model (src/musicvae/assets/models/NAME) from a training run.

Usage: python tools/bundle_folk_model.py RUN_DIR DATASET [--name folk-mel_16bar]
       [--command "how it was trained"] [--batch-size B]

Writes fp16 weights, config.json and attribute vectors (from the training split), then runs
`musicvae evaluate` on the written folder (the shipped fp16 weights) over the dataset's held-out
split and GENERATES the model card from its metrics: card.json (provenance + `evaluation`, the
whole metrics.json) and README.md. Nothing in the card is typed by hand. The evaluation's
report.md and plots go to --eval-output.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from musicvae.data.dataset import WindowDataset
from musicvae.evaluation import evaluate
from musicvae.evaluation.card import write_card
from musicvae.evaluation.report import summary_lines
from musicvae.inference.attributes import VECTORS_FILE, attribute_vectors, save_vectors
from musicvae.inference.bundled import ASSETS, BUNDLED_16BAR, BUNDLED_MODEL, BUNDLED_MODELS
from musicvae.inference.model_dir import load_model_dir, save_model_dir
from musicvae.inference.trained_model import TrainedModel
from musicvae.train.checkpoint import CHECKPOINT

VECTOR_WINDOWS = 20000
CORPUS = "music21 folk corpus: Essen, O'Neill's, Ryan's, Aird's, Nottingham"
DATA = {
    BUNDLED_MODEL: f"musicvae prepare --config cat-mel_2bar_small --input folk ({CORPUS})",
    BUNDLED_16BAR: f"musicvae prepare --config hierdec-mel_16bar --input folk ({CORPUS}); "
    "the study's data, docs/REPRODUCTION.md",
}
LICENSE = "the folk tunes come from the music21 corpus; Essen is for non-commercial use"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("dataset")
    parser.add_argument("--name", default=BUNDLED_MODEL, choices=BUNDLED_MODELS)
    parser.add_argument("--command", default="", help="the training command, for the card")
    parser.add_argument("--batch-size", type=int, default=128, help="training batch, for the card")
    parser.add_argument("--output", help="model folder to write (default: the assets' NAME)")
    parser.add_argument("--eval-output", default="runs/bundle-evaluation")
    parser.add_argument("--samples", type=int, default=1000, help="prior samples per temperature")
    parser.add_argument(
        "--vector-windows",
        type=int,
        default=VECTOR_WINDOWS,
        help="training windows the attribute vectors are computed on (a seeded subset)",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    model_nn, config = load_model_dir(args.run_dir)
    run = Path(args.run_dir)
    state = torch.load(
        run / CHECKPOINT if run.is_dir() else run, map_location="cpu", weights_only=False
    )
    out = Path(args.output or ASSETS / "models" / args.name)
    eval_set = WindowDataset(args.dataset, "eval", config)
    train_set = WindowDataset(args.dataset, "train", config)
    provenance = {
        "name": args.name,
        "data": DATA[args.name],
        "windows": {"train": len(train_set), "eval": len(eval_set)},
        "steps": int(state["step"]),
        "batch_size": args.batch_size,
        # a run started with `train --init-from`: the source run's steps came first
        **({"init_from": state["init_from"]} if state.get("init_from") else {}),
        "training_command": args.command,
        "license": LICENSE,
    }
    save_model_dir(model_nn, config, out, extra_card=provenance, dtype=torch.float16)
    shipped = TrainedModel.load(out)  # the fp16 weights as users get them
    tokens = train_set.tokens(np.arange(len(train_set)))
    vectors, summary = attribute_vectors(shipped, tokens, max_windows=args.vector_windows, seed=0)
    save_vectors(
        out / VECTORS_FILE,
        vectors,
        {
            "config": config.name,
            "windows": min(args.vector_windows, len(train_set)),
            "summary": summary,
        },
    )
    result = evaluate(
        out, args.dataset, args.eval_output, split="eval", samples=args.samples, seed=args.seed
    )
    metrics = {**result.metrics, "model": args.name}
    write_card(out, metrics)
    print("\n".join(summary_lines(metrics)))
    print(f"model card: {out / 'card.json'}, {out / 'README.md'}; report: {result.output_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
