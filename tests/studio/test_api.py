"""The Studio JSON API through httpx (Starlette's TestClient): every endpoint, against the
library called directly, pretty_midi reading the downloads, and hand-computed values."""

from __future__ import annotations

import io
import zipfile

import mido
import numpy as np
import pretty_midi
import pytest
from PIL import Image

from musicvae.inference.bundled import bundled_tunes
from musicvae.studio.clips import clip_to_sequence

STEP = 0.125  # seconds per 16th at the clips' 120 qpm


def notes_of(clip: dict) -> list[tuple]:
    return [(n["pitch"], n["start"], n["end"]) for n in clip["notes"]]


def seq_notes(seq) -> list[tuple]:
    """A NoteSequence from the library as the API's (pitch, start step, end step), sorted."""
    rows = zip(
        seq.pitch.tolist(),
        np.rint(seq.start / STEP).astype(int).tolist(),
        np.rint(seq.end / STEP).astype(int).tolist(),
        strict=True,
    )
    return sorted(rows, key=lambda n: (n[1], n[0]))


def post(client, path, body, status=200):
    response = client.post(path, json=body)
    assert response.status_code == status, response.text
    return response.json() if "json" in response.headers.get("content-type", "") else response


def error(client, path, body, status=422) -> str:
    message = post(client, path, body, status)["error"]
    assert "\n" not in message and "Traceback" not in message
    return message


def upload(client, data: bytes, name="tune.mid", status=200):
    response = client.post("/api/upload", files={"file": (name, data, "audio/midi")})
    assert response.status_code == status, response.text
    return response.json()


def tune_bytes() -> bytes:
    return bundled_tunes()[0].read_bytes()


def drum_midi() -> bytes:
    track = mido.MidiTrack()
    for _ in range(16):
        track.append(mido.Message("note_on", channel=9, note=36, velocity=100, time=0))
        track.append(mido.Message("note_off", channel=9, note=36, velocity=0, time=240))
    midi = mido.MidiFile(ticks_per_beat=480)
    midi.tracks.append(track)
    buffer = io.BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue()


# ------------------------------------------------------------------ page, models, health


def test_page_and_static_files_are_served_with_a_strict_policy(client):
    page = client.get("/")
    assert page.status_code == 200 and "MusicVAE Studio" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for src in ("/static/app.js", "/static/vendor/tone.js", "/static/style.css"):
        assert client.get(src).status_code == 200
    assert "://" not in page.text  # nothing from a CDN
    licence = client.get("/static/vendor/tone.LICENSE.md")
    assert "MIT License" in licence.text
    for path in ("/static/nope.js", "/static/../registry.py", "/static/%2e%2e/app.py"):
        assert client.get(path).status_code == 404
    assert client.get("/docs").status_code == 404  # Swagger would load from a CDN


def test_health_and_models(client, model):
    assert client.get("/api/health").json()["ok"] is True
    info = client.get("/api/models").json()
    assert info["default"] == "folk-mel_2bar"
    entry, long = info["models"]  # the bundled models, the default first
    assert long["id"] == "folk-mel_16bar"
    assert (long["kind"], long["bars"], long["steps"]) == ("melody", 16, 256)
    assert entry["config"] == "cat-mel_2bar_small"
    assert (entry["kind"], entry["bars"], entry["steps"]) == ("melody", 2, 32)
    assert entry["z_size"] == model.z_size == 256
    assert set(entry["attributes"]) == {
        "note_density",
        "c_diatonic",
        "average_interval",
        "syncopation_16th",
        "syncopation_8th",
    }
    assert entry["card"]["parameters"] == 4423770
    recommended = entry["card"]["evaluation"]["realism"]["recommended_temperature"]["value"]
    assert entry["temperature"] == recommended  # the Generate view starts at the card's choice
    assert info["limits"]["max_samples"] == 16
    assert client.get("/api/models/folk-mel_2bar").json()["id"] == "folk-mel_2bar"
    response = client.get("/api/models/../../etc")
    assert response.status_code == 404


