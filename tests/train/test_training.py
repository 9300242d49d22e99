"""Training: runs, resumes exactly, survives bad input, torchrun DDP on CPU."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
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
    with pytest.raises(TrainingError, match="no CUDA GPU"):
        train(CONFIG, dataset, tmp_path / "run", TrainOptions(steps=1, device="cuda", **QUICK))


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
