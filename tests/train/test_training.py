"""Training: runs, resumes exactly, survives bad input, torchrun DDP on CPU."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from musicvae.builders import build_model
from musicvae.configs import Config, get_config
from musicvae.data import prepare
from musicvae.data.dataset import DatasetError
from musicvae.data.windows import find_midi_files
from musicvae.train import checkpoint as ckpt
from musicvae.train.loop import TrainingError, TrainOptions, train
from tests.conftest import FIXTURES, REPO

CONFIG = get_config("debug-cat-mel_2bar")
QUICK = dict(batch_size=8, log_every=2, eval_every=5, eval_batches=1, progress=False)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("data") / "mel2"
    prepare.prepare_dataset(
        get_config("cat-mel_2bar_small"),
        find_midi_files([FIXTURES / "golden" / "corpus"]),
        out,
        eval_fraction=0.3,
        progress=False,
    )
    return out


def losses(run_dir: Path) -> list[tuple[int, float]]:
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [(x["step"], x["loss"]) for x in lines if "loss" in x]


def test_training_logs_evaluates_and_checkpoints(dataset, tmp_path):
    last = train(CONFIG, dataset, tmp_path / "run", TrainOptions(steps=6, **QUICK))
    assert {
        "loss",
        "metrics/accuracy",
        "lr",
        "steps_per_s",
        "eval/accuracy_teacher_forced",
        "eval/accuracy_sampled",
        "eval/loss",
    } <= set(last)
    logged = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in logged if "loss" in x] == [2, 4, 6]
    assert any(
        p.name.startswith("events.out.tfevents")
        for p in (tmp_path / "run" / "tensorboard").iterdir()
    )
    state = ckpt.load_checkpoint(tmp_path / "run" / ckpt.CHECKPOINT)
    assert state["step"] == 6 and Config.from_dict(state["config"]) == CONFIG
    model = build_model(CONFIG)
    model.load_state_dict(state["model"])


def test_killed_and_resumed_run_equals_uninterrupted(dataset, tmp_path):
    full = tmp_path / "full"
    train(CONFIG, dataset, full, TrainOptions(steps=8, checkpoint_every=4, **QUICK))
    part = tmp_path / "part"
    train(CONFIG, dataset, part, TrainOptions(steps=4, checkpoint_every=4, **QUICK))
    with open(part / "metrics.jsonl", "a") as f:  # a killed run logged past its checkpoint
        f.write(json.dumps({"step": 6, "loss": 123.0}) + "\n")
    train(CONFIG, dataset, part, TrainOptions(steps=8, checkpoint_every=4, resume=True, **QUICK))
    assert losses(part) == losses(full)
    a = ckpt.load_checkpoint(full / ckpt.CHECKPOINT)["model"]
    b = ckpt.load_checkpoint(part / ckpt.CHECKPOINT)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_run_dir_rules(dataset, tmp_path):
    train(CONFIG, dataset, tmp_path / "run", TrainOptions(steps=2, **QUICK))
    with pytest.raises(TrainingError, match="--resume"):
        train(CONFIG, dataset, tmp_path / "run", TrainOptions(steps=4, **QUICK))
    other = get_config("debug-cat-mel_2bar").hparams.override(z_size=4)
    import dataclasses

    with pytest.raises(TrainingError, match="other settings"):
        train(
            dataclasses.replace(CONFIG, hparams=other),
            dataset,
            tmp_path / "run",
            TrainOptions(steps=4, resume=True, **QUICK),
        )


def test_bad_datasets_give_clear_errors(dataset, tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        train(CONFIG, tmp_path / "nope", tmp_path / "r1", TrainOptions(steps=1, **QUICK))
    with pytest.raises(DatasetError, match="prepared for config"):
        train(
            get_config("debug-cat-drums_2bar"),
            dataset,
            tmp_path / "r2",
            TrainOptions(steps=1, **QUICK),
        )
    empty = tmp_path / "empty"
    (empty / "in").mkdir(parents=True)
    (empty / "in" / "x.mid").write_bytes(b"")
    prepare.prepare_dataset(
        get_config("cat-mel_2bar_small"),
        find_midi_files([empty / "in"]),
        empty / "ds",
        progress=False,
    )
    with pytest.raises(DatasetError, match="no train windows"):
        train(CONFIG, empty / "ds", tmp_path / "r3", TrainOptions(steps=1, **QUICK))
    (tmp_path / "half").mkdir()
    with pytest.raises(DatasetError, match="manifest"):
        train(CONFIG, tmp_path / "half", tmp_path / "r4", TrainOptions(steps=1, **QUICK))


def test_nan_loss_stops_and_keeps_last_good_checkpoint(dataset, tmp_path, monkeypatch):
    run = tmp_path / "run"
    train(CONFIG, dataset, run, TrainOptions(steps=4, checkpoint_every=2, **QUICK))
    good = ckpt.load_checkpoint(run / ckpt.CHECKPOINT)
    from musicvae.models import vae

    real_forward = vae.MusicVAE.forward
    training_calls = []  # the resumed run trains steps 4, 5, ...: poison from step 5 on

    def poisoned(self, *args, **kwargs):
        out = real_forward(self, *args, **kwargs)
        training_calls.append(self.training)
        if sum(training_calls) >= 2 and self.training:
            out["loss"] = out["loss"] * float("nan")
        return out

    monkeypatch.setattr(vae.MusicVAE, "forward", poisoned)
    with pytest.raises(TrainingError, match="step 5.*step 4"):
        train(
            CONFIG, dataset, run, TrainOptions(steps=10, checkpoint_every=2, resume=True, **QUICK)
        )
    kept = ckpt.load_checkpoint(run / ckpt.CHECKPOINT)
    assert kept["step"] == 4
    assert all(torch.equal(kept["model"][k], good["model"][k]) for k in good["model"])


def test_full_disk_keeps_previous_checkpoint(dataset, tmp_path, monkeypatch):
    run = tmp_path / "run"
    train(CONFIG, dataset, run, TrainOptions(steps=2, checkpoint_every=2, **QUICK))
    real_save = torch.save

    def full_disk(obj, f, *a, **k):
        with open(f, "wb") as handle:
            handle.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    train(CONFIG, dataset, run, TrainOptions(steps=4, checkpoint_every=2, resume=True, **QUICK))
    monkeypatch.setattr(torch, "save", real_save)
    state = ckpt.load_checkpoint(run / ckpt.CHECKPOINT)
    assert state["step"] == 2  # the step-4 checkpoint could not be written
    assert not (run / (ckpt.CHECKPOINT + ".tmp")).exists()


def test_cuda_device_without_gpu_is_a_clear_error(dataset, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the GPU test below covers --device cuda")
    from musicvae.devices import DeviceError

    with pytest.raises(DeviceError, match="no CUDA GPU is available; available: cpu"):
        train(CONFIG, dataset, tmp_path / "run", TrainOptions(steps=1, device="cuda", **QUICK))
    assert not (tmp_path / "run").exists()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_training_on_cuda_with_bf16(dataset, tmp_path):
    last = train(
        CONFIG, dataset, tmp_path / "run", TrainOptions(steps=4, device="cuda", bf16=True, **QUICK)
    )
    assert last["loss"] > 0


@pytest.mark.multiprocess
def test_torchrun_two_processes_on_cpu(dataset, tmp_path):
    run = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "src")}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--standalone",
        "-m",
        "musicvae",
        "train",
        "--config",
        "debug-cat-mel_2bar",
        "--data",
        str(dataset),
        "--run-dir",
        str(run),
        "--steps",
        "4",
        "--batch-size",
        "8",
        "--log-every",
        "2",
        "--eval-every",
        "4",
        "--eval-batches",
        "1",
        "--quiet",
    ]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    state = ckpt.load_checkpoint(run / ckpt.CHECKPOINT)
    assert state["step"] == 4
    build_model(CONFIG).load_state_dict(state["model"])
    steps = [s for s, _ in losses(run)]
    assert steps == [2, 4]  # rank 0 alone logs


# ------------------------------------------------------------------ bad options (issue 8, item 10)


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(steps=0), "--steps must be a positive integer, got 0"),
        (dict(steps=-5), "--steps must be a positive integer, got -5"),
        (dict(batch_size=0), "--batch-size must be a positive integer, got 0"),
        (dict(checkpoint_every=0), "--checkpoint-every"),
        (dict(checkpoint_minutes=-1.0), "--checkpoint-minutes"),
        (dict(resume=True), "--resume: .*run does not exist"),
    ],
)
def test_unusable_options_fail_before_any_folder_is_made(dataset, tmp_path, changes, message):
    options = TrainOptions(**{**dict(steps=2, **QUICK), **changes})
    with pytest.raises(TrainingError, match=message):
        train(CONFIG, dataset, tmp_path / "run", options)
    assert not (tmp_path / "run").exists()


def test_resume_into_a_folder_without_checkpoint_is_an_error(dataset, tmp_path):
    (tmp_path / "run").mkdir()
    with pytest.raises(TrainingError, match="holds no checkpoint.pt"):
        train(CONFIG, dataset, tmp_path / "run", TrainOptions(steps=2, resume=True, **QUICK))
    assert list((tmp_path / "run").iterdir()) == []


def test_bf16_on_a_cpu_without_bf16_is_an_error(dataset, tmp_path, monkeypatch):
    from musicvae.train import loop

    # The probe reads the CPU's capabilities; pretend to be a CPU without AVX512-BF16/AMX.
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    assert not loop.bf16_supported(torch.device("cpu"))
    with pytest.raises(TrainingError, match="--bf16 .* this CPU has no native bfloat16"):
        train(CONFIG, dataset, tmp_path / "run", TrainOptions(steps=2, bf16=True, **QUICK))
    assert not (tmp_path / "run").exists()


def test_the_optimizer_step_bumps_the_weights_versions():
    """train.loop.adam's fused kernel would leave version counters alone; its step hook bumps
    them, so caches keyed on them (the C decode loop's weights) see every step."""
    from musicvae.train.loop import adam

    w = torch.nn.Parameter(torch.randn(4, 3))
    optimizer = adam([w], 1e-3)
    w.grad = torch.ones_like(w)
    before = w._version
    optimizer.step()
    assert w._version > before


def test_precision_defaults_to_bf16_only_on_cpus_with_bf16_units(dataset, tmp_path, monkeypatch):
    from musicvae.cli import build_parser
    from musicvae.train import loop

    def parsed(*flags):
        argv = ["train", "--config", "x", "--data", "d", "--run-dir", "r", "--steps", "1"]
        return build_parser().parse_args([*argv, *flags]).bf16

    assert (parsed(), parsed("--bf16"), parsed("--fp32")) == (None, True, False)
    with pytest.raises(SystemExit):
        parsed("--bf16", "--fp32")
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)
    monkeypatch.setattr(loop, "native_bf16", lambda: True)
    assert loop.default_bf16(torch.device("cpu"))
    assert not loop.default_bf16(torch.device("cuda"))  # GPUs: fp32 unless asked
    monkeypatch.setattr(loop, "native_bf16", lambda: False)  # emulated bf16: slower
    assert not loop.default_bf16(torch.device("cpu"))
    # A run without a precision trains (fp32 here, as the CPU now reads as without bf16).
    train(CONFIG, dataset, tmp_path / "run", TrainOptions(steps=2, **QUICK))
    assert (tmp_path / "run" / "checkpoint.pt").exists()


