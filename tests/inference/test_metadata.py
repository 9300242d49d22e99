"""Musical metadata of outputs (issue 8, item 8): the input's tempo is kept (interpolation: the
start's), a qpm parameter sets it, every output carries 4/4; all-rest results are dropped."""

from __future__ import annotations

import mido
import numpy as np
import pytest
import torch

from musicvae.builders import build_model
from musicvae.configs import get_config
from musicvae.data.converters import base, build_converter
from musicvae.inference import TrainedModel
from musicvae.inference.silence import drop_silent
from musicvae.music.midi_io import write_midi
from musicvae.music.notes import Note, NoteSequence, Tempo, TimeSignature

FOUR_FOUR = (TimeSignature(0.0, 4, 4),)


def _meta_events(path) -> list[tuple[str, dict]]:
    """The raw tempo and meter events of a MIDI file, read with mido."""
    out = []
    for track in mido.MidiFile(path).tracks:
        for msg in track:
            if msg.type == "set_tempo":
                out.append(("tempo", msg.tempo))
            if msg.type == "time_signature":
                out.append(("meter", (msg.numerator, msg.denominator)))
    return out


@pytest.mark.parametrize(
    "config", ["cat-mel_2bar_small", "cat-drums_2bar_small", "hierdec-trio_16bar"]
)
def test_from_tensors_takes_a_qpm_and_marks_4_4(config, tmp_path):
    data = get_config(config).data
    converter = build_converter(data)
    # One event at step 4 (the second beat) in every stream: pitch 60 (class 41; bass: 35,
    # class 16) and a kick (bitmask 1); class 0 (nothing new) everywhere else.
    tokens = np.zeros((1, data.seq_len, len(converter.stream_depths)), np.int64)
    tokens[0, 4] = {1: [1 if data.kind == "drums" else 41], 3: [41, 16, 1]}[tokens.shape[-1]]
    samples = converter.tokens_to_outputs(tokens)
    (default,) = converter.from_tensors(samples)
    assert default.tempos == (Tempo(0.0, 120.0),) and default.time_signatures == FOUR_FOUR
    (seq,) = converter.from_tensors(samples, qpm=90.0)
    assert seq.tempos == (Tempo(0.0, 90.0),) and seq.time_signatures == FOUR_FOUR
    # Step 4 is the second beat: 60 / 90 s at 90 qpm (0.5 s at 120).
    np.testing.assert_allclose(seq.start, 60.0 / 90.0)
    np.testing.assert_allclose(default.start, 0.5)
    write_midi(seq, tmp_path / "x.mid")
    assert _meta_events(tmp_path / "x.mid") == [("tempo", 666667), ("meter", (4, 4))]


@pytest.mark.parametrize("qpm", [0, -10, float("nan"), float("inf"), 3.0, 5000])
def test_unusable_tempos_are_refused(qpm):
    with pytest.raises(ValueError, match="qpm must be a tempo in 4..1000"):
        base.check_qpm(qpm)


@pytest.fixture(scope="module")
def model() -> TrainedModel:
    torch.manual_seed(0)
    config = get_config("debug-cat-mel_2bar")
    return TrainedModel(build_model(config), config)


def qpms(seq: NoteSequence) -> list[float]:
    """Tempos in qpm, to 1e-3 (a MIDI file stores whole microseconds per quarter)."""
    return [round(t.qpm, 3) for t in seq.tempos]


def _tune(path, qpm: float, pitches=(60, 62, 64, 65, 67)):
    """Two bars of 8th notes at `qpm`."""
    eighth = 30.0 / qpm
    notes = [Note(pitches[i % 5], i * eighth, (i + 1) * eighth) for i in range(16)]
    write_midi(NoteSequence.from_notes(notes, tempos=(Tempo(0.0, qpm),)), path)
    return path


def test_outputs_keep_the_input_tempo(model, tmp_path):
    slow = _tune(tmp_path / "slow.mid", 90.0)
    fast = _tune(tmp_path / "fast.mid", 150.0, (72, 74, 76, 77, 79))
    (recon,), (recon_fast,) = model.reconstruct([slow, fast])
    assert qpms(recon) == [90.0] and recon.time_signatures == FOUR_FOUR
    assert qpms(recon_fast) == [150.0]
    (window,) = model.window_sequences(slow)
    assert qpms(window) == [90.0]
    path = model.interpolate(slow, fast, 3)
    assert [qpms(s) for s in path] == [[90.0]] * 3  # the start's tempo
    assert qpms(model.interpolate(fast, slow, 2)[0]) == [150.0]
    assert qpms(model.similar(fast, 2, 0.5, seed=0)[1]) == [150.0]


def test_qpm_sets_the_tempo(model, tmp_path):
    slow = _tune(tmp_path / "slow.mid", 90.0)
    assert qpms(model.reconstruct([slow], qpm=140.0)[0][0]) == [140.0]
    assert qpms(model.interpolate(slow, slow, 2, qpm=100.0)[1]) == [100.0]
    for seq in model.sample(2, seed=0, qpm=75.0):
        assert qpms(seq) == [75.0] and seq.time_signatures == FOUR_FOUR
    assert qpms(model.sample(1, seed=0)[0]) == [120.0]
    # A window tensor has no tempo: 120, Magenta's default.
    window = model.windows(slow).inputs[0]
    assert qpms(model.reconstruct([window])[0][0]) == [120.0]
    with pytest.raises(ValueError, match="qpm"):
        model.sample(1, qpm=0)


def test_all_rest_results_are_dropped_and_named():
    note = NoteSequence.from_notes([Note(60, 0.0, 0.5)])
    kept, skipped = drop_silent([("a", note), ("b", NoteSequence.empty()), ("c", note)])
    assert [stem for stem, _ in kept] == ["a", "c"] and skipped == ["b"]
