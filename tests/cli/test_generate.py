"""The generation commands (sample, interpolate, reconstruct, encode, attributes) run
in-process through cli.main and once through the console script; bad input exits 2 with a
one-line message."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from musicvae import cli
from musicvae.builders import build_model
from musicvae.configs import get_config
from musicvae.data import prepare
from musicvae.data.windows import find_midi_files
from musicvae.inference import save_model_dir
from musicvae.music.midi_io import read_midi, write_midi
from musicvae.music.notes import Note, NoteSequence, Tempo
from tests.conftest import FIXTURES

CORPUS = FIXTURES / "golden" / "corpus"
FOLK = sorted((CORPUS / "folk" / "airds").glob("*.mid"))  # 46 and 19 windows


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    config = get_config("debug-cat-mel_2bar")
    return save_model_dir(build_model(config), config, tmp_path_factory.mktemp("model") / "m")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("data") / "mel2"
    prepare.prepare_dataset(
        get_config("cat-mel_2bar_small"), find_midi_files([CORPUS]), out, progress=False
    )
    return out


def run(capsys, *argv, audio: bool = False) -> tuple[int, str, str]:
    """cli.main in-process; WAV rendering (0.2 s a file) off unless asked for."""
    argv = [str(a) for a in argv]
    writes_music = argv[0] in ("sample", "interpolate", "reconstruct") or argv[1] == "apply"
    if writes_music and not audio:
        argv.append("--no-audio")
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def midis(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.mid"))


def test_sample(capsys, model_dir, tmp_path):
    code, out, _ = run(
        capsys, "sample", "--model", model_dir, "--n", 3, "--seed", 5, "--output", tmp_path / "a"
    )
    assert code == 0 and midis(tmp_path / "a") == [f"sample_{i:03d}.mid" for i in range(3)]
    assert str(tmp_path / "a" / "sample_002.mid") in out
    assert all(len(read_midi(p)) for p in (tmp_path / "a").glob("*.mid"))
    run(capsys, "sample", "--model", model_dir, "--n", 3, "--seed", 5, "--output", tmp_path / "b")
    for name in midis(tmp_path / "a"):  # --seed reproduces the files byte for byte
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    code, out, _ = run(capsys, "sample", "--model", model_dir, "--n", 1, "--output", tmp_path / "c")
    assert code == 0 and "pass --seed" in out  # a drawn seed is printed


def test_outputs_are_midi_piano_roll_and_audio_when_available(capsys, model_dir, tmp_path):
    from musicvae.render import audio_available

    code, out, _ = run(
        capsys,
        "sample",
        "--model",
        model_dir,
        "--n",
        1,
        "--seed",
        0,
        "--output",
        tmp_path,
        audio=True,
    )
    assert code == 0
    files = sorted(
        p.name for p in tmp_path.iterdir() if not p.name.startswith(".")
    )  # the run marker is hidden
    if audio_available()[0]:
        assert files == ["sample_000.mid", "sample_000.png", "sample_000.wav"]
        assert "sample_000.wav" in out
    else:
        assert files == ["sample_000.mid", "sample_000.png"]
        assert "note: no WAVs: " in out


def test_interpolate(capsys, model_dir, tmp_path):
    code, out, _ = run(
        capsys,
        "interpolate",
        FOLK[0],
        FOLK[1],
        "--steps",
        4,
        "--model",
        model_dir,
        "--start-window",
        3,
        "--end-window",
        0,
        "--output",
        tmp_path,
    )
    assert code == 0 and midis(tmp_path) == [f"interp_{i:03d}.mid" for i in range(4)]
    assert "4 steps (slerp)" in out


def test_reconstruct(capsys, model_dir, tmp_path):
    code, out, _ = run(capsys, "reconstruct", FOLK[1], "--model", model_dir, "--output", tmp_path)
    assert code == 0 and "19 windows reconstructed" in out
    assert len(midis(tmp_path)) == 2 * 19
    assert "book3_0134_X0535_w018_recon.mid" in midis(tmp_path)


def test_encode(capsys, model_dir, tmp_path):
    code, out, _ = run(
        capsys,
        "encode",
        FOLK[1],
        "--all-windows",
        "--model",
        model_dir,
        "--seed",
        1,
        "--output",
        tmp_path,
    )
    assert code == 0 and "19 codes of 8 dims" in out
    z, mu = np.load(tmp_path / "z.npy"), np.load(tmp_path / "mu.npy")
    assert z.shape == mu.shape == np.load(tmp_path / "sigma.npy").shape == (19, 8)
    info = json.loads((tmp_path / "codes.json").read_text())
    assert info["config"] == "debug-cat-mel_2bar" and info["seed"] == 1
    assert [c["window"] for c in info["codes"]] == list(range(19))
    np.testing.assert_allclose([c["z"] for c in info["codes"]], z, rtol=1e-6)
    code, _, _ = run(
        capsys, "encode", FOLK[1], "--window", 2, "--model", model_dir, "--output", tmp_path / "one"
    )
    np.testing.assert_allclose(np.load(tmp_path / "one" / "mu.npy")[0], mu[2], atol=1e-6)


def test_attributes_compute_and_apply(capsys, model_dir, dataset, tmp_path):
    vectors = tmp_path / "vectors.npz"
    code, out, _ = run(
        capsys,
        "attributes",
        "compute",
        "--model",
        model_dir,
        "--data",
        dataset,
        "--output",
        vectors,
        "--max-windows",
        40,
    )
    assert code == 0 and "from 40 train windows" in out
    with np.load(vectors) as npz:
        assert {"note_density", "c_diatonic", "syncopation_8th"} < set(npz.files)
        assert npz["note_density"].shape == (8,)
    code, out, _ = run(
        capsys,
        "attributes",
        "apply",
        "--model",
        model_dir,
        "--vectors",
        vectors,
        "--attribute",
        "note_density",
        "--amount",
        1.0,
        "--window",
        0,
        FOLK[1],
        "--output",
        tmp_path / "moved",
    )
    assert code == 0 and "amount +1: note_density = " in out
    assert midis(tmp_path / "moved") == [
        "book3_0134_X0535_note_density_+1.mid",
        "book3_0134_X0535_recon.mid",
    ]


def _bad_files(folder: Path) -> dict[str, Path]:
    short = NoteSequence.from_notes([Note(60, 0.0, 0.5)], tempos=(Tempo(0.0, 120.0),))
    drums = NoteSequence.from_notes(
        [Note(38, i * 0.25, i * 0.25 + 0.1, is_drum=True) for i in range(32)],
        tempos=(Tempo(0.0, 120.0),),
    )
    write_midi(short, folder / "short.mid")
    write_midi(drums, folder / "drums.mid")
    (folder / "blocker").write_text("a file where a folder should be")
    return {"short": folder / "short.mid", "drums": folder / "drums.mid"}


BAD = {
    "missing model": (["sample", "--model", "{tmp}/nowhere"], "no model at"),
    "n zero": (["sample", "--n", "0"], r"n must be in 1..10000, got 0"),
    "n huge": (["sample", "--n", "100000000"], r"n must be in 1..10000"),
    "steps one": (["interpolate", "{short}", "{short}", "--steps", "1"], r"num_steps must be in 2"),
    "steps huge": (
        [
            "interpolate",
            str(FOLK[1]),
            str(FOLK[1]),
            "--start-window",
            "0",
            "--end-window",
            "1",
            "--steps",
            "99999999",
        ],
        r"num_steps must be in 2..10000",
    ),
    "unwritable": (["sample", "--output", "{tmp}/blocker/out"], r"cannot write to --output"),
    "negative temperature": (["sample", "--temperature", "-1"], r"temperature must be None, 0"),
    "missing vectors": (
        [
            "attributes",
            "apply",
            "--vectors",
            "{tmp}/v.npz",
            "--attribute",
            "note_density",
            "{short}",
        ],
        r"no attribute vectors at",
    ),
    "missing dataset": (
        ["attributes", "compute", "--data", "{tmp}/nodata", "--output", "{tmp}/v.npz"],
        r"dataset folder .*nodata does not exist",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_exits_2_with_one_line(case, capsys, model_dir, tmp_path):
    argv, message = BAD[case]
    files = {**_bad_files(tmp_path), "tmp": tmp_path}
    argv = [a.format(**files) for a in argv]
    if "--model" not in argv:
        argv += ["--model", str(model_dir)]
    if "--output" not in argv and argv[0] != "attributes":
        argv += ["--output", str(tmp_path / "out")]
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert re.search(message, err), err


# An input that fails in reconstruct/encode is a per-file error (issue 8, item 1): reported on
# stderr and in report.json; exit 1 when no input worked.
FAILED_INPUT = {
    "no melody": (["encode", "{short}"], r"short.mid: no window: no monophonic melody spanning"),
    "drum file": (["reconstruct", "{drums}"], r"drums.mid: no window: it has only drum notes"),
    "several windows": (
        ["encode", str(FOLK[0])],
        r"46 windows of 2 bars \(K=0 bars 36-37, .*\); choose one with --window K \(or take all",
    ),
    "window range": (
        ["encode", str(FOLK[1]), "--window", "19"],
        r"--window 19 is out of range 0..18",
    ),
}


@pytest.mark.parametrize("case", list(FAILED_INPUT))
def test_a_failed_input_is_reported_and_exits_1(case, capsys, model_dir, tmp_path):
    argv, message = FAILED_INPUT[case]
    files = {**_bad_files(tmp_path), "tmp": tmp_path}
    argv = [a.format(**files) for a in argv]
    argv += ["--model", str(model_dir), "--output", str(tmp_path / "out")]
    code, _, err = run(capsys, *argv)
    assert code == 1
    assert re.search(message, err), err
    assert "error: no input worked" in err
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert re.search(message, report["files"][0]["error"])


def test_unknown_attribute_is_a_usage_error_listing_the_choices(capsys, model_dir):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["attributes", "apply", "x.mid", "--attribute", "loud"])
    assert exit_.value.code == 2
    assert "invalid choice: 'loud' (choose from 'c_diatonic'" in capsys.readouterr().err


def test_console_script(model_dir, tmp_path):
    script = Path(sys.executable).parent / "musicvae"
    if not script.exists():
        pytest.skip(f"{script} is not installed (pip install -e .)")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    argv = ["sample", "--model", model_dir, "--n", 2, "--seed", 0, "--output", tmp_path]
    done = subprocess.run(
        [str(a) for a in (script, *argv)], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert midis(tmp_path) == ["sample_000.mid", "sample_001.mid"]
    # Without --model the bundled folk model answers.
    bundled = tmp_path / "bundled"
    done = subprocess.run(
        [str(script), "sample", "--n", "2", "--seed", "0", "--no-audio", "--output", str(bundled)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert midis(bundled) == ["sample_000.mid", "sample_001.mid"]


def test_without_fluidsynth_a_note_says_how_to_get_audio(capsys, model_dir, tmp_path, monkeypatch):
    from musicvae.render import audio

    monkeypatch.setattr(audio, "find_synth", lambda: (None, "no FluidSynth: apt install it"))
    code, out, _ = run(
        capsys, "sample", "--model", model_dir, "--n", 2, "--output", tmp_path, audio=True
    )
    assert (
        code == 0
        and sorted(p.suffix for p in tmp_path.iterdir() if p.suffix != ".json")
        == [".mid"] * 2 + [".png"] * 2
    )
    assert out.count("note: no WAVs: no FluidSynth: apt install it") == 1
