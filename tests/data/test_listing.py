"""Listing a file's windows (issue 8, item 9): bars, tracks and notes, in the converter's order."""

from __future__ import annotations

import numpy as np
import pytest

from musicvae.configs import get_config, with_any_program
from musicvae.data.converters import build_converter
from musicvae.data.listing import list_file_windows, list_windows
from musicvae.music.midi_io import read_midi
from musicvae.music.notes import Note, NoteSequence, Tempo
from tests.conftest import FIXTURES

CORPUS = FIXTURES / "golden" / "corpus"
MEL2 = get_config("cat-mel_2bar_small")


def _eighths(first_bar: int, bars: int, qpm: float = 120.0, offset: float = 0.0, program=0):
    """8th notes from bar `first_bar` (1-based) for `bars` bars; pitches cycle over 5."""
    eighth = 30.0 / qpm
    start = offset + (first_bar - 1) * 8 * eighth
    return [
        Note(60 + 2 * (i % 5), start + i * eighth, start + (i + 1) * eighth, program=program)
        for i in range(8 * bars)
    ]


def _onsets(config, outputs: np.ndarray) -> list[int]:
    """Note onsets per window, counted from the converter's own one-hot outputs."""
    kind = config.data.kind
    if kind == "melody":
        return (outputs.argmax(-1) >= 2).sum(-1).tolist()
    masks = outputs[..., -512:].argmax(-1)
    hits = [sum(bin(m).count("1") for m in row) for row in masks.tolist()]
    if kind == "drums":
        return hits
    tones = (outputs[..., :90].argmax(-1) >= 2).sum(-1) + (
        outputs[..., 90:180].argmax(-1) >= 2
    ).sum(-1)
    return (tones + np.asarray(hits)).tolist()


def test_bars_tracks_and_notes_of_a_hand_made_file():
    # Two silent bars, then three bars of 8th notes: windows at bars 3-4 and 4-5, 16 notes each.
    seq = NoteSequence.from_notes(_eighths(3, 3, program=40), tempos=(Tempo(0.0, 120.0),))
    infos = list_windows(get_config("cat-mel_2bar_small").data, seq)
    assert infos == []  # program 40: Magenta's 2-bar rule reads 0-31 only
    infos = list_windows(with_any_program(MEL2).data, seq)
    assert sorted((i.first_bar, i.last_bar, i.notes) for i in infos) == [(3, 4, 16), (4, 5, 16)]
    assert [i.index for i in infos] == [0, 1]
    assert {i.tracks for i in infos} == {("instrument 0, program 40 (strings)",)}
    assert infos[0].describe().startswith(f"window 0: bars {infos[0].first_bar}-")


def test_bars_count_on_across_a_tempo_change():
    # Two bars at 120 qpm (4 s), then three bars at 60 qpm starting at 4 s: Magenta converts the
    # two stretches separately; the second one's windows are bars 3-4 and 4-5 of the file.
    notes = _eighths(1, 1) + _eighths(1, 3, qpm=60.0, offset=4.0)
    seq = NoteSequence.from_notes(notes, tempos=(Tempo(0.0, 120.0), Tempo(4.0, 60.0)))
    infos = list_windows(MEL2.data, seq)
    assert sorted((i.first_bar, i.last_bar) for i in infos) == [(3, 4), (4, 5)]
    assert len(infos) == len(build_converter(MEL2.data).to_tensors(seq))


@pytest.mark.parametrize(
    "name",
    ["cat-mel_2bar_small", "cat-drums_2bar_small", "hierdec-mel_16bar", "hierdec-trio_16bar"],
)
def test_the_listing_follows_the_converters_order_on_real_files(name):
    config = get_config(name)
    files = sorted(CORPUS.rglob("*.mid"))
    seen = 0
    for path in files:
        windows = build_converter(config.data).to_tensors(read_midi(path))
        infos = list_file_windows(path, config)
        assert len(infos) == len(windows), path
        assert [i.notes for i in infos] == _onsets(config, windows.outputs), path
        for info in infos:
            assert info.last_bar - info.first_bar + 1 == config.data.slice_bars
            assert info.first_bar >= 1
        seen += len(infos)
    assert seen > 0


def test_trio_windows_name_their_three_tracks():
    path = CORPUS / "multitrack" / "mma" / "mma__examples__after__after.mid"
    infos = list_file_windows(path, get_config("hierdec-trio_16bar"))
    assert infos
    for info in infos:
        melody, bass, drums = info.tracks
        assert melody.startswith("melody: instrument ") and bass.startswith("bass: instrument ")
        assert drums.startswith("drums: instrument ")
        program = int(bass.split("program ")[1].split()[0])
        assert 32 <= program < 40  # Magenta's bass programs
