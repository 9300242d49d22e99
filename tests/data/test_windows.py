"""`musicvae convert`: the report, per-file errors on bad input, exit codes."""

from __future__ import annotations

import json
import os
import shutil

import mido
import numpy as np
import pytest

from musicvae.cli import main
from musicvae.data.windows import load_windows
from musicvae.music.midi_io import write_midi
from musicvae.music.notes import Note, NoteSequence, Tempo, TimeSignature
from tests.conftest import FIXTURES
from tests.data.converters.test_golden_parity import same_windows

GOOD = FIXTURES / "golden" / "corpus" / "folk" / "airds" / "book2_0108_X0309.mid"
GOLDEN = FIXTURES / "golden" / "tensors" / "cat-mel_2bar_small" / "folk" / "airds"


def _melody(time_signature=(4, 4), bars=4) -> NoteSequence:
    beats = time_signature[0] * 4 // time_signature[1]
    notes = [
        Note(pitch=60 + (i % 5), start=i * 0.5, end=(i + 1) * 0.5) for i in range(beats * bars)
    ]
    return NoteSequence.from_notes(
        notes, tempos=(Tempo(0.0, 120.0),), time_signatures=(TimeSignature(0.0, *time_signature),)
    )


def _bad_inputs(folder):
    """Writes one file per kind of bad input; returns {file name: kind}."""
    raw = GOOD.read_bytes()
    (folder / "truncated.mid").write_bytes(raw[: len(raw) // 2])
    (folder / "random.mid").write_bytes(np.random.default_rng(0).bytes(3000))
    (folder / "empty.mid").write_bytes(b"")
    empty = mido.MidiFile(type=1)
    empty.tracks.append(mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=500000)]))
    empty.save(folder / "no_notes.mid")
    write_midi(_melody((3, 4)), folder / "three_four.mid")
    type2 = mido.MidiFile(type=2)
    for pitch in (60, 64):
        type2.tracks.append(
            mido.MidiTrack(
                [
                    mido.Message("note_on", note=pitch, velocity=90, time=0),
                    mido.Message("note_off", note=pitch, velocity=0, time=480),
                ]
            )
        )
    type2.save(folder / "type2.mid")
    # Ticks beyond note_seq's limit (1e10, it raises pretty_midi's 1e7): 50 x 2.6e8 ticks.
    absurd = mido.MidiFile(type=1)
    absurd.tracks.append(
        mido.MidiTrack(
            [mido.Message("note_on", note=60, velocity=90, time=0)]
            + [mido.MetaMessage("text", text="x", time=260_000_000) for _ in range(50)]
            + [mido.Message("note_off", note=60, velocity=0, time=0)]
        )
    )
    absurd.save(folder / "absurd_ticks.mid")
    (folder / "sub").mkdir()
    os.symlink(folder / "missing-target.mid", folder / "sub" / "dangling.mid")


