"""The study command end to end on debug sizes: every stage, the report, resuming."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from musicvae.study.runner import StudyError, StudyOptions, run_study, trained_step
from tests.conftest import REPO, shared_path

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """One debug study on the real folk MIDI of ../shared/corpus."""
    corpus = shared_path("corpus", "folk")
    out = tmp_path_factory.mktemp("study16")
    options = StudyOptions.debug_sizes(out, input=str(corpus), progress=False)
    return options, run_study(options, publish=out / "published")


def test_every_stage_and_the_report(study):
    options, results = study
    out = options.out
    for kind in ("flat", "hierarchical"):
        rec = results[kind]["reconstruction"]
        assert rec["windows"] == options.eval_windows
        for key in ("teacher_forced", "sampled", "argmax"):
            assert 0.0 <= rec[key] <= 1.0
        assert rec["drop"] == pytest.approx(rec["teacher_forced"] - rec["sampled"])
        assert trained_step(out / "runs" / results[kind]["config"]) == options.steps
        for t in ("0.5", "1.0"):
            prior = results[kind]["prior"][t]
            assert prior["samples"] == options.prior_samples
            assert 0.0 <= prior["classifier"]["accuracy"] <= 1.0
            assert prior["lm_nats_per_step"] < 0
        assert len(results[kind]["latent"]["hamming_to_a"]) == 11
        assert np.array(results[kind]["attributes"]["matrix"]).shape == (5, 5)
        assert len(list((out / "report" / "samples" / kind).glob("*.mid"))) == 8
    data = results["data"]
    # The data-space baseline moves from A to B in equal steps (1/d granularity).
    hamming = data["data_space"]["hamming_to_a"]
    assert hamming[0] == 0.0 and hamming[-1] == 1.0
    assert np.abs(np.array(hamming) - np.linspace(0, 1, 11)).max() < 0.05
    assert -np.log(90) < data["lm_nats_per_step"] < 0  # better than uniform after training
    report = (out / "report" / "report.md").read_text()
    assert "0.883" in report and "0.812" in report and "DEBUG" in report
    for name in ("curves.png", "interpolation.png", "attributes.png"):
        assert (out / "report" / name).read_bytes()[:8] == PNG
        assert (out / "published" / name).read_bytes()[:8] == PNG
    saved = json.loads((out / "report" / "results.json").read_text())
    assert saved["trend"]["shown"] == (
        saved["flat"]["reconstruction"]["drop"] - saved["hierarchical"]["reconstruction"]["drop"]
        >= 0.10
    )
    curves = [
        json.loads(line)
        for line in (out / "runs" / results["flat"]["config"] / "metrics.jsonl")
        .read_text()
        .splitlines()
    ]
    assert any("eval/accuracy_sampled" in row for row in curves)


def test_rerun_continues_and_keeps_what_is_done(study):
    options, results = study
    out = options.out
    flat_run = out / "runs" / results["flat"]["config"]
    stamp = (flat_run / "checkpoint.pt").stat().st_mtime_ns
    eval_json = out / "eval" / f"{results['flat']['config']}.json"
    eval_stamp = eval_json.stat().st_mtime_ns
    again = run_study(options)
    assert (flat_run / "checkpoint.pt").stat().st_mtime_ns == stamp  # not retrained
    assert eval_json.stat().st_mtime_ns == eval_stamp  # not re-evaluated
    assert again["flat"] == results["flat"]
    more = StudyOptions.debug_sizes(
        out, input=options.input, steps=options.steps + 2, progress=False
    )
    continued = run_study(more)
    assert trained_step(flat_run) == options.steps + 2
    assert continued["flat"]["step"] == continued["hierarchical"]["step"] == options.steps + 2
    steps = [
        json.loads(line)["step"] for line in (flat_run / "metrics.jsonl").read_text().splitlines()
    ]
    assert max(steps) == options.steps + 2


def test_other_settings_are_refused(study):
    options, _ = study
    changed = StudyOptions.debug_sizes(options.out, input=options.input, batch=4, progress=False)
    with pytest.raises(StudyError, match="batch"):
        run_study(changed)


def test_command_line_errors_are_one_line(tmp_path):
    tool = str(REPO / "tools" / "study_16bar.py")
    empty = tmp_path / "empty"
    empty.mkdir()
    for args, message in (
        (["--steps", "0"], "--steps must be at least 1"),
        (["--input", str(empty)], "no MIDI files"),
    ):
        run = subprocess.run(
            [sys.executable, tool, "--out", str(tmp_path / "out"), "--debug", "--quiet", *args],
            capture_output=True,
            text=True,
        )
        assert run.returncode == 2, run.stderr
        assert message in run.stderr and "Traceback" not in run.stderr
