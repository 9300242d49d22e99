"""from_tensors(to_tensors(x)) gives back the quantized notes of each window, on real files."""

from __future__ import annotations

import numpy as np
import pytest

from musicvae.configs import get_config
from musicvae.data.converters import build_converter
from musicvae.music import sequences
from musicvae.music.drums import pitch_class_table
from musicvae.music.midi_io import read_midi
from tests.conftest import FIXTURES

CORPUS = FIXTURES / "golden" / "corpus"
CLASS_OF = pitch_class_table()


def melody_windows(starts, ends, pitches, window: int, bars: range) -> set:
    """Expected notes of every window of a monophonic line: (start, end, pitch) per window.

    A note belongs to a window when its onset is inside it; a note held past the window's end
    ends there; a note begun before the window is not part of it.
    """
    out = set()
    for b in bars:
        lo = b * 16
        notes = tuple(
            (s - lo, min(e, lo + window) - lo, p)
            for s, e, p in zip(starts, ends, pitches, strict=False)
            if lo <= s < lo + window
        )
        out.add(notes)
    return out


def steps(seconds: np.ndarray) -> list[int]:
    """Decoded times are multiples of a 16th at 120 qpm (0.125 s)."""
    assert np.allclose(seconds / 0.125, np.round(seconds / 0.125))
    return np.round(seconds / 0.125).astype(int).tolist()


def decoded_melody(seq) -> tuple:
    return tuple(zip(steps(seq.start), steps(seq.end), seq.pitch.tolist(), strict=False))


@pytest.mark.parametrize(
    "tune", ["folk/airds/book2_0108_X0309.mid", "folk/airds/book3_0134_X0535.mid"]
)
def test_melody_windows_decode_to_source_notes(tune):
    config = get_config("cat-mel_2bar_small")
    seq = read_midi(CORPUS / tune)
    tensors = build_converter(config.data).to_tensors(seq)
    assert len(tensors) > 0
    q = sequences.quantize(seq, 4)
    order = np.argsort(q.start_step, kind="stable")
    starts, ends, pitches = (q.start_step[order], q.end_step[order], q.pitch[order])
    assert np.all(starts[1:] >= ends[:-1]), "the folk tune is monophonic"
    expected = melody_windows(starts, ends, pitches, 32, range(q.total_quantized_steps // 16))
    decoded = build_converter(config.data).from_tensors(tensors.outputs)
    assert len(decoded) == len(tensors)
    for seq_out in decoded:
        assert np.all(seq_out.velocity == 80)
        assert decoded_melody(seq_out) in expected


def test_drum_windows_decode_to_source_hits():
    config = get_config("cat-drums_2bar_small")
    seq = read_midi(CORPUS / "multitrack/mma/mma__examples__tutorial__fella1.mid")
    tensors = build_converter(config.data).to_tensors(seq)
    assert len(tensors) > 0
    q = sequences.quantize(seq, 4)
    drum = q.is_drum & (CLASS_OF[q.pitch] >= 0)
    hits = set(zip(q.start_step[drum].tolist(), CLASS_OF[q.pitch[drum]].tolist(), strict=False))
    expected = {
        frozenset((s - b * 16, c) for s, c in hits if b * 16 <= s < b * 16 + 32)
        for b in range(q.total_quantized_steps // 16)
    }
    for out in build_converter(config.data).from_tensors(tensors.outputs):
        assert np.all(out.is_drum) and np.allclose(out.end - out.start, 0.125)
        got = frozenset(zip(steps(out.start), CLASS_OF[out.pitch].tolist(), strict=False))
        assert got in expected
        # Decoding uses each class's first pitch (36 kick, 38 snare, 42 closed hat, ...).
        firsts = {36, 38, 42, 46, 45, 48, 50, 49, 51}
        assert set(out.pitch.tolist()) <= firsts


def test_trio_windows_decode_to_their_three_instruments():
    config = get_config("hierdec-trio_16bar")
    seq = read_midi(CORPUS / "multitrack/mma/mma__examples__after__after.mid")
    converter = build_converter(config.data)
    tensors = converter.to_tensors(seq)
    assert len(tensors) > 0 and tensors.outputs.shape[1:] == (256, 692)
    decoded = converter.from_tensors(tensors.outputs)
    q = sequences.quantize(seq, 4)
    bars = range(q.total_quantized_steps // 16)
    # Each decoded stream must be a 16-bar window of some source instrument of its kind.
    candidates = {"melody": set(), "bass": set()}
    for inst in np.unique(q.instrument):
        sel = (q.instrument == inst) & ~q.is_drum & (q.pitch >= 21) & (q.pitch <= 108)
        if not sel.any():
            continue
        program = int(q.program[sel][0])
        kind = "melody" if program < 32 else "bass" if program < 40 else None
        if kind is None:
            continue
        order = np.argsort(q.start_step[sel], kind="stable")
        s, e, p = (q.start_step[sel][order], q.end_step[sel][order], q.pitch[sel][order])
        if np.all(s[1:] >= e[:-1]):  # monophonic lines only: simple expectation
            candidates[kind] |= melody_windows(s, e, p, 256, bars)
    checked = 0
    for out in decoded:
        mel = out.select(out.program == 0)
        bass = out.select(out.program == 33)
        drums = out.select(out.is_drum)
        assert len(mel) and len(bass) and len(drums)
        assert np.all(bass.instrument == 1)
        for part, kind in ((mel, "melody"), (bass, "bass")):
            if candidates[kind] and decoded_melody(part) in candidates[kind]:
                checked += 1
    assert checked > 0
