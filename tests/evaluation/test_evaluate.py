"""`evaluate` end to end on a random debug model (seconds): the files, the key names, the card,
the CLI's table, and one-line errors for bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from musicvae import cli
from musicvae.builders import build_model
from musicvae.configs import get_config
from musicvae.data import prepare as build
from musicvae.data.windows import find_midi_files
from musicvae.evaluation import evaluate, load_windows
from musicvae.evaluation.card import recommended_temperature, write_card
from musicvae.inference import TrainedModel, save_model_dir
from musicvae.models.losses import reconstruction as magenta_loss
from tests.conftest import FIXTURES

CORPUS = FIXTURES / "golden" / "corpus"
FOLK = CORPUS / "folk" / "airds"  # 2 tunes, 65 melody windows
SMALL = dict(samples=40, pairs=8, attribute_windows=16)
TABLE1 = {"teacher_forced_accuracy", "sampled_accuracy", "argmax_accuracy", "r_loss", "kl", "elbo"}


def _model(tmp_path_factory, name: str) -> Path:
    torch.manual_seed(0)
    config = get_config(name)
    return save_model_dir(build_model(config), config, tmp_path_factory.mktemp("model") / "m")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return _model(tmp_path_factory, "debug-cat-mel_2bar")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("data") / "mel2"
    config = get_config("cat-mel_2bar_small")
    build.prepare_dataset(config, find_midi_files([FOLK]), out, eval_fraction=0.5, progress=False)
    return out


@pytest.fixture(scope="module")
def result(model_dir, dataset, tmp_path_factory):
    return evaluate(model_dir, dataset, tmp_path_factory.mktemp("eval"), seed=3, **SMALL)


def test_writes_metrics_report_and_plots(result):
    names = sorted(f.name for f in result.files)
    assert names == sorted(
        ["metrics.json", "report.md", "realism.png", "samples.png", "interpolation.png"]
        + ["attributes.png"]
    )
    for f in result.files:
        assert f.is_file() and f.parent == result.output_dir
        if f.suffix == ".png":
            assert f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((result.output_dir / "metrics.json").read_text()) == result.metrics
    report = (result.output_dir / "report.md").read_text()
    for section in ("## Reconstruction", "## Prior realism", "## Interpolation", "## Attribute"):
        assert section in report


def test_metric_names_and_ranges(result):
    m = result.metrics
    rec = m["reconstruction"]
    assert TABLE1 <= set(rec) and set(rec["streams"]) == {"melody"}
    assert rec["streams"]["melody"]["teacher_forced_accuracy"] == rec["teacher_forced_accuracy"]
    assert rec["elbo"] == pytest.approx(-(rec["r_loss"] + rec["kl"]))
    real = m["realism"]
    assert {"0", "0.5", "1"} <= set(real["temperatures"])
    for entry in real["temperatures"].values():
        assert entry["samples"] == 40 and 0 <= entry["degenerate_rate"] <= 1
        assert set(entry["overlap"]) == set(real["data"]["features"])
        assert all(0 <= v <= 1 for v in entry["overlap"].values())
    assert float(real["recommended_temperature"]["value"]) in {
        float(t) for t in real["temperatures"]
    }
    interp = m["interpolation"]
    assert interp["pairs"] == 8
    assert interp["data"]["hamming_to_start"][0] == 0 and interp["data"]["hamming_to_end"][-1] == 0
    assert interp["data"]["hamming_to_start"][-1] == 1
    attrs = m["attributes"]
    assert len(attrs["matrix"]) == 5 and all(len(r) == 5 for r in attrs["matrix"])


def test_teacher_forced_accuracy_matches_the_training_loss_code(result, model_dir, dataset):
    """An independent path: models.losses.reconstruction (the training metric) on the batch."""
    model = TrainedModel.load(model_dir)
    windows = load_windows(model.config, dataset, "eval")
    inputs, outputs, lengths = windows.batch(model.config)
    _, mu, _ = model.encode_tensors(inputs, lengths)
    logits = model.teacher_forced_logits(outputs, lengths, mu)
    r_loss, correct, mask = magenta_loss(
        torch.from_numpy(logits), torch.from_numpy(outputs), torch.from_numpy(lengths), (90,)
    )
    rec = result.metrics["reconstruction"]
    assert rec["windows"] == len(windows)
    assert rec["teacher_forced_accuracy"] == pytest.approx(float(correct[0].sum() / mask.sum()))
    assert rec["r_loss"] == pytest.approx(float(r_loss.mean()), rel=1e-5)


def test_same_seed_same_metrics(result, model_dir, dataset, tmp_path):
    again = evaluate(model_dir, dataset, tmp_path, seed=3, make_plots=False, **SMALL).metrics
    first = dict(result.metrics)
    first.pop("elapsed_s"), again.pop("elapsed_s")
    assert again == first


def test_card_holds_the_metrics_and_the_temperature(result, model_dir, tmp_path):
    folder = Path(shutil.copytree(model_dir, tmp_path / "model"))
    assert recommended_temperature(folder) is None  # not evaluated yet
    write_card(folder, result.metrics)
    card = json.loads((folder / "card.json").read_text())
    assert card["config"] == "debug-cat-mel_2bar"  # provenance kept
    assert card["evaluation"] == result.metrics
    expected = result.metrics["realism"]["recommended_temperature"]["value"]
    assert recommended_temperature(folder) == expected
    readme = (folder / "README.md").read_text()
    rec = result.metrics["reconstruction"]
    assert f"{rec['teacher_forced_accuracy']:.4f}" in readme
    assert f"Recommended sampling temperature: **{expected:g}**" in readme


def test_card_counts_the_steps_of_a_fine_tunes_source_run():
    from musicvae.evaluation.card import card_markdown

    plain = card_markdown({"config": "c", "steps": 7250})
    assert "- Training steps: 7250" in plain
    tuned = card_markdown(
        {"config": "c", "steps": 3000, "init_from": {"source": "r", "step": 8500}}
    )
    assert "- Training steps: 11,500 (8,500 of the source run, then 3,000 fine-tuning)" in tuned


def run(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_on_a_midi_folder(capsys, model_dir, tmp_path):
    out_dir = tmp_path / "out"
    code, out, err = run(
        capsys, "evaluate", "--model", model_dir, "--data", FOLK, "--output", out_dir,
        "--samples", 20, "--no-plots",
    )  # fmt: skip
    assert code == 0, err
    assert "on 65 windows" in out and "reconstruction: teacher-forced" in out
    assert "recommended temperature:" in out and "T=0.5" in out
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert metrics["reconstruction"]["windows"] == 65
    assert not list(out_dir.glob("*.png"))


def _one_line_error(capsys, *argv) -> str:
    code, out, err = run(capsys, *argv)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (code, err)
    return lines[0]


def test_error_empty_midi_folder(capsys, model_dir, tmp_path):
    (tmp_path / "empty").mkdir()
    line = _one_line_error(
        capsys, "evaluate", "--model", model_dir, "--data", tmp_path / "empty", "--output", tmp_path
    )
    assert "no .mid/.midi files" in line


def test_error_no_eval_split(capsys, model_dir, tmp_path):
    data = tmp_path / "train-only"
    config = get_config("cat-mel_2bar_small")
    build.prepare_dataset(config, find_midi_files([FOLK]), data, eval_fraction=0.0, progress=False)
    line = _one_line_error(
        capsys, "evaluate", "--model", model_dir, "--data", data, "--output", tmp_path / "o"
    )
    assert "no eval windows" in line and "--split train" in line
    code, _, _ = run(
        capsys, "evaluate", "--model", model_dir, "--data", data, "--output", tmp_path / "o",
        "--split", "all", "--samples", 10, "--no-plots",
    )  # fmt: skip
    assert code == 0


def test_error_model_data_mismatch(capsys, dataset, tmp_path_factory, tmp_path):
    drums = _model(tmp_path_factory, "debug-cat-drums_2bar")
    line = _one_line_error(
        capsys, "evaluate", "--model", drums, "--data", dataset, "--output", tmp_path
    )
    assert "prepared for config" in line


def test_error_missing_model(capsys, dataset, tmp_path):
    line = _one_line_error(
        capsys, "evaluate", "--model", tmp_path / "nope", "--data", dataset, "--output", tmp_path
    )
    assert "no model at" in line


def test_drum_model(tmp_path_factory, tmp_path):
    """Drums: per-instrument hits and density; no attribute matrix (melody only)."""
    drums = _model(tmp_path_factory, "debug-cat-drums_2bar")
    mma = CORPUS / "multitrack" / "mma"
    result = evaluate(drums, mma, tmp_path, make_plots=False, **SMALL)
    m = result.metrics
    assert set(m["reconstruction"]["streams"]) == {"drums"}
    assert {"hits_kick", "hits_snare", "density"} <= set(m["realism"]["data"]["features"])
    assert m["realism"]["criteria"]["features"] == ["density"]
    assert "skipped" in m["attributes"] and "matrix" not in m["attributes"]


def test_trio_model_reports_three_streams(tmp_path_factory, tmp_path):
    """Trio: per-stream Table 1 (overall = mean of streams, r_loss = sum), prefixed features."""
    trio = _model(tmp_path_factory, "debug-flat-trio_16bar")
    result = evaluate(trio, CORPUS / "multitrack", tmp_path, samples=8, pairs=2, make_plots=False)
    rec = result.metrics["reconstruction"]
    streams = rec["streams"]
    assert list(streams) == ["melody", "bass", "drums"]
    for key in ("teacher_forced_accuracy", "sampled_accuracy", "argmax_accuracy"):
        assert rec[key] == pytest.approx(np.mean([s[key] for s in streams.values()]))
    assert rec["r_loss"] == pytest.approx(sum(s["r_loss"] for s in streams.values()))
    feats = result.metrics["realism"]["data"]["features"]
    assert {"melody/note_count", "bass/pitch_range", "drums/density"} <= set(feats)


def test_cli_card_writes_the_model_card(capsys, model_dir, dataset, tmp_path):
    folder = Path(shutil.copytree(model_dir, tmp_path / "model"))
    code, out, err = run(
        capsys, "evaluate", "--model", folder, "--data", dataset, "--output", tmp_path / "o",
        "--samples", 10, "--no-plots", "--card",
    )  # fmt: skip
    assert code == 0, err
    metrics = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert json.loads((folder / "card.json").read_text())["evaluation"] == metrics
    expected = metrics["realism"]["recommended_temperature"]["value"]
    assert recommended_temperature(folder) == expected
    assert f"recommended temperature: {expected:g}" in out
    line = _one_line_error(
        capsys, "evaluate", "--model", folder / "model.safetensors", "--data", dataset,
        "--output", tmp_path / "p", "--card",
    )  # fmt: skip
    assert "--card writes into a model folder" in line


def test_recommended_temperature_without_an_evaluated_card(tmp_path):
    assert recommended_temperature(tmp_path / "missing") is None
    (tmp_path / "card.json").write_text("{not json")
    assert recommended_temperature(tmp_path) is None
    (tmp_path / "card.json").write_text(json.dumps({"evaluation": {"realism": {}}}))
    assert recommended_temperature(tmp_path) is None
    card = {"evaluation": {"realism": {"recommended_temperature": {"value": 0.6}}}}
    (tmp_path / "card.json").write_text(json.dumps(card))
    assert recommended_temperature(tmp_path) == 0.6


def test_second_run_into_the_same_output_needs_overwrite(capsys, model_dir, dataset, tmp_path):
    argv = ("evaluate", "--model", model_dir, "--data", dataset, "--output", tmp_path / "ev")
    argv += ("--samples", "4", "--max-windows", "8", "--no-plots")
    assert run(capsys, *argv)[0] == 0
    first = (tmp_path / "ev" / "metrics.json").read_text()
    line = _one_line_error(capsys, *argv)
    assert "--overwrite" in line
    assert (tmp_path / "ev" / "metrics.json").read_text() == first  # the earlier run is kept
    assert run(capsys, *argv, "--overwrite")[0] == 0


def test_bad_data_leaves_no_output_folder(capsys, model_dir, tmp_path):
    (tmp_path / "empty").mkdir()
    out = tmp_path / "new" / "ev"
    _one_line_error(capsys, "evaluate", "--model", model_dir, "--data", tmp_path / "empty",
                    "--output", out)  # fmt: skip
    assert not (tmp_path / "new").exists()
