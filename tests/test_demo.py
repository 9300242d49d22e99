"""`musicvae demo`: runs offline on the bundled model and writes a page whose links all exist."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

from musicvae.cli import main
from musicvae.demo import run_demo
from musicvae.inference.attributes import vectors_beside
from musicvae.inference.bundled import bundled_model_dir, bundled_tunes
from musicvae.inference.trained_model import TrainedModel


def linked_files(page) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', page.read_text())


def test_bundled_assets_load():
    model = TrainedModel.load(bundled_model_dir())
    assert model.config.name == "cat-mel_2bar_small"
    assert set(model.load_attribute_vectors(vectors_beside(bundled_model_dir()))) >= {
        "note_density",
        "syncopation_16th",
    }
    for tune in bundled_tunes():
        assert len(model.windows(tune)) > 1


def test_demo_page_links_only_to_files_that_exist(tmp_path):
    page = run_demo(tmp_path / "demo", audio=False)
    assert page == tmp_path / "demo" / "index.html"
    links = linked_files(page)
    pngs = [x for x in links if x.endswith(".png")]
    first = [x for x in pngs if not x.startswith("folk-mel_16bar-")]
    second = [x for x in pngs if x.startswith("folk-mel_16bar-")]
    # 2 bars: 8 samples + 2 inputs and 8 interpolation steps + 2 attributes x 5 amounts
    assert len(first) == 8 + 10 + 10
    # then the bundled 16-bar model: 4 samples + 2 inputs and 5 steps + 2 attributes x 5
    assert len(second) == 4 + 7 + 10
    text = page.read_text()
    assert "folk-mel_16bar (bundled): 4 16-bar melodies sampled" in text
    assert text.index("folk-mel_2bar (bundled)") < text.index("folk-mel_16bar (bundled)")
    assert all((page.parent / x).exists() for x in links)
    assert "://" not in page.read_text()
    assert not any(x.endswith(".wav") for x in links)


def test_demo_is_reproducible_with_a_seed(tmp_path):
    a = run_demo(tmp_path / "a", audio=False, seed=3).parent
    b = run_demo(tmp_path / "b", audio=False, seed=3).parent
    assert (a / "sample-1.mid").read_bytes() == (b / "sample-1.mid").read_bytes()


def test_demo_command_in_process_and_console_script(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the Quickstart runs it with the default, relative output
    assert main(["demo", "--no-audio"]) == 0
    assert "musicvae-demo/index.html" in capsys.readouterr().out
    page = tmp_path / "musicvae-demo" / "index.html"
    assert all((page.parent / x).exists() for x in linked_files(page))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "musicvae",
            "demo",
            "--no-audio",
            "--output",
            str(tmp_path / "script"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "script" / "index.html").exists()


def test_attributes_apply_defaults_to_the_vectors_beside_the_model(tmp_path, capsys):
    tune = str(bundled_tunes()[0])
    argv = [
        "attributes",
        "apply",
        tune,
        "--window",
        "0",
        "--attribute",
        "note_density",
        "--amount",
        "1",
        "--no-audio",
        "--seed",
        "0",
    ]
    assert main(argv + ["--output", str(tmp_path / "a")]) == 0
    assert len(list((tmp_path / "a").glob("*note_density*.mid"))) == 1
    # The bundled model's folder, given as a path, brings its own vectors too.
    assert main(argv + ["--model", str(bundled_model_dir()), "--output", str(tmp_path / "b")]) == 0
    # A model folder without attributes.npz needs --vectors, and says so in one line.
    bare = tmp_path / "bare-model"
    shutil.copytree(bundled_model_dir(), bare, ignore=shutil.ignore_patterns("attributes.npz"))
    capsys.readouterr()
    assert main(argv + ["--model", str(bare), "--output", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err.strip()
    assert "has no attributes.npz: pass --vectors" in err and "\n" not in err
