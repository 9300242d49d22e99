"""train: parse, call musicvae.train.loop.train, print the last metrics."""

from __future__ import annotations

import argparse

from musicvae.cli.common import Command

SHOWN = (
    "loss",
    "metrics/accuracy",
    "eval/accuracy_teacher_forced",
    "eval/accuracy_sampled",
    "eval/loss",
)


def add_train(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="config name (see `musicvae configs`)")
    p.add_argument("--data", required=True, help="dataset folder made by `musicvae prepare`")
    p.add_argument("--run-dir", required=True, help="checkpoints, metrics.jsonl, tensorboard/")
    p.add_argument("--steps", type=int, required=True, help="total steps (also when resuming)")
    p.add_argument("--batch-size", type=int, help="global batch size (default: the config's)")
    p.add_argument(
        "--hparams", default="", help="Magenta syntax overrides, e.g. 'enc_rnn_size=[64],z_size=16'"
    )
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N, mps or gpu")
    p.add_argument("--resume", action="store_true", help="continue the run in --run-dir")
    p.add_argument(
        "--init-from",
        metavar="RUN",
        help="start a new run from the weights of another run (its folder or checkpoint.pt): "
        "same architecture, fresh optimizer and schedules; for fine-tuning with other "
        "--hparams such as max_beta or free_bits",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the weights and batches")
    p.add_argument("--log-every", type=int, default=10, help="steps between metrics lines")
    p.add_argument("--eval-every", type=int, default=500, help="steps between evaluations")
    p.add_argument("--eval-batches", type=int, default=4, help="batches per evaluation")
    p.add_argument("--checkpoint-every", type=int, default=250, help="steps between checkpoints")
    p.add_argument(
        "--checkpoint-minutes",
        type=float,
        default=10.0,
        help="also checkpoint when this many minutes have passed since the last one; 0 = off "
        "(default: 10). Ctrl-C or SIGTERM saves the current step, then stops",
    )
    precision = p.add_mutually_exclusive_group()
    precision.add_argument(
        "--bf16",
        action="store_const",
        const=True,
        dest="bf16",
        help="bf16 matrix products, fp32 state and weights (GPUs; CPUs with AVX-512 BF16/AMX; "
        "an error elsewhere). Default: bf16 on CPUs with AVX-512 BF16/AMX, else fp32",
    )
    precision.add_argument(
        "--fp32",
        action="store_const",
        const=False,
        dest="bf16",
        help="fp32 throughout (the exact path), also where bf16 would be the default",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run_train(args) -> int:
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
        init_from=args.init_from,
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
        shown = {k: round(v, 4) for k, v in last.items() if k in SHOWN}
        print(f"{config.name}: step {args.steps}: {shown}; run: {args.run_dir}")
    return 0


COMMANDS = [
    Command(
        "train",
        "train a model on a prepared dataset (CPU, GPU, torchrun)",
        add_train,
        run_train,
    ),
]
