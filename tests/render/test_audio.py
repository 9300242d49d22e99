"""Audio: finding FluidSynth and a SoundFont, degrading to a note, and (when installed) a WAV."""

from __future__ import annotations

import os
import sys
import wave

import pytest

from musicvae.music.midi_io import read_midi, write_midi
from musicvae.render import audio, audio_available, render_outputs
from tests.render.helpers import STEP, sequence


@pytest.fixture
def nothing_installed(monkeypatch):
    """No fluidsynth on PATH, no pyfluidsynth, no SoundFont anywhere."""
    monkeypatch.setattr(audio.shutil, "which", lambda name: None)
    monkeypatch.setattr(audio, "_pyfluidsynth_ok", lambda: False)
    monkeypatch.setattr(audio, "SOUNDFONT_PATHS", ())
    monkeypatch.delenv(audio.SOUNDFONT_ENV, raising=False)


@pytest.fixture
def fake_fluidsynth(tmp_path, monkeypatch):
    """A SoundFont file named by $MUSICVAE_SOUNDFONT and a `fluidsynth` script to fill in."""
    soundfont = tmp_path / "gm.sf2"
    soundfont.write_bytes(b"RIFF")
    monkeypatch.setenv(audio.SOUNDFONT_ENV, str(soundfont))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")

    def install(script: str):
        exe = bin_dir / "fluidsynth"
        exe.write_text(f"#!/bin/sh\n{script}\n")
        exe.chmod(0o755)
        return exe

    return install


def test_nothing_installed_gives_how_to(nothing_installed):
    ok, note = audio_available()
    assert not ok
    assert "\n" not in note
    assert "apt-get install fluidsynth fluid-soundfont-gm" in note
    assert "FluidSynth and a General MIDI SoundFont not found" in note


def test_soundfont_missing_is_named(monkeypatch, nothing_installed):
    monkeypatch.setattr(audio.shutil, "which", lambda name: "/usr/bin/fluidsynth")
    ok, note = audio_available()
    assert not ok and "(a General MIDI SoundFont not found)" in note


def test_env_soundfont_and_cli_found(fake_fluidsynth):
    exe = fake_fluidsynth("exit 0")
    ok, note = audio_available()
    assert ok and str(exe) in note and os.environ[audio.SOUNDFONT_ENV] in note


def test_failing_fluidsynth_degrades(tmp_path, fake_fluidsynth, caplog):
    fake_fluidsynth("echo 'fluidsynth: error: broken' >&2; exit 3")
    seq = sequence([(60, 0, 4)])
    write_midi(seq, tmp_path / "x.mid")
    wav, note = audio.render_wav(seq, tmp_path / "x.mid", tmp_path / "x.wav")
    assert wav is None and "exited with 3: fluidsynth: error: broken" in note
    assert not (tmp_path / "x.wav").exists()


def test_hanging_fluidsynth_times_out(tmp_path, fake_fluidsynth):
    fake_fluidsynth(f'exec "{sys.executable}" -c "import time; time.sleep(10)"')
    seq = sequence([(60, 0, 4)])
    wav, note = audio.render_wav(seq, tmp_path / "x.mid", tmp_path / "x.wav", timeout=0.3)
    assert wav is None and "longer than 0.3 s" in note


def test_render_outputs_without_audio(tmp_path, nothing_installed):
    seq = sequence([(60, 0, 4), (64, 4, 8)])
    paths = render_outputs(seq, tmp_path / "out" / "sample.v1", "melody", title="s")
    assert set(paths) == {"midi", "png"}
    assert paths["midi"].name == "sample.v1.mid" and paths["png"].name == "sample.v1.png"
    assert all(p.is_file() for p in paths.values())
    back = read_midi(paths["midi"])
    assert back.pitch.tolist() == [60, 64] and back.end.max() == pytest.approx(8 * STEP)
    assert not (tmp_path / "out" / "sample.v1.wav").exists()


def test_render_outputs_rejects_unknown_kind(tmp_path):
    with pytest.raises(ValueError, match="kind"):
        render_outputs(sequence([]), tmp_path / "x", "bass")


@pytest.mark.skipif(not audio_available()[0], reason="FluidSynth + a GM SoundFont not installed")
@pytest.mark.parametrize("kind", ["melody", "drums", "trio"])
def test_real_wav_duration(tmp_path, kind):
    """Last note ends at 2 s (16 steps at 120 qpm); the WAV keeps a 1 s tail: 3 s."""
    notes = {
        "melody": [(60, 0, 8), (67, 8, 16)],
        "drums": [(36, 0, 1, 0, True), (38, 15, 16, 0, True)],
        "trio": [(72, 0, 16), (36, 0, 16, 33, False, 1), (42, 15, 16, 0, True, 2)],
    }[kind]
    paths = render_outputs(sequence(notes, bars=1), tmp_path / kind, kind)
    assert set(paths) == {"midi", "png", "wav"}
    with wave.open(str(paths["wav"])) as w:
        seconds = w.getnframes() / w.getframerate()
        assert w.getsampwidth() == 2 and w.getframerate() == audio.SAMPLE_RATE
        frames = w.readframes(w.getnframes())
    assert seconds == pytest.approx(16 * STEP + audio.TAIL_SECONDS, abs=0.02)
    assert max(frames) > 0  # not silent


@pytest.mark.skipif(
    not (audio._pyfluidsynth_ok() and audio.find_soundfont()),
    reason="pyfluidsynth + a GM SoundFont not installed",
)
def test_pyfluidsynth_wav_duration(tmp_path, monkeypatch):
    monkeypatch.setattr(audio.shutil, "which", lambda name: None)  # force the in-process path
    seq = sequence([(60, 0, 8), (36, 8, 16, 0, True)], bars=1)
    wav, note = audio.render_wav(seq, tmp_path / "unused.mid", tmp_path / "p.wav")
    assert wav is not None and "pyfluidsynth" in note
    with wave.open(str(wav)) as w:
        assert w.getnframes() / w.getframerate() == pytest.approx(16 * STEP + 1.0, abs=0.01)