def test_bad_inputs_are_reported_and_good_files_still_convert(tmp_path, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    _bad_inputs(inputs)
    shutil.copy(GOOD, inputs / "good.mid")
    out = tmp_path / "out"
    code = main(
        [
            "convert",
            "--config",
            "cat-mel_2bar_small",
            "--all-windows",
            "--quiet",
            "--workers",
            "2",
            "--output",
            str(out),
            str(inputs),
        ]
    )
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    entries = {e["file"]: e for e in report["files"]}
    assert set(entries) == {
        "truncated.mid",
        "random.mid",
        "empty.mid",
        "no_notes.mid",
        "three_four.mid",
        "type2.mid",
        "absurd_ticks.mid",
        "sub/dangling.mid",
        "good.mid",
    }
    for name in (
        "truncated.mid",
        "random.mid",
        "empty.mid",
        "absurd_ticks.mid",
        "sub/dangling.mid",
    ):
        assert "error" in entries[name], name
        assert entries[name]["error"] and "\n" not in entries[name]["error"]
    assert entries["no_notes.mid"] == {"file": "no_notes.mid", "windows": 0, "reason": "no notes"}
    assert entries["three_four.mid"]["windows"] == 0
    assert "4/4" in entries["three_four.mid"]["reason"]
    assert "error" in entries["type2.mid"] or "windows" in entries["type2.mid"]
    golden = np.load(GOLDEN / "book2_0108_X0309.mid.npz")
    assert entries["good.mid"]["windows"] == len(golden["lengths"]) == 46
    saved = load_windows(out / "good.npz")  # class indices expanded back to one-hot
    assert saved.outputs.shape == (46, 32, 90) and saved.lengths.tolist() == [32] * 46
    assert same_windows(saved, golden)  # Magenta's windows, expanded from class indices
    assert not (out / "no_notes.npz").exists()
    printed = capsys.readouterr().out
    assert "failed: random.mid" in printed


def test_no_window_anywhere_exits_nonzero(tmp_path, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "empty.mid").write_bytes(b"")
    write_midi(_melody((3, 4)), inputs / "waltz.mid")
    code = main(
        [
            "convert",
            "--config",
            "cat-mel_2bar_small",
            "--all-windows",
            "--quiet",
            "--output",
            str(tmp_path / "out"),
            str(inputs),
        ]
    )
    assert code == 1
    assert "no input yielded a melody window" in capsys.readouterr().err


def test_missing_input_and_unknown_config_are_clear_errors(tmp_path, capsys):
    assert (
        main(
            [
                "convert",
                "--config",
                "cat-mel_2bar_small",
                "--output",
                str(tmp_path),
                str(tmp_path / "nope"),
            ]
        )
        == 2
    )
    assert "does not exist" in capsys.readouterr().err
    assert main(["convert", "--config", "mel_2bar", "--output", str(tmp_path), str(GOOD)]) == 2
    assert "valid configs" in capsys.readouterr().err


def test_training_mode_caps_windows_per_file_deterministically(tmp_path):
    args = ["convert", "--config", "cat-mel_2bar_small", "--quiet", "--seed", "3", str(GOOD)]
    assert main(args + ["--output", str(tmp_path / "a")]) == 0
    assert main(args + ["--output", str(tmp_path / "b")]) == 0
    a, b = (
        load_windows(tmp_path / "a" / "book2_0108_X0309.npz"),
        load_windows(tmp_path / "b" / "book2_0108_X0309.npz"),
    )
    assert len(a.lengths) == 5  # max_tensors_per_notesequence
    assert np.array_equal(a.outputs, b.outputs)


@pytest.mark.parametrize("config", ["cat-drums_2bar_small", "hierdec-trio_16bar"])
def test_convert_other_converters_write_their_depths(tmp_path, config):
    src = FIXTURES / "golden" / "corpus" / "multitrack" / "mma"
    assert (
        main(
            [
                "convert",
                "--config",
                config,
                "--all-windows",
                "--quiet",
                "--output",
                str(tmp_path),
                str(src),
            ]
        )
        == 0
    )
    path = tmp_path / "mma__examples__after__after.npz"
    name = "mma__examples__after__after.mid.npz"
    saved = load_windows(path)
    expected = {"cat-drums_2bar_small": (10, 512), "hierdec-trio_16bar": (692, 692)}[config]
    assert (saved.inputs.shape[-1], saved.outputs.shape[-1]) == expected
    golden = np.load(FIXTURES / "golden" / "tensors" / config / "multitrack" / "mma" / name)
    assert same_windows(saved, golden)
    # Stored as class indices: far below the one-hot bytes (issue 8, item 12).
    one_hot_bytes = saved.inputs.size + saved.outputs.size
    assert path.stat().st_size < one_hot_bytes / 100
    with np.load(path) as raw:
        assert raw["tokens"].dtype == np.int16 and "outputs" not in raw
