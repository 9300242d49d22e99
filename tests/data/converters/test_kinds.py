"""What each converter owns for its kind: the token codec of datasets, transposition, and the
one-line reason an input yields no window."""

from __future__ import annotations

import numpy as np

from musicvae.configs import get_config
from musicvae.data.converters import build_converter
from musicvae.music.notes import Note, NoteSequence, Tempo


def _seq(notes: list[Note]) -> NoteSequence:
    return NoteSequence.from_notes(notes, tempos=[Tempo(0.0, 120.0)])


def test_trio_tokens_are_three_streams_and_expand_back():
    conv = build_converter(get_config("hierdec-trio_16bar").data)
    tokens = np.array([[[2, 0, 0], [1, 5, 511]]], np.int16)  # (1, 2, 3)
    outputs = conv.tokens_to_outputs(tokens)  # (1, 2, 692)
    assert outputs.shape == (1, 2, 692)
    # hand-placed ones: melody class at 0.., bass at 90.., drums at 180..
    assert np.flatnonzero(outputs[0, 1]).tolist() == [1, 90 + 5, 180 + 511]
    from musicvae.data.converters.base import ConverterTensors

    back = conv.to_tokens(ConverterTensors.from_windows(outputs, outputs))
    assert back.tolist() == tokens.tolist()


def test_drum_roll_inputs_from_tokens():
    conv = build_converter(get_config("cat-drums_2bar_small").data)  # roll_input
    tokens = np.array([[[0], [1], [2 | 8]]], np.int16)  # nothing, class 0, classes 1 and 3
    inputs = conv.tokens_to_inputs(tokens)  # (1, 3, 10)
    assert inputs.shape == (1, 3, 10)
    assert [np.flatnonzero(row).tolist() for row in inputs[0]] == [[9], [0], [1, 3]]


def test_only_melody_transposes_tokens():
    rng = np.random.default_rng(0)
    drums = build_converter(get_config("cat-drums_2bar_small").data)
    tokens = np.array([[[5], [7]]], np.int16)
    assert drums.transpose_tokens(tokens, -5, 5, rng) is tokens
    melody = build_converter(get_config("cat-mel_2bar_small").data)
    windows = np.tile(np.array([[[2], [0], [1]]], np.int16), (50, 1, 1))  # (50, 3, 1)
    moved = melody.transpose_tokens(windows, -5, 5, rng)[..., 0]
    # the lowest note-on class (2) can only move up: shifts 0..5; no-event / note-off stay
    assert set(moved[:, 0].tolist()) == {2, 3, 4, 5, 6, 7}
    assert (moved[:, 1:] == [0, 1]).all()


def test_no_window_reasons_name_the_kind():
    melody = build_converter(get_config("cat-mel_2bar_small").data)
    drums = build_converter(get_config("cat-drums_2bar_small").data)
    trio = build_converter(get_config("hierdec-trio_16bar").data)
    hit = _seq([Note(36, 0.0, 0.1, is_drum=True)])
    tune = _seq([Note(60, 0.0, 0.5)])
    assert melody.no_window_reason(hit, "m") == (
        "it has only drum notes, and m is a melody model (use a drum model)"
    )
    assert drums.no_window_reason(tune, "d") == (
        "it has no drum notes (MIDI channel 10), and d is a drum model"
    )
    # A one-note tune: the melody converter names the real reason (issue 8, item 2).
    assert melody.no_window_reason(tune) == (
        "no monophonic melody spanning 2 bars of 4/4: the longest melody line spans 1 bar "
        "(a rest of 1 bar or more ends a line); programs 0 (piano)"
    )
    assert trio.no_window_reason(tune) == (
        "no section with melody, bass and drums together spanning 16 bars of 4/4"
    )
    assert drums.no_window_reason(_seq([])) == "no notes"
