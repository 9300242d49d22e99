"""`musicvae import-magenta` / `export-magenta-js`: golden parity through TrainedModel, sources
(prefix, folder, .tar, magenta.js), and errors on broken or altered copies of the golden
checkpoints (../shared/magenta-golden/checkpoints/, written by Magenta 2.1.4; README there).

Parity tolerances are the issue's: mu, sigma, logits within 1e-4 absolute, r_loss within 1e-3
relative, greedy paths identical up to where Magenta's own temperature-1e-5 sample left the
argmax of its logits (see test_golden_models.py).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from musicvae.builders import build_model
from musicvae.checkpoints.exporter import export_magenta_js
from musicvae.checkpoints.importer import import_checkpoint, import_magenta, read_source
from musicvae.checkpoints.magenta import check_supported
from musicvae.cli import main
from musicvae.configs import get_config
from musicvae.errors import CheckpointError
from musicvae.inference import TrainedModel, load_model_dir, save_model_dir
from tests.checkpoints.test_tf_checkpoint import _fix_block_crcs
from tests.conftest import shared_path

GOLDEN = {
    "mel2_small": "cat-mel_2bar_small",
    "drums2_small": "cat-drums_2bar_small",
    "hierdec_mel16_tiny": "hierdec-mel_16bar",  # sizes 64/48/32: inferred, no --hparams
    "hierdec_trio16_tiny": "hierdec-trio_16bar",
}
ATOL = 1e-4
RTOL_LOSS = 1e-3


def golden_dir(name: str) -> Path:
    return shared_path("magenta-golden", "checkpoints", name)


def _r_loss(logits, outputs, lengths, depths) -> np.ndarray:
    """Summed softmax cross-entropy over valid steps and streams (Magenta's r_loss), (B,)."""
    valid = np.arange(logits.shape[1])[None, :] < lengths[:, None]  # (B, T)
    total = np.zeros(len(logits))
    cuts = np.cumsum(depths)[:-1]
    for lg, out in zip(np.split(logits, cuts, -1), np.split(outputs, cuts, -1), strict=True):
        lg = lg.astype(np.float64)
        top = lg.max(-1, keepdims=True)
        lse = np.log(np.exp(lg - top).sum(-1)) + top[..., 0]  # (B, T)
        total += ((lse - (lg * out).sum(-1)) * valid).sum(-1)
    return total


def _greedy_report(ours, g) -> int:
    """Assert argmax decoding follows Magenta's path up to and including the first step where
    Magenta's sample left the argmax of its logits; returns the steps compared."""
    best, theirs = g["greedy_logits"].argmax(-1), g["greedy_samples"].argmax(-1)
    ours = ours.argmax(-1)
    compared = 0
    for i in range(len(ours)):
        off = np.flatnonzero(theirs[i] != best[i])
        end = off[0] + 1 if len(off) else ours.shape[1]
        assert np.array_equal(ours[i, :end], best[i, :end]), f"sequence {i} leaves the path"
        compared += end
    return compared


@pytest.mark.parametrize("name", list(GOLDEN))
def test_import_cli_then_trained_model_parity(name, tmp_path, capsys):
    out = tmp_path / "model"
    assert (
        main(
            [
                "import-magenta",
                str(golden_dir(name)),
                "--config",
                GOLDEN[name],
                "--output",
                str(out),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert f"{GOLDEN[name]} (config from --config)" in printed and "model folder:" in printed
    g = dict(np.load(golden_dir(name) / "golden.npz"))
    model = TrainedModel.load(out, batch_size=16)  # 24 sequences: chunks of 16 and 8
    lengths = g["lengths"]
    z, mu, sigma = model.encode_tensors(g["inputs"], lengths, seed=0)
    assert np.abs(mu - g["mu"]).max() < ATOL and np.abs(sigma - g["sigma"]).max() < ATOL
    assert np.isfinite(z).all() and not np.array_equal(z, mu)
    logits = model.teacher_forced_logits(g["outputs"], lengths, g["mu"])
    assert logits.shape == g["tf_logits"].shape
    assert np.abs(logits - g["tf_logits"]).max() < ATOL  # zeros past each length, like Magenta's
    r_loss = _r_loss(logits, g["outputs"], lengths, model.model.depths)
    assert np.abs(r_loss / g["tf_r_loss"] - 1).max() < RTOL_LOSS
    samples = model.decode_to_tensors(g["mu"], g["outputs"].shape[1])
    if g["greedy_logits"].size:
        assert _greedy_report(samples, g) > 0.9 * lengths.size * samples.shape[1]
    else:  # trio: no logits from Magenta; streams whose paths are identical
        cuts = np.cumsum(model.model.depths)[:-1]
        streams = zip(
            np.split(samples, cuts, -1), np.split(g["greedy_samples"], cuts, -1), strict=True
        )
        same = sum(
            np.array_equal(a.argmax(-1)[i], b.argmax(-1)[i])
            for a, b in streams
            for i in range(len(samples))
        )
        assert same >= 2 * len(samples)


def test_tar_source(tmp_path):
    folder = golden_dir("mel2_small")
    tar_path = tmp_path / "cat-mel_2bar_small.tar"
    with tarfile.open(tar_path, "w") as tar:  # like the published .tar: files in a folder
        for f in ("model.ckpt.index", "model.ckpt.data-00000-of-00001"):
            tar.add(folder / f, arcname=f"cat-mel_2bar_small/{f.replace('model', 'mel')}")
    report = import_magenta(tar_path, tmp_path / "out", "cat-mel_2bar_small")
    assert report["source"].endswith("cat-mel_2bar_small.tar:cat-mel_2bar_small/mel.ckpt.index")
    direct, _, _ = import_checkpoint(folder, "cat-mel_2bar_small")
    loaded, _ = load_model_dir(tmp_path / "out")
    for k, v in direct.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k
    empty = tmp_path / "empty.tar"
    with tarfile.open(empty, "w") as tar:
        tar.add(folder / "config.txt", arcname="config.txt")
    with pytest.raises(CheckpointError, match=r"empty.tar: no checkpoint inside"):
        import_checkpoint(empty, "cat-mel_2bar_small")


def test_source_forms(tmp_path):
    folder = golden_dir("hierdec_mel16_tiny")
    forms = ["", "model.ckpt", "model.ckpt.index", "model.ckpt.data-00000-of-00001"]
    sources = [read_source(folder / f if f else folder) for f in forms]
    assert {s.location for s in sources} == {str(folder / "model.ckpt")}
    assert all(s.kind == "tf" and len(s.variables) == 27 for s in sources)
    nested = tmp_path / "runs" / "deep"
    nested.mkdir(parents=True)
    for f in forms[2:]:
        (nested / f).symlink_to(folder / f)
    assert read_source(tmp_path).location == str(nested / "model.ckpt")
    with pytest.raises(CheckpointError, match="does not exist"):
        read_source(tmp_path / "model.ckpt-9")


def test_magenta_js_source_without_config(tmp_path):
    """An exported folder whose config.json looks like magenta.js's own (no musicvae key):
    the spec and the weights choose the config, sizes included."""
    for name, expected in (("mel2_small", "cat-mel_2bar_small"), ("hierdec_mel16_tiny", None)):
        model_dir, js = tmp_path / f"{name}-model", tmp_path / f"{name}-js"
        import_magenta(golden_dir(name), model_dir, GOLDEN[name])
        assert (
            main(["export-magenta-js", str(model_dir), "--output", str(js), "--quantize", "2"]) == 0
        )
        ours, _, report = import_checkpoint(js)
        assert report["config_from"] == "config.json of a musicvae export"
        spec = json.loads((js / "config.json").read_text())
        del spec["musicvae"]
        (js / "config.json").write_text(json.dumps(spec))
        _, config, report = import_checkpoint(js)
        assert config.name == (expected or GOLDEN[name]), report
        assert config.hparams.z_size == ours.z_size


# ---------------------------------------------------------------- errors


def _copy(name: str, tmp_path: Path) -> Path:
    """A writable copy of a golden checkpoint folder (index + data only)."""
    for f in ("model.ckpt.index", "model.ckpt.data-00000-of-00001"):
        shutil.copy(golden_dir(name) / f, tmp_path / f)
    return tmp_path


def _cli_error(args, capsys) -> str:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    return err


def test_missing_shard_one_line(tmp_path, capsys):
    (tmp_path / "ckpt").mkdir()
    folder = _copy("mel2_small", tmp_path / "ckpt")
    (folder / "model.ckpt.data-00000-of-00001").unlink()
    err = _cli_error(
        [
            "import-magenta",
            str(folder),
            "--config",
            "cat-mel_2bar_small",
            "--output",
            str(tmp_path / "out"),
        ],
        capsys,
    )
    assert err.count("\n") == 1 and "cannot read checkpoint data" in err
    assert "model.ckpt.data-00000-of-00001" in err and not (tmp_path / "out").exists()


def test_truncated_data_one_line(tmp_path, capsys):
    data = _copy("drums2_small", tmp_path) / "model.ckpt.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:5_000_000])
    err = _cli_error(
        [
            "import-magenta",
            str(tmp_path / "model.ckpt"),
            "--config",
            "cat-drums_2bar_small",
            "--output",
            str(tmp_path / "out"),
        ],
        capsys,
    )
    assert err.count("\n") == 1 and "truncated" in err


def test_wrong_config_suggests_fitting_ones(tmp_path, capsys):
    err = _cli_error(
        [
            "import-magenta",
            str(golden_dir("hierdec_trio16_tiny")),
            "--config",
            "hierdec-mel_16bar",
            "--output",
            str(tmp_path / "out"),
        ],
        capsys,
    )
    first, *details = err.splitlines()
    assert "does not match config hierdec-mel_16bar" in first
    assert first.endswith("configs that fit this checkpoint: hierdec-trio_16bar")
    assert any("unexpected variable core_decoder/core_decoder_0" in d for d in details)


def test_tf_without_config_suggests(capsys, tmp_path):
    err = _cli_error(
        ["import-magenta", str(golden_dir("drums2_small")), "--output", str(tmp_path / "out")],
        capsys,
    )
    assert err.count("\n") == 1
    assert "pass --config NAME" in err and "cat-drums_2bar_small, cat-drums_2bar_big" in err


def test_cudnn_opaque_variables_reported(tmp_path, capsys):
    """An altered copy whose encoder variables carry cuDNN names (same key length)."""
    index = _copy("mel2_small", tmp_path) / "model.ckpt.index"
    table = bytearray(index.read_bytes())
    at = table.find(b"bidirectional_rnn")
    assert at > 0
    table[at : at + 17] = b"cudnn_lstm/opaque"  # prefix compression carries it to the rest
    _fix_block_crcs(table)
    index.write_bytes(bytes(table))
    err = _cli_error(
        [
            "import-magenta",
            str(tmp_path),
            "--config",
            "cat-mel_2bar_small",
            "--output",
            str(tmp_path / "out"),
        ],
        capsys,
    )
    assert err.count("\n") == 1
    assert "checkpoint holds cuDNN LSTM variables (encoder/cell_0/cudnn_lstm/opaque" in err
    with pytest.raises(
        ValueError, match=r"cuDNN LSTM variables \(encoder/cudnn_lstm/opaque_kernel\)"
    ):
        check_supported({"encoder/cudnn_lstm/opaque_kernel": np.zeros(10, np.float32)})


def test_existing_output_refused(tmp_path, capsys):
    import_magenta(golden_dir("hierdec_mel16_tiny"), tmp_path, "hierdec-mel_16bar")
    err = _cli_error(
        [
            "import-magenta",
            str(golden_dir("hierdec_mel16_tiny")),
            "--config",
            "hierdec-mel_16bar",
            "--output",
            str(tmp_path),
        ],
        capsys,
    )
    assert "already holds a model" in err


def _debug_model_dir(path: Path, name: str = "debug-hierdec-mel_16bar") -> None:
    torch.manual_seed(0)
    config = get_config(name)
    save_model_dir(build_model(config), config, path)


def test_cli_round_trip_debug_model(tmp_path, capsys):
    """export-magenta-js then import-magenta (no --config: our config.json says it)."""
    _debug_model_dir(tmp_path / "a")
    assert main(["export-magenta-js", str(tmp_path / "a"), "--output", str(tmp_path / "js")]) == 0
    out, err = capsys.readouterr()
    assert "debug-hierdec-mel_16bar: 18 variables, 1 shard(s)" in out
    assert "(MelodyConverter)" in out and "magenta.js checkpoint:" in out
    assert err.startswith("warning: magenta.js pairs a conductor")  # it cannot run hierdec
    assert main(["import-magenta", str(tmp_path / "js"), "--output", str(tmp_path / "b")]) == 0
    assert "(config from config.json of a musicvae export)" in capsys.readouterr().out
    (a, config_a), (b, config_b) = load_model_dir(tmp_path / "a"), load_model_dir(tmp_path / "b")
    assert config_a == config_b
    for k, v in a.state_dict().items():
        assert torch.equal(b.state_dict()[k], v), k
    again = ["export-magenta-js", str(tmp_path / "a"), "--output", str(tmp_path / "js")]
    assert "already holds a magenta.js checkpoint" in _cli_error(again, capsys)
    assert main([*again, "--overwrite", "--quantize", "1"]) == 0


def test_console_script(tmp_path):
    """The installed `musicvae` entry point, once: a quantized magenta.js folder -> a model."""
    _debug_model_dir(tmp_path / "a", "debug-cat-drums_2bar")
    export_magenta_js(tmp_path / "a", tmp_path / "js", quantize=2)
    script = Path(sys.executable).with_name("musicvae")
    run = subprocess.run(
        [str(script), "import-magenta", str(tmp_path / "js"), "--output", str(tmp_path / "b")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "debug-cat-drums_2bar (config from config.json of a musicvae export)" in run.stdout
    assert (tmp_path / "b" / "model.safetensors").is_file()