# ------------------------------------------------------------------ time-based checkpoints


def _poison_from(monkeypatch, first_bad_step: int) -> None:
    from musicvae.models import vae

    real_forward = vae.MusicVAE.forward
    training_calls = [0]  # the loop passes beta, not the step: count training steps (from 0)

    def poisoned(self, *args, **kwargs):
        out = real_forward(self, *args, **kwargs)
        if self.training:
            if training_calls[0] >= first_bad_step:
                out["loss"] = out["loss"] * float("nan")
            training_calls[0] += 1
        return out

    monkeypatch.setattr(vae.MusicVAE, "forward", poisoned)


@pytest.mark.parametrize("minutes, kept", [(1e-9, 3), (0.0, None)])
def test_time_based_checkpoints(dataset, tmp_path, monkeypatch, minutes, kept):
    # checkpoint_every is never reached and step 3 fails: only the clock can have saved step 3.
    _poison_from(monkeypatch, 3)
    run = tmp_path / "run"
    options = TrainOptions(steps=50, checkpoint_every=1000, checkpoint_minutes=minutes, **QUICK)
    with pytest.raises(TrainingError, match="loss became nan at step 3"):
        train(CONFIG, dataset, run, options)
    if kept is None:
        assert not (run / ckpt.CHECKPOINT).exists()
    else:
        assert ckpt.load_checkpoint(run / ckpt.CHECKPOINT)["step"] == kept


