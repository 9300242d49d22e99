"""The training loop: one process on CPU or GPU, or many under torchrun (PyTorch DDP).

Every random choice of a step (its batch, augmentation, z noise, scheduled sampling) comes from
generators seeded by (seed, step, rank), so a run resumed from a checkpoint takes exactly the
path of an uninterrupted one. Rank 0 alone logs and saves.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from musicvae.builders import build_model
from musicvae.configs import Config, HParams
from musicvae.data.converters import build_converter
from musicvae.data.dataset import WindowDataset
from musicvae.errors import TrainingError
from musicvae.models.cpu_features import native_bf16
from musicvae.models.losses import accuracy_metrics, reconstruction
from musicvae.models.vae import MusicVAE
from musicvae.train import schedules
from musicvae.train.checkpoint import CHECKPOINT, load_checkpoint, save_checkpoint
from musicvae.train.signals import StopRequest, TrainingInterrupted

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainOptions:
    steps: int
    batch_size: int | None = None  # global batch; default: the config's
    device: str = "cpu"
    seed: int = 0
    resume: bool = False
    log_every: int = 10
    eval_every: int = 500
    eval_batches: int = 4
    checkpoint_every: int = 250
    checkpoint_minutes: float = 10.0  # also save when this long has passed (0: never)
    bf16: bool | None = None  # None: bf16 where it measured faster (see default_bf16)
    progress: bool = True
    init_from: str | None = None  # a run folder or checkpoint.pt: its weights start this run


def check_options(options: TrainOptions) -> None:
    """Numbers a run cannot use raise a TrainingError (before anything is read or made)."""
    positive = {
        "steps": options.steps,
        "log_every": options.log_every,
        "eval_every": options.eval_every,
        "eval_batches": options.eval_batches,
        "checkpoint_every": options.checkpoint_every,
    }
    if options.batch_size is not None:
        positive["batch_size"] = options.batch_size
    for name, value in positive.items():
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            flag = "--" + name.replace("_", "-")
            raise TrainingError(f"{flag} must be a positive integer, got {value!r}")
    minutes = options.checkpoint_minutes
    if not (isinstance(minutes, (int, float)) and math.isfinite(minutes) and minutes >= 0):
        raise TrainingError(f"--checkpoint-minutes must be 0 (off) or positive, got {minutes!r}")


def bf16_supported(device: torch.device) -> bool:
    """Whether the device computes in bfloat16 natively (CUDA: Ampere or newer; CPU: oneDNN's
    bf16 kernels on native bf16 units, AVX-512 BF16 or AMX: where oneDNN would only emulate bf16
    with fp32 arithmetic, bf16 is slower than fp32, so it counts as unsupported)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()) and native_bf16()
        except (AttributeError, RuntimeError):
            return False
    return False


def default_bf16(device: torch.device) -> bool:
    """The precision of a run that asks for none: bf16 on CPUs with native bf16 units, where it
    measured faster than fp32 at every size we train on 2 cores and converged alike over 2,000
    steps (docs/BENCHMARKS.md); fp32 elsewhere (GPUs: not measured here)."""
    return device.type == "cpu" and bf16_supported(device)


def check_run_options(options: TrainOptions, device: torch.device, run_dir: Path) -> None:
    """Requests that the device or the run folder cannot honour raise a TrainingError."""
    if options.bf16 and not bf16_supported(device):
        where = "this CPU" if device.type == "cpu" else f"device {device}"
        raise TrainingError(
            f"--bf16 was asked for, but {where} has no native bfloat16 support; drop --bf16"
        )
    if options.resume and options.init_from:
        raise TrainingError(
            "--init-from starts a new run from another run's weights; --resume continues "
            "this one: use one of them"
        )
    if options.resume and not (run_dir / CHECKPOINT).exists():
        what = "does not exist" if not run_dir.exists() else f"holds no {CHECKPOINT}"
        raise TrainingError(
            f"--resume: {run_dir} {what}, so there is no run to continue; "
            "drop --resume to start a new run there"
        )


