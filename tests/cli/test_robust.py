"""Issue 8, part 2: every command survives real folders, pipes, signals and odd input, and says
what it did. Pipes and signals go through a real subprocess."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import mido
import numpy as np
import pytest
import torch

from musicvae import cli
from musicvae.builders import build_model
from musicvae.configs import get_config
from musicvae.inference import TrainedModel, save_model_dir
from musicvae.music.midi_io import read_midi, write_midi
from musicvae.music.notes import Note, NoteSequence, Tempo
from musicvae.outputs import MARKER
from tests.conftest import FIXTURES, REPO

CORPUS = FIXTURES / "golden" / "corpus"
FOLK = sorted((CORPUS / "folk" / "airds").glob("*.mid"))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    config = get_config("debug-cat-mel_2bar")
    return save_model_dir(build_model(config), config, tmp_path_factory.mktemp("model") / "m")


@pytest.fixture(scope="module")
def drums_dir(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    config = get_config("debug-cat-drums_2bar")
    return save_model_dir(build_model(config), config, tmp_path_factory.mktemp("drums") / "d")


def run(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def command(*argv) -> list[str]:
    return [sys.executable, "-m", "musicvae", *map(str, argv)]


def env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "src")}


def tune(path: Path, program: int = 0, qpm: float = 120.0, bars: int = 4) -> Path:
    """A 4/4 tune of 8th notes (one 2-bar window per 2 bars) written to `path`."""
    beat = 60.0 / qpm
    notes = [
        Note(pitch=60 + (i % 5) * 2, start=i * beat / 2, end=(i + 1) * beat / 2, program=program)
        for i in range(8 * bars)
    ]
    write_midi(NoteSequence.from_notes(notes, tempos=(Tempo(0.0, qpm),)), path)
    return path


def _tempo_of(path: Path) -> int:
    return next(m.tempo for t in mido.MidiFile(path).tracks for m in t if m.type == "set_tempo")


# ------------------------------------------------------------------ 1: batch reconstruct/encode


@pytest.fixture
def mixed_folder(tmp_path) -> Path:
    """A folder tree: two good tunes (one nested), a corrupt file and a drum-only file."""
    root = tmp_path / "in"
    (root / "sub").mkdir(parents=True)
    tune(root / "a.mid")
    tune(root / "sub" / "b.mid", bars=2)
    (root / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06garbage")
    drums = [Note(36, i * 0.25, i * 0.25 + 0.1, is_drum=True) for i in range(16)]
    write_midi(NoteSequence.from_notes(drums), root / "sub" / "drums.mid")
    return root


def test_reconstruct_takes_a_folder_and_reports_each_failed_file(
    capsys, model_dir, mixed_folder, tmp_path
):
    out = tmp_path / "out"
    code, _, stderr = run(
        capsys, "reconstruct", mixed_folder, "--model", model_dir, "--output", out, "--no-audio"
    )
    assert code == 0  # two inputs worked
    names = sorted(p.name for p in out.glob("*.mid"))
    # a: 4 bars -> windows at bars 1-2, 2-3, 3-4; b: 2 bars -> one window.
    expected = [f"a_w{k:03d}" for k in range(3)] + ["b_w000"]
    assert names == sorted(f"{s}_{part}.mid" for s in expected for part in ("input", "recon"))
    report = json.loads((out / "report.json").read_text())
    assert report["config"] == "debug-cat-mel_2bar" and report["model"] == str(model_dir)
    assert (report["inputs"], report["worked"], report["failed"]) == (4, 2, 2)
    errors = {Path(e["input"]).name: e["error"] for e in report["files"] if "error" in e}
    assert set(errors) == {"broken.mid", "drums.mid"}
    assert "only drum notes" in errors["drums.mid"]
    assert "failed:" in stderr and "broken.mid" in stderr


def test_encode_takes_a_folder_and_exit_codes_say_whether_anything_worked(
    capsys, model_dir, mixed_folder, tmp_path
):
    code, _, _ = run(
        capsys, "encode", mixed_folder, "--all-windows", "--model", model_dir,
        "--output", tmp_path / "codes",
    )  # fmt: skip
    assert code == 0
    assert np.load(tmp_path / "codes" / "z.npy").shape[0] == 4  # a: 3 windows, b: 1
    codes = json.loads((tmp_path / "codes" / "codes.json").read_text())
    assert codes["model"] == str(model_dir)  # the model actually used, not "None"
    report = json.loads((tmp_path / "codes" / "report.json").read_text())
    assert report["failed"] == 2
    # Nothing worked: exit 1, with report.json saying why.
    code, _, err = run(
        capsys, "encode", mixed_folder / "broken.mid", "--model", model_dir,
        "--output", tmp_path / "none",
    )  # fmt: skip
    assert code == 1 and "no input worked" in err
    assert json.loads((tmp_path / "none" / "report.json").read_text())["worked"] == 0
    # Usage error: exit 2.
    code, _, err = run(capsys, "encode", tmp_path / "missing", "--output", tmp_path / "x")
    assert code == 2 and "does not exist" in err


def test_codes_json_names_the_bundled_model_when_none_is_given(capsys, tmp_path):
    code, _, _ = run(capsys, "encode", FOLK[0], "--window", "0", "--output", tmp_path / "c")
    assert code == 0
    info = json.loads((tmp_path / "c" / "codes.json").read_text())
    assert info["model"].endswith("folk-mel_2bar") and info["config"] == "cat-mel_2bar_small"


# ------------------------------------------------------------------ 3: pipes


def test_a_closed_stdout_pipe_does_not_stop_the_work(model_dir, tmp_path):
    out = tmp_path / "out"
    argv = command(
        "sample", "--model", model_dir, "--n", 40, "--seed", 1, "--no-audio", "--output", out
    )
    proc = subprocess.Popen(
        argv, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    proc.stdout.close()  # the reader (`| head`) is gone before anything is printed
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    assert "Traceback" not in err and "BrokenPipe" not in err
    assert len(list(out.glob("*.mid"))) == 40  # every file is still written


def test_musicvae_piped_into_head(model_dir, tmp_path):
    out = tmp_path / "out"
    line = " ".join(
        map(str, command("sample", "--model", model_dir, "--n", 30, "--no-audio", "--output", out))
    )
    done = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {line} | head -n 1"],
        env=env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("\n") == 1 and "Traceback" not in done.stderr
    assert len(list(out.glob("*.mid"))) == 30


# ------------------------------------------------------------------ 4: no tracebacks


@pytest.mark.parametrize("device", ["cuda", "mps", "gpu", "cuda:7"])
def test_absent_devices_are_one_line_naming_the_devices_that_exist(capsys, tmp_path, device):
    if device != "mps" and torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    code, _, err = run(capsys, "sample", "--device", device, "--output", tmp_path / "o")
    assert code == 2 and "available: cpu" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def _blocked(tmp_path) -> Path:
    """An output path no process can create: below a regular file (root ignores chmod)."""
    (tmp_path / "file").write_text("x")
    return tmp_path / "file" / "out"


def test_unwritable_output_is_one_line_in_every_command(capsys, model_dir, tmp_path):
    blocked = _blocked(tmp_path)
    cases = [
        ("convert", "--config", "cat-mel_2bar_small", "--output", blocked, FOLK[0]),
        ("prepare", "--config", "cat-mel_2bar_small", "--input", FOLK[0], "--output", blocked),
        ("sample", "--model", model_dir, "--output", blocked),
        ("reconstruct", FOLK[0], "--model", model_dir, "--output", blocked),
        ("encode", FOLK[0], "--window", 0, "--model", model_dir, "--output", blocked),
        ("demo", "--model", model_dir, "--no-audio", "--output", blocked),
        ("export-magenta-js", model_dir, "--output", blocked),
        ("import-magenta", model_dir, "--output", blocked),
    ]
    for argv in cases:
        code, _, err = run(capsys, *argv)
        assert code == 2, (argv[0], err)
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, (argv[0], err)
        assert str(blocked) in err or "Not a directory" in err, (argv[0], err)


def test_train_with_an_unwritable_run_dir_or_bad_hparams_is_one_line(capsys, tmp_path):
    data = tmp_path / "data"
    assert cli.main(
        ["prepare", "--config", "debug-cat-mel_2bar", "--input", str(FOLK[0]),
         "--output", str(data), "--workers", "1", "--quiet"]
    ) == 0  # fmt: skip
    capsys.readouterr()
    base = ["train", "--config", "debug-cat-mel_2bar", "--data", data, "--steps", 1]
    code, _, err = run(capsys, *base, "--run-dir", _blocked(tmp_path))
    assert code == 2 and "--run-dir" in err and len(err.strip().splitlines()) == 1
    for hparams, says in [
        ("z_size=abc", "z_size"),
        ("no_such_hparam=1", "no_such_hparam"),
        ("enc_rnn_size=[a]", "enc_rnn_size"),
        ("conditional=False", "conditional"),  # read by nothing in this port: rejected
    ]:
        code, _, err = run(capsys, *base, "--run-dir", tmp_path / "run", "--hparams", hparams)
        assert code == 2 and says in err and "Traceback" not in err, (hparams, err)
        assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------ 6 + 10: outputs


def test_a_second_run_into_the_same_folder_needs_overwrite(capsys, model_dir, tmp_path):
    out = tmp_path / "out"
    base = ("sample", "--model", model_dir, "--no-audio", "--seed", 1, "--output", out)
    assert run(capsys, *base, "--n", 3)[0] == 0
    code, _, err = run(capsys, *base, "--n", 2)
    assert code == 2 and "--overwrite" in err
    assert len(list(out.glob("*.mid"))) == 3  # the earlier run is untouched
    assert run(capsys, *base, "--n", 2, "--overwrite")[0] == 0
    assert sorted(p.name for p in out.glob("*.mid")) == ["sample_000.mid", "sample_001.mid"]
    # A folder musicvae did not write is never emptied, even with --overwrite.
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.txt").write_text("precious")
    code, _, err = run(capsys, *base[:-1], mine, "--overwrite")
    assert code == 2 and "did not write" in err and (mine / "thesis.txt").exists()


def test_convert_follows_the_same_convention(capsys, tmp_path):
    out = tmp_path / "out"
    base = ("convert", "--config", "cat-mel_2bar_small", "--quiet", "--workers", 1)
    assert run(capsys, *base, "--output", out, FOLK[0])[0] == 0
    code, _, err = run(capsys, *base, "--output", out, FOLK[1])
    assert code == 2 and "--overwrite" in err
    assert run(capsys, *base, "--output", out, FOLK[1], "--overwrite")[0] == 0
    assert sorted(p.name for p in out.glob("*.npz")) == [FOLK[1].with_suffix(".npz").name]
    assert (out / MARKER).exists()


def test_a_failed_command_leaves_no_empty_output_folder(capsys, model_dir, tmp_path):
    out = tmp_path / "a" / "b"
    code, _, err = run(capsys, "sample", "--model", model_dir, "--length", 10**6, "--output", out)
    assert code == 2 and "length" in err
    assert not (tmp_path / "a").exists()


# ------------------------------------------------------------------ 7: progress


def test_progress_bars_only_when_asked_or_on_a_terminal(capsys, model_dir, tmp_path):
    from musicvae.inference import generate

    generate.sample(output=tmp_path / "a", n=3, model=str(model_dir), audio=False, progress=True)
    assert "write MIDI" in capsys.readouterr().err
    generate.sample(output=tmp_path / "b", n=3, model=str(model_dir), audio=False)
    assert capsys.readouterr().err == ""
    done = subprocess.run(  # default in a pipe: quiet
        command("sample", "--model", model_dir, "--n", 3, "--no-audio", "--output", tmp_path / "c"),
        env=env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0 and "write MIDI" not in done.stderr and "it/s" not in done.stderr


def test_progress_bars_show_on_a_terminal(model_dir, tmp_path):
    import fcntl
    import pty
    import struct
    import termios

    leader, follower = pty.openpty()  # stderr is a terminal, as in an interactive shell
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 100 columns
    argv = command(
        "sample", "--model", model_dir, "--n", 3, "--no-audio", "--output", tmp_path / "t"
    )
    proc = subprocess.Popen(argv, env=env(), stdout=subprocess.PIPE, stderr=follower)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closes when the process ends
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(timeout=300)
    os.close(leader)
    assert proc.returncode == 0
    assert b"write MIDI" in b"".join(chunks)


def test_audio_renders_many_files_in_parallel_workers(tmp_path):
    from musicvae.render import audio_available, render_many

    if not audio_available()[0]:
        pytest.skip("FluidSynth + a GM SoundFont not installed")
    named = [(f"t{i}", read_midi(tune(tmp_path / f"in{i}.mid", bars=1))) for i in range(4)]
    files = render_many(named, tmp_path / "out", "melody", audio=True, workers=4)
    assert all(f["wav"].stat().st_size > 44 for f in files)


# ------------------------------------------------------------------ wiring left from part 1


def test_any_program_reaches_encode_and_reconstruct(capsys, model_dir, tmp_path):
    violin = tune(tmp_path / "violin.mid", program=40, bars=2)
    code, _, err = run(capsys, "encode", violin, "--model", model_dir, "--output", tmp_path / "a")
    assert code == 1
    report = json.loads((tmp_path / "a" / "report.json").read_text())
    assert "--any-program" in report["files"][0]["error"]
    argv = ("--model", model_dir, "--any-program")
    assert run(capsys, "encode", violin, *argv, "--output", tmp_path / "b")[0] == 0
    code, _, _ = run(capsys, "reconstruct", violin, *argv, "--no-audio", "--output", tmp_path / "c")
    assert code == 0 and (tmp_path / "c" / "violin_w000_recon.mid").exists()


def test_qpm_and_the_start_tempo_reach_the_files(capsys, model_dir, tmp_path):
    argv = ("--model", model_dir, "--no-audio", "--seed", 1)
    assert run(capsys, "sample", *argv, "--n", 1, "--qpm", 90, "--output", tmp_path / "s")[0] == 0
    assert _tempo_of(tmp_path / "s" / "sample_000.mid") == 666667  # 90 qpm
    a = tune(tmp_path / "a.mid", qpm=100, bars=2)
    b = tune(tmp_path / "b.mid", qpm=140, bars=2)
    assert run(capsys, "interpolate", a, b, *argv, "--steps", 3, "--output", tmp_path / "i")[0] == 0
    assert {_tempo_of(p) for p in (tmp_path / "i").glob("*.mid")} == {600000}  # A's 100 qpm
    code, _, err = run(capsys, "sample", *argv, "--qpm", 0, "--output", tmp_path / "z")
    assert code == 2 and "qpm" in err


def test_all_rest_results_are_skipped_with_a_note(tmp_path):
    from musicvae.inference import generate

    model = TrainedModel(
        build_model(get_config("debug-cat-mel_2bar")), get_config("debug-cat-mel_2bar")
    )
    rest = NoteSequence.empty(tempos=(Tempo(0.0, 120.0),))
    notes = read_midi(tune(tmp_path / "t.mid", bars=1))
    files, _, skipped = generate.write_sequences(
        model, [("silent", rest), ("tune", notes)], tmp_path, audio=False
    )
    assert skipped == ["silent"] and [f["midi"].name for f in files] == ["tune.mid"]
    assert not (tmp_path / "silent.mid").exists()


def test_windows_command_lists_bars_and_window_messages_name_them(capsys, tmp_path):
    path = tune(tmp_path / "t.mid", bars=6)
    code, out, _ = run(capsys, "windows", path, "--config", "cat-mel_2bar_small")
    assert code == 0
    # 6 bars: five windows, listed in the converter's order (the K of --window K).
    assert "5 windows of 2 bars" in out
    assert re.search(r"^\s+0\s+1-2\s+\d+\s+instrument 0, program 0", out, re.M), out
    bars = re.findall(r"^\s+(\d)\s+(\d-\d)\s", out, re.M)
    assert sorted(b for _, b in bars) == ["1-2", "2-3", "3-4", "4-5", "5-6"]
    code, _, err = run(capsys, "encode", path, "--output", tmp_path / "e")
    assert code == 1  # several windows and no --window: reported
    report = json.loads((tmp_path / "e" / "report.json").read_text())
    assert "K=1 bars 3-4" in report["files"][0]["error"]
    code, _, err = run(capsys, "interpolate", path, path, "--start-window", 9, "--end-window", 0,
                       "--no-audio", "--output", tmp_path / "i")  # fmt: skip
    assert code == 2 and "out of range 0..4" in err and "K=0 bars 1-2" in err
    code, _, err = run(capsys, "windows", tmp_path / "nope.mid", "--config", "cat-mel_2bar_small")
    assert code == 2 and "nope.mid" in err


# ------------------------------------------------------------------ 11: Python API


def test_python_api_names_and_reprs(tmp_path):
    import musicvae

    model = musicvae.load("folk-mel_2bar")
    assert isinstance(model, musicvae.TrainedModel)
    assert repr(model).startswith("TrainedModel('cat-mel_2bar_small', kind='melody', bars=2")
    assert "folk-mel_2bar" in repr(model)
    (seq,) = model.sample(1, temperature=0.5, seed=1)
    text = repr(seq)
    assert text.startswith(f"NoteSequence({len(seq)} notes") and "120 qpm" in text
    assert "array(" not in text
    windows = model.windows(str(FOLK[1]))
    assert repr(windows) == (
        f"ConverterTensors({len(windows)} windows, inputs [{len(windows)}, 32, 90], "
        f"outputs [{len(windows)}, 32, 90], controls [{len(windows)}, 32, 0])"
    )


def test_pretty_midi_objects_are_accepted_as_inputs(tmp_path):
    pretty_midi = pytest.importorskip("pretty_midi")

    model = TrainedModel.bundled()
    pm = pretty_midi.PrettyMIDI(str(FOLK[0]))
    by_object = model.windows(pm)
    by_path = model.windows(str(FOLK[0]))
    np.testing.assert_array_equal(by_object.inputs, by_path.inputs)
    z, _, _ = model.encode([by_object.inputs[0]], seed=0)
    assert z.shape == (1, model.z_size)


# ------------------------------------------------------------------ 13: demo of any model


def test_demo_of_a_drum_model_and_of_a_melody_model_without_vectors(
    capsys, model_dir, drums_dir, tmp_path
):
    assert (
        run(capsys, "demo", "--model", drums_dir, "--no-audio", "--output", tmp_path / "d")[0] == 0
    )
    page = (tmp_path / "d" / "index.html").read_text()
    assert "musicvae demo: d" in page and "debug-cat-drums_2bar" in page
    assert "drum patterns sampled" in page and "two random codes" in page
    assert "grid-template-columns" in page
    assert page.count("download>MIDI</a>") == 8 + 8  # every card links its MIDI
    assert (
        run(capsys, "demo", "--model", model_dir, "--no-audio", "--output", tmp_path / "m")[0] == 0
    )
    page = (tmp_path / "m" / "index.html").read_text()
    assert "note density vector" in page  # vectors computed on the bundled tunes' windows


# ------------------------------------------------------------------ 14: --help, -v


def _options(parser):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from ((f"{name} {n}", a) for n, a in _options(sub))
        elif action.option_strings and action.dest != "help":
            yield "", action


def test_every_option_has_a_help_text_showing_its_default():
    from musicvae.cli.common import HelpFormatter

    parser = cli.build_parser()
    formatter = HelpFormatter("musicvae")
    for where, action in _options(parser):
        assert action.help, f"{where}: {action.option_strings} has no help text"
        shown = formatter._get_help_string(action)
        if action.default not in (None, False, "==SUPPRESS==") and action.nargs != 0:
            assert "default" in shown, f"{where}: {action.option_strings} hides its default"


def test_verbose_works_after_the_subcommand_and_attribute_lists_its_choices(capsys):
    args = cli.build_parser().parse_args(["configs", "-v"])
    assert args.verbose is True
    assert cli.build_parser().parse_args(["-v", "configs"]).verbose is True
    assert cli.build_parser().parse_args(["configs"]).verbose is False
    with pytest.raises(SystemExit):
        cli.main(["attributes", "apply", "--help"])
    out = capsys.readouterr().out
    assert "c_diatonic" in out and "syncopation_8th" in out
    from musicvae.cli.generate import ATTRIBUTE_NAMES
    from musicvae.inference.attributes import ATTRIBUTES

    assert ATTRIBUTE_NAMES == tuple(ATTRIBUTES)


# ------------------------------------------------------------------ signals


def test_sigterm_exits_143_and_sigint_130_outside_training(model_dir, tmp_path):
    for sig, expected in ((signal.SIGTERM, 143), (signal.SIGINT, 130)):
        out = tmp_path / sig.name
        proc = subprocess.Popen(
            command(
                "sample",
                "--model",
                model_dir,
                "--n",
                10000,
                "--length",
                4096,
                "--no-audio",
                "--output",
                out,
            ),  # fmt: skip
            env=env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            # a shell's background job ignores SIGINT, and Python keeps it ignored: undo that
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        for _ in range(600):  # until the work has begun (the marker file is written)
            if (out / MARKER).exists() or proc.poll() is not None:
                break
            time.sleep(0.1)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == expected, err[-2000:]
        assert "Traceback" not in err
