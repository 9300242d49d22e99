"""The built-in `folk` corpus: spec parsing, the fixed tune order, building, and ABC conversion.

The ABC fixtures are hand-written tunes whose expected notes are counted by hand from the ABC
(L: note lengths, bar lengths from M:), not taken from our output.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import sys

import mido
import pytest

from musicvae import files
from musicvae.corpus import abc, folk
from musicvae.corpus.abc import AbcError, abc_to_sequence, split_tunes
from musicvae.music.midi_io import midi_bytes

# ---------------------------------------------------------------------------------------- specs


@pytest.mark.parametrize("text, expected", [("folk", None), ("folk:5", 5), (" folk:12 ", 12)])
def test_parse_folk_spec(text, expected):
    assert folk.is_folk_spec(text)
    assert folk.parse_folk_spec(text) == expected


@pytest.mark.parametrize("text", ["folk:", "folk:0", "folk:-3", "folk:x", "folk:5:6", "folk10"])
def test_parse_folk_spec_rejects_malformed(text):
    with pytest.raises(ValueError, match="folk:N"):
        folk.parse_folk_spec(text)


@pytest.mark.parametrize("text", ["midi/", "folklore", "data/folk", "Folk"])
def test_paths_are_not_folk_specs(text):
    assert not folk.is_folk_spec(text)


def test_cache_root_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv("MUSICVAE_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert files.cache_root() == tmp_path / "xdg" / "musicvae"
    monkeypatch.setenv("MUSICVAE_CACHE", str(tmp_path / "mine"))
    assert files.cache_root() == tmp_path / "mine"
    assert folk.folk_cache_dir() == tmp_path / "mine" / "folk" / folk.CACHE_VERSION
    assert folk.folk_cache_dir(tmp_path, rebar_2_4=True) != folk.folk_cache_dir(tmp_path)


# ------------------------------------------------------------------------------ the tune order


@pytest.fixture(scope="module")
def tunes():
    return folk.folk_tunes()


def test_corpus_is_all_there(tunes):
    assert len(tunes) > 12_000  # 12,949 in music21 9 and 10
    assert {t.collection for t in tunes} == {name for name, _ in folk.COLLECTIONS}
    assert len({t.tune_id for t in tunes}) == len(tunes)
    assert len({t.relpath for t in tunes}) == len(tunes)
    pattern = re.compile(r"^[a-z]+/[^/]+_\d{4}_X\w+\.mid$")
    assert all(pattern.match(t.relpath) for t in tunes)


def test_order_is_sha1_of_tune_id(tunes):
    ranks = [hashlib.sha1(t.tune_id.encode()).hexdigest() for t in tunes]
    assert ranks == sorted(ranks)
    assert [t.tune_id for t in folk.folk_tunes()] == [t.tune_id for t in tunes]


def test_order_does_not_depend_on_python_hash_seed(tunes):
    code = "from musicvae.corpus import folk; print([t.tune_id for t in folk.folk_tunes()[:20]])"
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str([t.tune_id for t in tunes[:20]])


# ------------------------------------------------------------------------------------- building


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """folk:8 built into a fresh cache by two worker processes."""
    cache = tmp_path_factory.mktemp("cache")
    paths = folk.folk_midi_files(8, cache_dir=cache, workers=2, progress=False)
    return cache, paths


def test_build_small_subset(built, tunes):
    cache, paths = built
    out_dir = folk.folk_cache_dir(cache)
    report = out_dir / folk.FAILURES_FILE
    failures = json.loads(report.read_text()) if report.exists() else {}
    expected = [out_dir / t.relpath for t in tunes[:8] if t.tune_id not in failures]
    assert paths == expected and len(paths) >= 7
    for path in paths:
        midi = mido.MidiFile(path)
        assert any(msg.type == "note_on" and msg.velocity > 0 for msg in midi)
    assert not list(out_dir.rglob("*.tmp"))  # temp files were renamed into place
    assert "non-commercial" in (out_dir / folk.LICENSE_FILE).read_text()


def test_subsets_are_prefixes(built):
    cache, paths = built
    assert folk.folk_midi_files(4, cache_dir=cache, workers=1, progress=False) == paths[:4]


def test_rebuild_only_makes_what_is_missing(built):
    cache, paths = built
    mtimes = {p: p.stat().st_mtime_ns for p in paths}
    paths[3].unlink()
    again = folk.folk_midi_files(8, cache_dir=cache, workers=1, progress=False)
    assert again == paths
    assert paths[3].exists()
    assert all(p.stat().st_mtime_ns == mtimes[p] for p in paths if p != paths[3])


def test_failures_are_recorded_and_not_retried(monkeypatch, tmp_path, tunes):
    broken = folk.FolkTune("misc", "broken", 0, "1", "X:1\nT:no notes\nM:4/4\nK:C\n")
    monkeypatch.setattr(folk, "folk_tunes", lambda: [broken, tunes[0]])
    paths = folk.folk_midi_files(cache_dir=tmp_path, workers=1, progress=False)
    out_dir = folk.folk_cache_dir(tmp_path)
    assert paths == [out_dir / tunes[0].relpath]
    failures = json.loads((out_dir / folk.FAILURES_FILE).read_text())
    assert failures == {"misc/broken/0": "no notes"}

    def must_not_run(*args, **kwargs):
        raise AssertionError("a recorded failure was converted again")

    monkeypatch.setattr(folk, "abc_to_sequence", must_not_run)
    assert folk.folk_midi_files(cache_dir=tmp_path, workers=1, progress=False) == paths


# ------------------------------------------------------------------------------ ABC conversion


def _quarters(seq, seconds):
    return round(seconds * seq.tempos[0].qpm / 60.0, 6)


def _notes_in_quarters(seq):
    return [(n.pitch, _quarters(seq, n.start), _quarters(seq, n.end)) for n in seq.notes()]


def test_split_tunes_drops_header_and_keeps_numbers():
    text = "% a header comment\n\nX: 7\nT:a\nK:C\nC|\n\nX:0008\nT:b\nK:C\nD|\n"
    tunes = split_tunes(text)
    assert [(t.index, t.number) for t in tunes] == [(0, "7"), (1, "0008")]
    assert tunes[1].text.startswith("X:0008\nT:b")


def test_pickup_bar_keeps_bar_lines_in_place():
    # A 1-beat pickup in 4/4: the first full bar (starting on c) must start at a bar line.
    tune = "X:1\nT:pickup\nM:4/4\nL:1/4\nK:C\nG|c d e f|g4|]\n"
    seq = abc_to_sequence(tune).sequence
    assert [(ts.time, ts.numerator, ts.denominator) for ts in seq.time_signatures] == [(0, 4, 4)]
    assert _notes_in_quarters(seq)[:2] == [(67, 3.0, 4.0), (72, 4.0, 5.0)]
    assert _notes_in_quarters(seq)[-1] == (79, 8.0, 12.0)
    # The same in the MIDI file, in ticks.
    midi = mido.MidiFile(file=io.BytesIO(midi_bytes(seq)))
    ons, now = [], 0
    for msg in midi.tracks[1]:
        now += msg.time
        if msg.type == "note_on" and msg.velocity > 0:
            ons.append((msg.note, now / midi.ticks_per_beat))
    assert ons[:2] == [(67, 3.0), (72, 4.0)]


def test_pickup_in_6_8():
    # Bar = 3 quarters, pickup = one eighth (0.5): pad 2.5, so G lands on quarter 3.
    seq = abc_to_sequence("X:1\nM:6/8\nL:1/8\nK:G\nD|G2A B2c|d3 d2|]\n").sequence
    assert _notes_in_quarters(seq)[:2] == [(62, 2.5, 3.0), (67, 3.0, 4.0)]


def test_rebar_2_4_writes_4_4_and_pads_to_a_4_4_bar():
    tune = "X:1\nM:2/4\nL:1/8\nK:D\nA|d2 f2|a4|]\n"
    plain = abc_to_sequence(tune).sequence
    rebar = abc_to_sequence(tune, rebar_2_4=True).sequence
    assert [(t.numerator, t.denominator) for t in plain.time_signatures] == [(2, 4)]
    assert [(t.numerator, t.denominator) for t in rebar.time_signatures] == [(4, 4)]
    assert _notes_in_quarters(plain)[:2] == [(69, 1.5, 2.0), (74, 2.0, 3.0)]
    assert _notes_in_quarters(rebar)[:2] == [(69, 3.5, 4.0), (74, 4.0, 5.0)]


def test_repeats_without_start_sign_play_aabb():
    # `A :| B :|`: B repeats from the previous end repeat, as players read it (music21 alone
    # plays A A B A A B).
    seq = abc_to_sequence("X:1\nM:2/4\nL:1/4\nK:C\nC D|E F:|G A|B c:|\n").sequence
    a, b = [60, 62, 64, 65], [67, 69, 71, 72]
    assert [n.pitch for n in seq.notes()] == a + a + b + b


def test_repeat_without_start_sign_goes_back_to_the_double_bar():
    seq = abc_to_sequence("X:1\nM:2/4\nL:1/4\nK:C\nC D|E F||G A|B c:|\n").sequence
    assert [n.pitch for n in seq.notes()] == [60, 62, 64, 65] + [67, 69, 71, 72] * 2


def test_first_and_second_endings():
    seq = abc_to_sequence("X:1\nM:2/4\nL:1/4\nK:C\n|:C D|1 E F:|2 G A|]\n").sequence
    assert [n.pitch for n in seq.notes()] == [60, 62, 64, 65, 60, 62, 67, 69]
    assert _notes_in_quarters(seq)[-1] == (69, 7.0, 8.0)


def test_second_part_after_endings_repeats_from_its_own_start():
    tune = "X:1\nM:2/4\nL:1/4\nK:C\nC D|1 E F:|2 G A||c d|1 e f:|2 g a|]\n"
    seq = abc_to_sequence(tune).sequence
    a1, a2 = [60, 62, 64, 65], [60, 62, 67, 69]
    b1, b2 = [72, 74, 76, 77], [72, 74, 79, 81]
    assert [n.pitch for n in seq.notes()] == a1 + a2 + b1 + b2


def test_runaway_expansion_falls_back_to_the_written_tune(monkeypatch):
    # A bound of 1.5x makes a plain |: :| (2x) "run away", which exercises the fallback.
    monkeypatch.setattr(abc, "MAX_EXPANSION_RATIO", 1.5)
    conversion = abc_to_sequence("X:1\nM:2/4\nL:1/4\nK:C\n|:C D|E F|G A:|\n")
    assert [n.pitch for n in conversion.sequence.notes()] == [60, 62, 64, 65, 67, 69]
    assert len(conversion.remarks) == 1 and "repeats not expanded" in conversion.remarks[0]


def test_too_long_tunes_fail(monkeypatch):
    monkeypatch.setattr(abc, "MAX_QUARTERS", 3.0)
    with pytest.raises(AbcError, match="too long"):
        abc_to_sequence("X:1\nM:2/4\nL:1/4\nK:C\nC D|E F|G A|]\n")


def test_ties_chords_symbols_graces_tempo_velocity():
    tune = 'X:1\nM:4/4\nL:1/8\nQ:1/4=90\nK:C\n"Am"A2- A2 [CE]2 (3{F}EDE|c8|]\n'
    seq = abc_to_sequence(tune).sequence
    assert [(t.time, t.qpm) for t in seq.tempos] == [(0.0, 90.0)]
    # The tied A is one note, the chord two, "Am" and the grace F none; the triplet takes one
    # quarter even with a grace note inside it, so c starts on the next bar.
    third = 1 / 3
    expected = [
        (69, 0.0, 2.0),
        (60, 2.0, 3.0),
        (64, 2.0, 3.0),
        (64, 3.0, 3 + third),
        (62, 3 + third, 3 + 2 * third),
        (64, 3 + 2 * third, 4.0),
        (72, 4.0, 8.0),
    ]
    got = _notes_in_quarters(seq)
    assert [n[0] for n in got] == [n[0] for n in expected]
    times = [t for n in got for t in n[1:]]
    assert times == pytest.approx([t for n in expected for t in n[1:]], abs=1e-6)
    assert set(seq.velocity.tolist()) == {abc.DEFAULT_VELOCITY}
    assert set(seq.program.tolist()) == {0}


def test_tie_between_different_pitches_keeps_both_notes():
    # O'Neill's writes `B-A` (a slur drawn as a tie). music21's stripTies would merge A into B
    # and lose it; only a tie to the same pitch joins notes.
    seq = abc_to_sequence("X:1\nM:3/4\nL:1/8\nK:G\nB-A B-d c-A|G6-|G6|]\n").sequence
    assert _notes_in_quarters(seq) == [
        (71, 0.0, 0.5),
        (69, 0.5, 1.0),
        (71, 1.0, 1.5),
        (74, 1.5, 2.0),
        (72, 2.0, 2.5),
        (69, 2.5, 3.0),
        (67, 3.0, 9.0),
    ]


def test_time_signatures_move_with_the_pickup_padding():
    # 3/4 with a 1-beat pickup (pad 2). music21 splits the overfull bar `f g a b` into a 3/4 bar
    # and a 1/4 bar holding b (written at quarter 7), then returns to 3/4 for the last bar: the
    # signatures must follow the notes by the same 2 quarters.
    seq = abc_to_sequence("X:1\nM:3/4\nL:1/4\nK:C\nG|c d e|f g a b|c3|]\n").sequence
    signatures = [(_quarters(seq, t.time), t.numerator, t.denominator) for t in seq.time_signatures]
    assert signatures == [(0.0, 3, 4), (9.0, 1, 4), (10.0, 3, 4)]
    assert [(p, s) for p, s, _ in _notes_in_quarters(seq)][-2:] == [(83, 9.0), (72, 10.0)]


def test_tunes_without_notes_fail():
    with pytest.raises(AbcError, match="no notes"):
        abc_to_sequence("X:1\nT:empty\nM:4/4\nK:C\n")