def _stop_requested(stop: StopRequest, d: Dist, device: torch.device) -> bool:
    """Whether any rank received SIGINT/SIGTERM (all ranks stop after the same step)."""
    flag = stop.received is not None
    if d.world == 1:
        return flag
    t = torch.tensor([float(flag)], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str) -> tuple[Dist, torch.device]:
    """Reads torchrun's environment; starts the process group (NCCL on GPUs, gloo on CPU)."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return Dist(), _device(device, 0)
    d = Dist(
        int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0))
    )
    dev = _device(device, d.local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return d, dev


def _device(name: str, local_rank: int) -> torch.device:
    """--device -> torch.device (an absent one: DeviceError naming those that exist); under
    torchrun a plain `cuda` is the process's local GPU."""
    from musicvae.devices import resolve_device

    device = resolve_device(name, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return device


def step_seed(seed: int, step: int, rank: int, stream: int) -> int:
    return int(np.random.SeedSequence([seed, step, rank, stream]).generate_state(1)[0])


def batch_indices(n: int, batch: int, step: int, seed: int) -> np.ndarray:
    """The global batch of a step: epoch-wise permutations seeded by (seed, epoch)."""
    per_epoch = max(1, n // batch)
    epoch, k = divmod(step, per_epoch)
    perm = np.random.default_rng([seed, epoch]).permutation(n)
    if n < batch:
        return np.resize(perm, batch)
    return perm[k * batch : (k + 1) * batch]


class Batches:
    """Tensors for a step's (rank's share of the) batch, with Magenta's augmentation."""

    def __init__(self, dataset: WindowDataset, config: Config, device: torch.device):
        self.dataset, self.config, self.device = dataset, config, device

    def get(self, indices: np.ndarray, rng: np.random.Generator | None = None):
        tokens = self.dataset.tokens(indices)
        tr = self.config.data.transpose_range
        if rng is not None and tr is not None:
            tokens = build_converter(self.config.data).transpose_tokens(tokens, tr[0], tr[1], rng)
        inputs, outputs, lengths = self.dataset.batch(indices, tokens)
        to = dict(device=self.device)
        return (
            torch.from_numpy(inputs).to(**to),
            torch.from_numpy(outputs).to(**to),
            torch.from_numpy(lengths).to(**to),
        )


def adam(params: list[torch.nn.Parameter], learning_rate: float) -> torch.optim.Adam:
    """Magenta's optimizer (Adam; TF's default betas and epsilon are torch's) over `params`:
    torch's fused kernel where this torch and device have one (one pass per tensor instead of
    ~10 operations: 2.7 vs 18.8 ms a step for cat-mel_2bar_small's 4.4M parameters on 2 CPU
    threads; the same updates within fp32 rounding), else the per-tensor loop. Each step bumps
    the parameters' version counters, which the fused kernel leaves alone."""
    try:
        optimizer = torch.optim.Adam(params, lr=learning_rate, fused=True)
    except (RuntimeError, TypeError, ValueError):  # no fused kernel for these tensors
        return torch.optim.Adam(params, lr=learning_rate)
    # The fused kernel leaves the parameters' version counters alone; bump them, so that
    # whatever keys on them (the C decode loop's prepared weights) sees the step.
    optimizer.register_step_post_hook(
        lambda *_: torch.autograd.graph.increment_version(
            [p for group in optimizer.param_groups for p in group["params"]]
        )
    )
    return optimizer


def step_schedule(hp: HParams, step: int, training: bool) -> dict[str, float]:
    """The loop-owned schedules of a step, as the model's keyword arguments: KL weight beta
    and scheduled-sampling probability (Magenta's eval mode always samples when scheduled)."""
    return {
        "beta": schedules.beta(step, hp.max_beta, hp.beta_rate),
        "sampling_probability": schedules.sampling_probability(
            step, hp.sampling_schedule, hp.sampling_rate, training
        ),
    }


def _generator(device: torch.device, seed: int) -> torch.Generator:
    g = torch.Generator(device=device)
    g.manual_seed(seed)
    return g


@torch.no_grad()
def evaluate(
    model: MusicVAE,
    batches: Batches,
    eval_set: WindowDataset,
    step: int,
    batch_size: int,
    n_batches: int,
    seed: int,
) -> dict[str, float]:
    """Eval loss (Magenta's eval mode), teacher-forced and sampled accuracy from z = mu."""
    model.eval()
    order = np.random.default_rng([seed, 10**6]).permutation(len(eval_set))
    sums: dict[str, float] = {}
    count = 0
    for b in range(n_batches):
        idx = order[b * batch_size : (b + 1) * batch_size]
        if len(idx) == 0:
            break
        inputs, outputs, lengths = batches.get(idx)
        g = _generator(inputs.device, step_seed(seed, step, 0, 99 + b))
        schedule = step_schedule(batches.config.hparams, step, training=False)
        out = model(inputs, outputs, lengths, **schedule, generator=g)
        mu, _ = model.encode(inputs, lengths)
        logits = model.teacher_forced_logits(outputs, mu)
        _, correct, mask = reconstruction(logits, outputs, lengths, model.depths)
        tf_acc = accuracy_metrics(correct, mask)["metrics/accuracy"]
        sampled = model.sample_accuracy(inputs, outputs, lengths, generator=g, temperature=1.0)
        values = {k: float(v) for k, v in out.items()}
        values["accuracy_teacher_forced"] = float(tf_acc)
        values["accuracy_sampled"] = float(sampled)
        for k, v in values.items():
            sums[k] = sums.get(k, 0.0) + v * len(idx)
        count += len(idx)
    model.train()
    return {f"eval/{k}": v / max(count, 1) for k, v in sums.items()}


class MetricsLog:
    """metrics.jsonl (one JSON object per logged step) and TensorBoard event files."""

    def __init__(self, run_dir: Path, resume_step: int):
        self.path = run_dir / "metrics.jsonl"
        if self.path.exists():  # drop lines a killed run wrote after its last checkpoint
            kept = [
                line
                for line in self.path.read_text().splitlines()
                if line and json.loads(line).get("step", 0) <= resume_step
            ]
            self.path.write_text("".join(line + "\n" for line in kept))
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(run_dir / "tensorboard"))
        except ImportError:  # tensorboard is a dependency; keep training without it
            log.warning("tensorboard is not installed: no event files")
            self.tb = None

    def write(self, step: int, values: dict[str, float]) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps({"step": step, **values}) + "\n")
        if self.tb is not None:
            for k, v in values.items():
                self.tb.add_scalar(k, v, step)
            self.tb.flush()

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def initial_weights(source: str | Path, config: Config, model: MusicVAE) -> int:
    """Loads the weights of another run (its folder or checkpoint.pt) into `model`; the
    optimizer, schedules and step start afresh. Returns the source's step.

    The source must hold the same architecture; other hparams (KL weight, free bits, learning
    rate, sampling schedule) may differ: that is what a fine-tune changes.
    """
    path = Path(source)
    if path.is_dir():
        path = path / CHECKPOINT
    if not path.exists():
        raise TrainingError(f"--init-from: no run folder or checkpoint at {source}")
    state = load_checkpoint(path)  # CheckpointError names an unreadable file
    if "model" not in state or "config" not in state:
        raise TrainingError(f"--init-from: {path} is not a musicvae training checkpoint")
    saved = Config.from_dict(state["config"])
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as e:
        first = str(e).strip().splitlines()[-1].strip() if str(e).strip() else ""
        raise TrainingError(
            f"--init-from: {path} holds a {saved.name} model whose weights do not fit "
            f"{config.name} with these --hparams ({first})"
        ) from None
    return int(state.get("step", 0))