def test_a_foreign_host_name_is_refused_when_hosts_are_named(registry, client_for):
    from musicvae.studio.app import create_app

    app = create_app(registry, allowed_hosts={"127.0.0.1", "localhost", "::1"})
    with client_for(app, base_url="http://127.0.0.1:8000") as local:
        assert local.get("/api/health").status_code == 200
        assert local.get("/api/health", headers={"host": "[::1]:8000"}).status_code == 200
        refused = local.get("/api/health", headers={"host": "evil.example:8000"})
        assert refused.status_code == 400 and "evil.example" in refused.json()["error"]


def test_unknown_model_is_404_with_the_known_ids(client):
    message = error(client, "/api/sample", {"model": "nope"}, 404)
    assert "nope" in message and "folk-mel_2bar" in message


# ------------------------------------------------------------------ sample


def test_sample_decodes_seeded_codes_and_returns_them(client, model):
    result = post(client, "/api/sample", {"n": 3, "temperature": 0.5, "seed": 11})
    assert result["seed"] == 11
    z = np.random.default_rng(11).standard_normal((3, 256)).astype(np.float32)  # numpy's draw
    np.testing.assert_array_equal(np.array([c["z"] for c in result["clips"]], np.float32), z)
    expected = model.decode(z, 32, 0.5, seed=11)
    assert len(result["clips"]) == 3
    for clip, seq in zip(result["clips"], expected, strict=True):
        assert clip["steps"] == 32 and clip["model"] == "folk-mel_2bar"
        assert notes_of(clip) == seq_notes(seq)
    again = post(client, "/api/sample", {"n": 3, "temperature": 0.5, "seed": 11})
    assert again["clips"] == result["clips"]
    fresh = post(client, "/api/sample", {"n": 1})
    assert isinstance(fresh["seed"], int)  # drawn, and returned so it can be repeated


def test_sample_melodies_are_monophonic_and_in_range(client):
    for clip in post(client, "/api/sample", {"n": 8, "temperature": 1.0, "seed": 3})["clips"]:
        ends = [0]
        for pitch, start, end in notes_of(clip):
            assert 21 <= pitch <= 108 and 0 <= start < end <= 32
            assert start >= ends[-1]  # a melody: each note starts after the last one ends
            ends.append(end)


def test_sample_length_option_decodes_longer_melodies(client):
    clip = post(client, "/api/sample", {"n": 1, "length": 64, "seed": 1})["clips"][0]
    assert clip["steps"] == 64


@pytest.mark.parametrize(
    "body, words",
    [
        ({"n": 0}, "n must be in 1..16"),
        ({"n": 10**9}, "n must be in 1..16"),
        ({"n": "many"}, "n:"),
        ({"n": 1.5}, "n:"),
        ({"temperature": -1}, "temperature must be in 0..3"),
        ({"temperature": 1e30}, "temperature must be in 0..3"),
        ({"length": 10**7}, "length must be in 1..256"),
        ({"length": 0}, "length must be in 1..256"),
        ({"seed": -5}, "seed must be"),
        ({"n": 1, "evil": "../../etc/passwd"}, "evil"),
    ],
)
def test_sample_refuses_absurd_parameters(client, body, words):
    assert words in error(client, "/api/sample", body)


