"""Melodies on any instrument (issue 8, item 2): the real reason when a file yields no melody
window, and the opt-in any_program rule (Magenta's programs 0-31 stay the default)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from musicvae.configs import ConfigError, get_config, with_any_program
from musicvae.data import prepare
from musicvae.data.converters import build_converter
from musicvae.data.windows import Source, windows_of
from musicvae.music.midi_io import read_midi, write_midi
from musicvae.music.notes import Note, NoteSequence, Tempo, TimeSignature

MEL2 = get_config("cat-mel_2bar_small")


def _tune(program=0, pitches=(60, 62, 64, 65, 67), bars=4, time_signatures=()):
    """A 120 qpm tune of 8th notes cycling through `pitches` (a 4/4 bar is 2 s)."""
    notes = [
        Note(pitch=pitches[i % len(pitches)], start=i * 0.25, end=(i + 1) * 0.25, program=program)
        for i in range(8 * bars)
    ]
    return NoteSequence.from_notes(
        notes, tempos=(Tempo(0.0, 120.0),), time_signatures=time_signatures
    )


def _through_midi(seq: NoteSequence, tmp_path, name="x.mid") -> NoteSequence:
    write_midi(seq, tmp_path / name)
    return read_midi(tmp_path / name)


def test_a_violin_tune_names_its_program_and_the_option(tmp_path):
    violin = _through_midi(_tune(program=40), tmp_path)
    assert len(windows_of(MEL2.data, violin)) == 0  # Magenta's rule: programs 0-31 only
    reason = build_converter(MEL2.data).no_window_reason(violin)
    assert "programs 40 (strings)" in reason
    assert "reads programs 0-31 only" in reason and "--any-program" in reason


def test_any_program_reads_the_violin_tune_as_the_same_tune_on_a_piano(tmp_path):
    violin = _through_midi(_tune(program=40), tmp_path, "violin.mid")
    piano = _through_midi(_tune(program=0), tmp_path, "piano.mid")
    expected = windows_of(MEL2.data, piano)  # Magenta's rule accepts program 0
    assert len(expected) == 3  # 4 bars, windows of 2 bars every bar
    got = windows_of(with_any_program(MEL2).data, violin)
    assert np.array_equal(got.outputs, expected.outputs)
    # Synth lead (80) and flute (73) too; drums are still never a melody.
    for program in (73, 80):
        assert len(windows_of(with_any_program(MEL2).data, _tune(program=program))) == 3


def test_any_program_is_for_melody_configs_only():
    with pytest.raises(ConfigError, match="melody configs; cat-drums_2bar_small is a drums"):
        with_any_program(get_config("cat-drums_2bar_small"))


def test_notes_outside_21_to_108_are_named():
    high = _tune(pitches=(110, 112))
    assert "all its melody notes (pitches 110-112) lie outside the range 21-108" in build_converter(
        MEL2.data
    ).no_window_reason(high)


def test_a_short_polyphonic_line_is_described():
    # One bar of three-note chords, then nothing: a one-bar melody, too short for 2 bars.
    chords = [
        Note(pitch=p, start=i * 0.5, end=(i + 1) * 0.5) for i in range(4) for p in (60, 64, 67)
    ]
    seq = NoteSequence.from_notes(chords, tempos=(Tempo(0.0, 120.0),))
    reason = build_converter(MEL2.data).no_window_reason(seq)
    assert reason.startswith("no monophonic melody spanning 2 bars of 4/4: ")
    assert "the longest melody line spans 1 bar (a rest of 1 bar or more ends a line)" in reason
    assert "polyphonic: 4 chords, of which only the top note is kept" in reason
    assert "programs 0 (piano)" in reason


def test_mixed_meters_are_named():
    # Bars in 3/4, then one 4/4 bar at 6 s: the 4/4 part is too short for a 2-bar window.
    seq = _tune(bars=4, time_signatures=(TimeSignature(0.0, 3, 4), TimeSignature(6.0, 4, 4)))
    reason = build_converter(MEL2.data).no_window_reason(seq)
    assert "meters 3/4, 4/4 (4/4 parts only)" in reason


def test_prepare_with_any_program(tmp_path):
    write_midi(_tune(program=40), tmp_path / "violin.mid")
    source = [
        Source(tmp_path / "violin.mid", tmp_path.joinpath("violin.mid").relative_to(tmp_path))
    ]
    plain = prepare.prepare_dataset(MEL2, source, tmp_path / "plain", progress=False)
    assert plain["counts"]["files_with_windows"] == 0
    assert "--any-program" in plain["sources"][0]["reason"]
    opened = prepare.prepare_dataset(
        with_any_program(MEL2), source, tmp_path / "any", progress=False
    )
    assert opened["counts"]["files_with_windows"] == 1


def test_datasets_prepared_before_any_program_still_resume(tmp_path):
    write_midi(_tune(), tmp_path / "piano.mid")
    source = [Source(tmp_path / "piano.mid", tmp_path.joinpath("piano.mid").relative_to(tmp_path))]
    out = tmp_path / "ds"
    prepare.prepare_dataset(MEL2, source, out, progress=False)
    settings = json.loads((out / "settings.json").read_text())
    del settings["data"]["any_program"]  # as written by earlier versions
    (out / "settings.json").write_text(json.dumps(settings))
    assert prepare.prepare_dataset(MEL2, source, out, progress=False)["counts"]["files_read"] == 1


def test_convert_any_program_flag(tmp_path, capsys):
    from musicvae.cli import main

    write_midi(_tune(program=40), tmp_path / "violin.mid")
    args = ["convert", "--config", "cat-mel_2bar_small", "--all-windows", "--quiet"]
    assert main(args + ["--output", str(tmp_path / "a"), str(tmp_path / "violin.mid")]) == 1
    report = json.loads((tmp_path / "a" / "report.json").read_text())
    assert "programs 40 (strings)" in report["files"][0]["reason"]
    assert (
        main(
            args + ["--any-program", "--output", str(tmp_path / "b"), str(tmp_path / "violin.mid")]
        )
        == 0
    )
    report = json.loads((tmp_path / "b" / "report.json").read_text())
    assert report["files"][0]["windows"] == 3