def _check_run_dir(run_dir: Path, config: Config, resume: bool) -> dict | None:
    path = run_dir / CHECKPOINT
    if not path.exists():
        return None
    if not resume:
        raise TrainingError(
            f"{run_dir} already holds a checkpoint: add --resume to continue "
            "it, or choose another --run-dir"
        )
    state = load_checkpoint(path)
    saved = Config.from_dict(state["config"])
    if saved != config:
        raise TrainingError(
            f"{run_dir} holds a run of {saved.name} with other settings; resume it with the "
            f"same --config/--hparams or choose another --run-dir"
        )
    return state


def train(
    config: Config, data_dir: str | Path, run_dir: str | Path, options: TrainOptions
) -> dict[str, float]:
    """Trains (or resumes) a model; returns the last logged metrics.

    SIGINT/SIGTERM stop it after the current step, whose checkpoint is saved: it then raises
    TrainingInterrupted (a KeyboardInterrupt) naming the step kept. Invalid options raise a
    TrainingError before any folder is made.
    """
    with StopRequest() as stop:
        return _train(config, data_dir, run_dir, options, stop)


def _train(
    config: Config,
    data_dir: str | Path,
    run_dir: str | Path,
    options: TrainOptions,
    stop: StopRequest,
) -> dict[str, float]:
    from tqdm import tqdm

    check_options(options)
    d, device = init_distributed(options.device)
    run_dir = Path(run_dir)
    check_run_options(options, device, run_dir)
    batch_size = options.batch_size or config.hparams.batch_size
    if batch_size % d.world:
        raise TrainingError(f"batch size {batch_size} is not divisible by {d.world} processes")
    train_set = WindowDataset(data_dir, "train", config)
    try:
        eval_set = WindowDataset(data_dir, "eval", config)
    except ValueError:
        log.warning("%s has no eval windows: evaluating on train windows", data_dir)
        eval_set = train_set

    torch.manual_seed(options.seed)  # identical initial weights on every rank
    model = build_model(config).to(device)
    optimizer = adam(
        [p for p in model.parameters() if p.requires_grad], config.hparams.learning_rate
    )
    start = 0
    state = _check_run_dir(run_dir, config, options.resume)
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start = int(state["step"])
        log.info("resumed %s at step %d", run_dir, start)
        init_from = state.get("init_from")
    elif options.init_from:
        source_step = initial_weights(options.init_from, config, model)
        init_from = {"source": str(options.init_from), "step": source_step}
        log.info("starting from the weights of %s (step %d)", options.init_from, source_step)
    else:
        init_from = None
    if d.main:
        from musicvae.outputs import check_writable

        check_writable(run_dir, "--run-dir")
    wrapped = model
    if d.world > 1:
        wrapped = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    metrics = MetricsLog(run_dir, start) if d.main else None
    batches = Batches(train_set, config, device)
    eval_batches = Batches(eval_set, config, device)
    hp = config.hparams
    params = [p for p in model.parameters() if p.requires_grad]
    # check_run_options refused an explicit --bf16 where the device lacks bf16
    bf16 = default_bf16(device) if options.bf16 is None else options.bf16
    if d.main:
        chosen = "" if options.bf16 is not None else " (this device's default; --fp32 for fp32)"
        log.info("precision: %s%s", "bf16 matrix products" if bf16 else "fp32", chosen)

    def save(step: int) -> bool:
        """Rank 0 writes the checkpoint of `step`; True when it is on disk."""
        if not d.main:
            return True
        return save_checkpoint(
            run_dir / CHECKPOINT,
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "step": step,
                "config": config.to_dict(),
                "seed": options.seed,
                "data": str(data_dir),
                "torch_version": torch.__version__,
                "init_from": init_from,
            },
        )

    bar = tqdm(
        total=options.steps,
        initial=start,
        disable=not (options.progress and d.main),
        unit="step",
        desc=config.name,
    )
    last: dict[str, float] = {}
    t0, done_since = time.perf_counter(), 0
    skipped = 0
    last_saved, saved_at = start, time.monotonic()
    for step in range(start, options.steps):
        idx = batch_indices(len(train_set), batch_size, step, options.seed)[d.rank :: d.world]
        rng = np.random.default_rng(step_seed(options.seed, step, d.rank, 1))
        inputs, outputs, lengths = batches.get(idx, rng)
        g = _generator(device, step_seed(options.seed, step, d.rank, 2))
        lr = schedules.learning_rate(step, hp.learning_rate, hp.decay_rate, hp.min_learning_rate)
        for group in optimizer.param_groups:
            group["lr"] = lr
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            schedule = step_schedule(hp, step, training=True)
            out = wrapped(inputs, outputs, lengths, **schedule, generator=g)
        loss = out["loss"]
        if not torch.isfinite(loss):
            raise TrainingError(
                f"the loss became {float(loss.detach())} at step {step}; the last good checkpoint "
                f"(step {last_saved}) is kept in {run_dir}: resume it with --resume, e.g. "
                "with a lower learning_rate in --hparams"
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = float(torch.nn.utils.clip_grad_norm_(params, hp.grad_clip))
        if math.isfinite(norm) and norm < hp.grad_norm_clip_to_zero:
            optimizer.step()
        else:  # Magenta zeroes such a step's gradients: we skip it
            skipped += 1
        done_since += 1
        completed = step + 1
        if d.main and (completed % options.log_every == 0 or completed == options.steps):
            rate = done_since / (time.perf_counter() - t0)
            last = {k: float(v.detach()) for k, v in out.items()}
            last.update(lr=lr, grad_norm=norm, steps_per_s=rate, skipped_steps=skipped)
            metrics.write(completed, last)
            bar.set_postfix(
                loss=f"{last['loss']:.3g}", acc=f"{last['metrics/accuracy']:.3f}", refresh=False
            )
            t0, done_since = time.perf_counter(), 0
        if d.main and (completed % options.eval_every == 0 or completed == options.steps):
            ev = evaluate(
                model,
                eval_batches,
                eval_set,
                completed,
                batch_size // d.world,
                options.eval_batches,
                options.seed,
            )
            metrics.write(completed, ev)
            last.update(ev)
        stopping = _stop_requested(stop, d, device)
        minutes = options.checkpoint_minutes
        if (
            completed % options.checkpoint_every == 0
            or completed == options.steps
            or stopping
            or (minutes > 0 and time.monotonic() - saved_at >= minutes * 60)
        ):
            if save(completed):
                last_saved = completed
            saved_at = time.monotonic()
        bar.update(1)
        if stopping:
            bar.close()
            if metrics is not None:
                metrics.close()
            name = stop.received or "a stop signal on another rank"
            message = (
                f"{name}: stopped after step {completed}; the checkpoint of step {last_saved} "
                f"is kept in {run_dir / CHECKPOINT} (continue with --resume)"
            )
            log.warning(message)
            raise TrainingInterrupted(message, last_saved, name)
    bar.close()
    if metrics is not None:
        metrics.close()
    if d.world > 1:
        dist.barrier()
    return last