def test_a_body_that_is_not_json_is_one_line_422(client):
    response = client.post(
        "/api/sample", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert "\n" not in response.json()["error"]


# ------------------------------------------------------------------ upload


def test_upload_lists_the_windows_with_their_bars(client, model):
    result = upload(client, tune_bytes(), "air.mid")
    assert result["name"] == "air.mid"
    windows = result["windows"]
    # the same distinct windows the CLI's `reconstruct` sees (TrainedModel.windows)
    library = {w.argmax(-1).tobytes() for w in model.windows(bundled_tunes()[0]).outputs}
    assert len(windows) == len(library)
    assert windows[0]["label"] == "air.mid bars 1-2" and windows[0]["bars"] == [1, 2]
    # the notes of "bars b..b+1" are the tune's notes that start in those bars (pretty_midi)
    pm = pretty_midi.PrettyMIDI(str(bundled_tunes()[0]))
    (qpm,) = pm.get_tempo_changes()[1][:1]
    bar = 4 * 60.0 / qpm
    notes = sorted((n.start, n.pitch) for i in pm.instruments for n in i.notes)
    for window in windows[:6]:
        first = window["bars"][0]
        lo, hi = (first - 1) * bar, (first + 1) * bar
        expected = [p for s, p in notes if lo - 1e-6 <= s < hi - 1e-6]
        assert [n[0] for n in notes_of(window)] == expected, window["label"]


def test_upload_refuses_what_is_not_a_midi_file(client):
    text = b"hello, these are not the notes you are looking for\n" * 10
    assert "only MIDI files" in upload(client, text, "notes.txt", 415)["error"]
    assert "does not start with 'MThd'" in upload(client, text, "notes.mid", 415)["error"]
    assert "does not start with 'MThd'" in upload(client, b"", "empty.mid", 415)["error"]


def test_upload_refuses_large_files_and_bodies(client, limits):
    big = b"MThd" + bytes(limits.max_upload_bytes)
    assert "limit" in upload(client, big, "big.mid", 413)["error"]
    huge = b"MThd" + bytes(limits.max_body_bytes + 10)
    assert "request body over" in upload(client, huge, "huge.mid", 413)["error"]


def test_upload_corrupt_midi_is_a_clear_422(client):
    corrupt = tune_bytes()[:40]  # header and a truncated track
    message = upload(client, corrupt, "broken.mid", 422)["error"]
    assert message.startswith("broken.mid: ") and "\n" not in message
    garbage = b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0MTrk\xff\xff\xff\xff\x01\x02"
    assert upload(client, garbage, "garbage.mid", 422)["error"].startswith("garbage.mid: ")


def test_upload_of_drums_to_a_melody_model_says_why(client):
    message = upload(client, drum_midi(), "beat.mid", 422)["error"]
    assert "no window" in message and "drum" in message


def test_upload_names_never_reach_the_file_system(client):
    result = upload(client, tune_bytes(), "../../../etc/passwd.mid")
    assert result["name"] == "passwd.mid"


# ------------------------------------------------------------------ interpolate, encode, blend


@pytest.fixture(scope="module")
def two_windows(client):
    windows = upload(client, tune_bytes())["windows"]
    return windows[0], windows[5]


def test_interpolate_matches_the_library(client, model, two_windows):
    a, b = two_windows
    body = {"start": {"notes": a["notes"]}, "end": {"notes": b["notes"]}, "steps": 5}
    result = post(client, "/api/interpolate", body)
    assert [c["alpha"] for c in result["clips"]] == [0.0, 0.25, 0.5, 0.75, 1.0]
    expected = model.interpolate(
        clip_to_sequence(a["notes"], 4), clip_to_sequence(b["notes"], 4), 5, "slerp"
    )
    assert [notes_of(c) for c in result["clips"]] == [seq_notes(s) for s in expected]
    assert notes_of(result["clips"][0]) != notes_of(result["clips"][-1])
    lerp = post(client, "/api/interpolate", {**body, "method": "lerp"})
    assert len(lerp["clips"]) == 5


def test_interpolate_between_samples_uses_their_codes(client, model):
    a, b = post(client, "/api/sample", {"n": 2, "seed": 21})["clips"]
    body = {"start": {"notes": [], "z": a["z"]}, "end": {"notes": [], "z": b["z"]}, "steps": 3}
    result = post(client, "/api/interpolate", body)  # no notes: the codes alone are enough
    np.testing.assert_allclose(result["clips"][0]["z"], a["z"], atol=1e-5)
    np.testing.assert_allclose(result["clips"][-1]["z"], b["z"], atol=1e-5)
    ends = model.decode(np.array([a["z"], b["z"]], np.float32), None, None)  # argmax
    assert notes_of(result["clips"][0]) == seq_notes(ends[0])
    assert notes_of(result["clips"][-1]) == seq_notes(ends[1])
    without = {"start": {"notes": []}, "end": {"notes": []}, "steps": 3}
    assert "start: no window: no notes" in error(client, "/api/interpolate", without)


@pytest.mark.parametrize(
    "change, words",
    [
        ({"steps": 1}, "steps must be in 2..16"),
        ({"steps": 100000}, "steps must be in 2..16"),
        ({"method": "cubic"}, "method must be slerp or lerp"),
        ({"start": {"notes": []}}, "start: no window: no notes"),
        ({"end": {"notes": [{"pitch": 300, "start": 0, "end": 4}]}}, "pitch 0..127"),
        ({"end": {"notes": [{"pitch": 60, "start": 5, "end": 2}]}}, "start < end"),
        ({"end": {"notes": [{"pitch": 60, "start": 0, "end": 10**9}]}}, "end <= 256"),
        ({"end": {"notes": [], "z": [0.0] * 3}}, "expected 1 codes of 256"),
        ({"end": {"notes": [], "z": [1e12] * 256}}, "finite numbers within"),
    ],
)
def test_interpolate_refuses_bad_requests(client, two_windows, change, words):
    a, b = two_windows
    body = {"start": {"notes": a["notes"]}, "end": {"notes": b["notes"]}, "steps": 3} | change
    assert words in error(client, "/api/interpolate", body)


def test_too_many_notes_are_refused(client, limits):
    notes = [{"pitch": 60, "start": 0, "end": 1}] * (limits.max_notes + 1)
    assert "at most" in error(client, "/api/encode", {"clips": [{"notes": notes}]})


def test_encode_gives_the_library_codes(client, model, two_windows):
    codes = np.array(
        post(client, "/api/encode", {"clips": [{"notes": w["notes"]} for w in two_windows]})[
            "codes"
        ]
    )
    _, mu, _ = model.encode([clip_to_sequence(w["notes"], 4) for w in two_windows])
    assert codes.shape == (2, 256)
    np.testing.assert_allclose(codes, mu, rtol=1e-6, atol=1e-6)
    z = [0.5] * 256  # a clip that carries its code is not encoded again
    mixed = post(
        client,
        "/api/encode",
        {"clips": [{"notes": [], "z": z}, {"notes": two_windows[0]["notes"]}]},
    )
    np.testing.assert_allclose(mixed["codes"][0], z)
    np.testing.assert_allclose(mixed["codes"][1], mu[0], rtol=1e-6, atol=1e-6)


def test_blend_is_the_bilinear_mix_of_the_corner_codes(client, model):
    rng = np.random.default_rng(0)
    corners = rng.standard_normal((4, model.z_size)).astype(np.float32)
    body = {"corners": corners.tolist(), "temperature": None}

    def decoded(z):
        return seq_notes(model.decode(z[None], None, None)[0])  # argmax decoding of one code

    for (x, y), corner in [((0, 0), 0), ((1, 0), 1), ((0, 1), 2), ((1, 1), 3)]:
        clip = post(client, "/api/blend", body | {"x": x, "y": y})["clip"]
        assert notes_of(clip) == decoded(corners[corner]), (x, y)
    centre = post(client, "/api/blend", body | {"x": 0.5, "y": 0.5})["clip"]
    assert notes_of(centre) == decoded(corners.mean(0))  # every weight is 1/4
    off = post(client, "/api/blend", body | {"x": 0.25, "y": 0.5})["clip"]
    weights = np.array([0.375, 0.125, 0.375, 0.125], np.float32)  # (1-x)(1-y), x(1-y), ...
    assert notes_of(off) == decoded(weights @ corners)


@pytest.mark.parametrize(
    "change, words",
    [
        ({"x": 1.5}, "[0, 1] x [0, 1]"),
        ({"y": -0.1}, "[0, 1] x [0, 1]"),
        ({"corners": [[0.0] * 256] * 3}, "expected 4 codes of 256"),
        ({"corners": [[0.0] * 12] * 4}, "expected 4 codes of 256"),
        ({"corners": [[1e9] * 256] * 4}, "finite numbers within"),
    ],
)
def test_blend_refuses_bad_requests(client, change, words):
    body = {"corners": [[0.0] * 256] * 4, "x": 0.5, "y": 0.5} | change
    assert words in error(client, "/api/blend", body)


# ------------------------------------------------------------------ attributes


def test_attributes_measure_the_input_and_move_the_result(client, two_windows):
    clip = two_windows[0]
    steps = 32
    onsets = len(clip["notes"])
    zero = post(client, "/api/attributes", {"clip": {"notes": clip["notes"]}, "amounts": {}})
    assert zero["before"]["note_density"] == pytest.approx(onsets / steps)  # hand count
    denser = post(
        client,
        "/api/attributes",
        {"clip": {"notes": clip["notes"]}, "amounts": {"note_density": 3.0}},
    )
    sparser = post(
        client,
        "/api/attributes",
        {"clip": {"notes": clip["notes"]}, "amounts": {"note_density": -3.0}},
    )
    assert denser["after"]["note_density"] > zero["after"]["note_density"]
    assert sparser["after"]["note_density"] < zero["after"]["note_density"]
    assert len(denser["clip"]["notes"]) / steps == pytest.approx(denser["after"]["note_density"])


def test_attributes_move_a_sample_from_its_own_code(client, model):
    sample = post(client, "/api/sample", {"n": 1, "seed": 8})["clips"][0]
    body = {"clip": {"notes": sample["notes"], "z": sample["z"]}, "amounts": {"c_diatonic": 1.5}}
    moved = post(client, "/api/attributes", body)
    vector = model.attribute_vectors["c_diatonic"]
    np.testing.assert_allclose(moved["clip"]["z"], np.array(sample["z"]) + 1.5 * vector, atol=1e-5)


@pytest.mark.parametrize(
    "amounts, words",
    [
        ({"loudness": 1.0}, "no attribute 'loudness'"),
        ({"note_density": 1e6}, "within +-5"),
    ],
)
def test_attributes_refuse_bad_amounts(client, two_windows, amounts, words):
    body = {"clip": {"notes": two_windows[0]["notes"]}, "amounts": amounts}
    assert words in error(client, "/api/attributes", body)


# ------------------------------------------------------------------ downloads


def test_midi_download_parses_to_the_clip_notes(client):
    clip = post(client, "/api/sample", {"n": 1, "seed": 5})["clips"][0]
    response = post(client, "/api/midi", {"name": "my tune!", "notes": clip["notes"]})
    assert response.headers["content-type"] == "audio/midi"
    assert 'filename="my_tune.mid"' in response.headers["content-disposition"]
    pm = pretty_midi.PrettyMIDI(io.BytesIO(response.content))
    got = sorted((n.pitch, n.start, n.end) for i in pm.instruments for n in i.notes)
    want = sorted((p, s * STEP, e * STEP) for p, s, e in notes_of(clip))
    assert [g[0] for g in got] == [w[0] for w in want]
    np.testing.assert_allclose([g[1:] for g in got], [w[1:] for w in want], atol=1e-3)


def test_export_zips_midi_and_piano_rolls_with_safe_names(client):
    clips = post(client, "/api/sample", {"n": 2, "seed": 9})["clips"]
    body = {
        "clips": [
            {"name": "../../etc/passwd", "notes": clips[0]["notes"]},
            {"name": "../../etc/passwd", "notes": clips[1]["notes"]},
        ]
    }
    response = post(client, "/api/export", body)
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    names = sorted(archive.namelist())
    assert names == ["etc_passwd.mid", "etc_passwd.png", "etc_passwd_2.mid", "etc_passwd_2.png"]
    pm = pretty_midi.PrettyMIDI(io.BytesIO(archive.read("etc_passwd_2.mid")))
    assert [n.pitch for n in pm.instruments[0].notes] == [n[0] for n in notes_of(clips[1])]
    image = Image.open(io.BytesIO(archive.read("etc_passwd.png")))
    assert image.format == "PNG" and image.width > 100


@pytest.mark.parametrize(
    "body, words",
    [
        ({"clips": []}, "clips must be in 1..64"),
        ({"clips": [{"notes": [], "kind": "kazoo"}]}, "kind must be one of"),
        ({"clips": [{"notes": [{"pitch": 60, "start": 0, "end": 1}]}] * 65}, "1..64"),
    ],
)
def test_export_refuses_bad_requests(client, body, words):
    assert words in error(client, "/api/export", body)
