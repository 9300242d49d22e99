"""The Studio's pure parts against hand-computed values: clips, the blend mix, limits, names,
addresses; the model registry on a second (drum) model folder."""

from __future__ import annotations

import numpy as np
import pytest

from musicvae.music.midi_io import read_midi
from musicvae.music.notes import Note, NoteSequence, Tempo
from musicvae.studio.clips import clip_to_sequence, melody_events, safe_name, sequence_to_clip
from musicvae.studio.limits import Limits
from musicvae.studio.mixing import bilinear_mix, bilinear_weights
from musicvae.studio.server import is_loopback, url_of


def test_clip_round_trip_through_a_sequence():
    notes = [
        {"pitch": 60, "start": 0, "end": 4},
        {"pitch": 64, "start": 4, "end": 6, "velocity": 100},
        {"pitch": 36, "start": 8, "end": 9, "is_drum": True, "instrument": 9},
    ]
    seq = clip_to_sequence(notes, 4)
    assert seq.tempos[0].qpm == 120.0
    np.testing.assert_allclose(seq.start, [0.0, 0.5, 1.0])  # 0.125 s per 16th
    np.testing.assert_allclose(seq.end, [0.5, 0.75, 1.125])
    assert seq.velocity.tolist() == [80, 100, 80] and seq.is_drum.tolist() == [0, 0, 1]
    clip = sequence_to_clip(seq, 4, 32, label="x")
    assert [(n["pitch"], n["start"], n["end"]) for n in clip["notes"]] == [
        (60, 0, 4),
        (64, 4, 6),
        (36, 8, 9),
    ]
    assert clip["steps"] == 32 and clip["label"] == "x"


def test_sequence_to_clip_uses_the_sequence_tempo():
    seq = NoteSequence.from_notes([Note(62, 0.25, 0.5)], tempos=(Tempo(0.0, 60.0),))
    (note,) = sequence_to_clip(seq, 4, 16)["notes"]
    assert (note["start"], note["end"]) == (1, 2)  # 60 qpm: 0.25 s per 16th


def test_a_clip_written_as_midi_reads_back():
    from musicvae.music.midi_io import midi_bytes

    notes = [{"pitch": 67, "start": 2, "end": 10}]
    seq = read_midi(midi_bytes(clip_to_sequence(notes, 4)))
    assert seq.pitch.tolist() == [67]
    np.testing.assert_allclose([seq.start[0], seq.end[0]], [0.25, 1.25], atol=1e-3)


def test_melody_events_by_hand():
    notes = [
        {"pitch": 60, "start": 0, "end": 2},  # held to step 2, where the next note starts
        {"pitch": 62, "start": 2, "end": 3},  # ends at 3: note-off
        {"pitch": 64, "start": 6, "end": 12},  # runs past the 8 steps
    ]
    assert melody_events(notes, 8).tolist() == [60, -2, 62, -1, -2, -2, 64, -2]
    assert melody_events([], 4).tolist() == [-2, -2, -2, -2]


@pytest.mark.parametrize(
    "name, safe",
    [
        ("../../etc/passwd", "etc_passwd"),
        ("sample 1 · seed 42", "sample_1_seed_42"),
        ("", "clip"),
        ("///", "clip"),
        ("a" * 100, "a" * 60),
        ("C:\\Windows\\x.mid", "C_Windows_x_mid"),
    ],
)
def test_safe_names(name, safe):
    assert safe_name(name) == safe


def test_bilinear_weights_by_hand():
    np.testing.assert_allclose(bilinear_weights(0, 0), [1, 0, 0, 0])
    np.testing.assert_allclose(bilinear_weights(1, 1), [0, 0, 0, 1])
    np.testing.assert_allclose(bilinear_weights(0.5, 0.5), [0.25] * 4)
    # (1-x)(1-y), x(1-y), (1-x)y, xy at x = 0.25, y = 0.5
    np.testing.assert_allclose(bilinear_weights(0.25, 0.5), [0.375, 0.125, 0.375, 0.125])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        bilinear_weights(1.01, 0.5)


def test_bilinear_mix_by_hand():
    corners = [[0.0, 0.0], [4.0, 0.0], [0.0, 8.0], [4.0, 8.0]]
    np.testing.assert_allclose(bilinear_mix(corners, 0.25, 0.75), [1.0, 6.0])
    np.testing.assert_allclose(bilinear_mix(corners, 1.0, 0.0), [4.0, 0.0])
    with pytest.raises(ValueError, match="4 corner codes"):
        bilinear_mix(corners[:3], 0.5, 0.5)


def test_limits_are_checked():
    assert Limits().max_samples == 16
    with pytest.raises(ValueError, match="max_steps"):
        Limits(max_steps=0)
    with pytest.raises(ValueError, match="max_upload_bytes"):
        Limits(max_upload_bytes=10, max_body_bytes=5)


@pytest.mark.parametrize(
    "host, loopback",
    [
        ("127.0.0.1", True),
        ("127.8.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("192.168.1.4", False),
        ("example.org", False),
    ],
)
def test_loopback_addresses(host, loopback):
    assert is_loopback(host) is loopback


def test_urls():
    assert url_of("127.0.0.1", 8000) == "http://127.0.0.1:8000/"
    assert url_of("::1", 9000) == "http://[::1]:9000/"


# ------------------------------------------------------------------ registry


@pytest.fixture(scope="module")
def drums_dir(tmp_path_factory):
    from musicvae.builders import build_model
    from musicvae.configs import get_config
    from musicvae.inference.model_dir import save_model_dir

    config = get_config("debug-cat-drums_2bar")
    path = tmp_path_factory.mktemp("m") / "my drums"
    save_model_dir(build_model(config), config, path, {"name": "drums"})
    return path


def test_registry_offers_folders_first_then_the_bundled_model(drums_dir):
    from musicvae.studio.registry import ModelRegistry

    registry = ModelRegistry.from_paths([drums_dir, drums_dir])
    ids = [e.id for e in registry.entries()]
    assert ids == ["my-drums", "my-drums-2", "folk-mel_2bar", "folk-mel_16bar"]
    assert registry.default.id == "my-drums"
    info = registry.get("my-drums").info()
    assert (info["kind"], info["config"], info["attributes"]) == (
        "drums",
        "debug-cat-drums_2bar",
        [],
    )
    assert info["card"]["name"] == "drums" and info["source"] == "folder"
    with pytest.raises(KeyError, match="my-drums-2"):
        registry.get("nope")


def test_registry_refuses_what_is_not_a_model(tmp_path):
    from musicvae.inference.model_dir import ModelDirError
    from musicvae.studio.registry import ModelRegistry

    with pytest.raises(ModelDirError, match="no model at"):
        ModelRegistry.from_paths([tmp_path / "missing"])
    with pytest.raises(ModelDirError, match="neither a model folder"):
        ModelRegistry.from_paths([tmp_path])
    with pytest.raises(ValueError, match="no model to serve"):
        ModelRegistry.from_paths([], include_bundled=False)


def test_attributes_of_a_model_without_vectors_is_a_clear_error(drums_dir):
    from musicvae.studio import service
    from musicvae.studio.registry import ModelRegistry

    entry = ModelRegistry.from_paths([drums_dir], include_bundled=False).default
    notes = [{"pitch": 36, "start": 0, "end": 1, "is_drum": True}]
    with pytest.raises(ValueError, match="has no attribute vectors"):
        service.attributes(entry, Limits(), {"notes": notes}, {"note_density": 1.0}, None)
    result = service.sample(entry, Limits(), 2, 1.0, seed=0)
    assert all(n["is_drum"] for c in result["clips"] for n in c["notes"])