# ------------------------------------------------------------------ SIGINT / SIGTERM (item 5)


def _train_command(dataset: Path, run: Path, steps: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "musicvae",
        "train",
        "--config",
        "debug-cat-mel_2bar",
        "--data",
        str(dataset),
        "--run-dir",
        str(run),
        "--steps",
        str(steps),
        "--batch-size",
        "8",
        "--log-every",
        "1",
        "--eval-every",
        "100000",
        "--checkpoint-every",
        "100000",
        "--quiet",
    ]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_saves_the_current_step_and_resume_is_exact(dataset, tmp_path, sig):
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen(
        _train_command(dataset, run, 100000),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        metrics = run / "metrics.jsonl"
        for _ in range(1200):  # wait (up to 2 minutes) until a few steps are logged
            if proc.poll() is not None:
                break
            if metrics.exists() and len(metrics.read_text().splitlines()) >= 3:
                break
            time.sleep(0.1)
        assert proc.poll() is None, proc.stderr.read()[-3000:]
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == (130 if sig == signal.SIGINT else 143), stderr[-3000:]
    assert "Traceback" not in stderr
    state = ckpt.load_checkpoint(run / ckpt.CHECKPOINT)
    kept = int(state["step"])
    assert f"{sig.name}: stopped after step {kept}; the checkpoint of step {kept}" in stderr
    assert max(s for s, _ in losses(run)) == kept  # every logged step is in the checkpoint
    assert not (run / (ckpt.CHECKPOINT + ".tmp")).exists()

    # --resume continues exactly: same losses and weights as one uninterrupted run.
    total = kept + 3
    same = dict(QUICK, log_every=1, eval_every=100000, checkpoint_every=100000)
    train(CONFIG, dataset, run, TrainOptions(steps=total, resume=True, **same))
    full = tmp_path / "full"
    train(CONFIG, dataset, full, TrainOptions(steps=total, **same))
    assert losses(run) == losses(full)
    a = ckpt.load_checkpoint(full / ckpt.CHECKPOINT)["model"]
    b = ckpt.load_checkpoint(run / ckpt.CHECKPOINT)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_signal_handlers_are_restored_after_training(dataset, tmp_path):
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    train(CONFIG, dataset, tmp_path / "run", TrainOptions(steps=1, **QUICK))
    assert {s: signal.getsignal(s) for s in before} == before


# ------------------------------------------------------------------ --init-from (fine-tuning)


def test_init_from_starts_a_new_run_from_another_runs_weights(dataset, tmp_path):
    import dataclasses

    train(CONFIG, dataset, tmp_path / "a", TrainOptions(steps=4, **QUICK))
    source = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=False)
    # Other (non-architecture) hparams are what a fine-tune changes; a learning rate of 0 keeps
    # the weights, so the new run's checkpoint must hold exactly the source's weights.
    frozen = CONFIG.hparams.override(max_beta=0.05, learning_rate=0.0, min_learning_rate=0.0)
    tuned = dataclasses.replace(CONFIG, hparams=frozen)
    train(
        tuned,
        dataset,
        tmp_path / "b",
        TrainOptions(steps=2, init_from=str(tmp_path / "a"), **QUICK),
    )
    state = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=False)
    assert state["step"] == 2  # a new run: its own steps, not the source's
    assert state["init_from"] == {"source": str(tmp_path / "a"), "step": 4}
    assert state["model"].keys() == source["model"].keys()
    for name, weight in source["model"].items():
        assert torch.equal(state["model"][name], weight), name
    # Adam starts afresh: its step count is the new run's.
    assert all(int(s["step"]) == 2 for s in state["optimizer"]["state"].values())
    assert [step for step, _ in losses(tmp_path / "b")] == [2]


def test_init_from_refuses_other_architectures_resume_and_missing_runs(dataset, tmp_path):
    import dataclasses

    train(CONFIG, dataset, tmp_path / "a", TrainOptions(steps=2, **QUICK))
    wider = dataclasses.replace(CONFIG, hparams=CONFIG.hparams.override(z_size=4))
    source = str(tmp_path / "a")
    cases = [
        (wider, "b", dict(init_from=source), "--init-from: .* do not fit"),
        (CONFIG, "a", dict(init_from=source, resume=True), "use one of them"),
        (CONFIG, "c", dict(init_from=str(tmp_path / "x")), "no run folder or checkpoint at"),
    ]
    for config, run, extra, message in cases:
        with pytest.raises(TrainingError, match=message):
            train(config, dataset, tmp_path / run, TrainOptions(steps=2, **extra, **QUICK))
    assert not (tmp_path / "b").exists() and not (tmp_path / "c").exists()
