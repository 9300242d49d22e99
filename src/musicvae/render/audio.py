"""WAV rendering with FluidSynth and a General MIDI SoundFont, when both are installed.

The `fluidsynth` command line renders the MIDI file we already wrote (in a subprocess with a
timeout); without it, pyfluidsynth (if importable) plays the notes in-process. Anything missing
or failing gives no WAV and a one-line note, never an exception: audio is optional.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from musicvae.music.midi_io import note_channels
from musicvae.music.notes import NoteSequence

log = logging.getLogger(__name__)

SOUNDFONT_ENV = "MUSICVAE_SOUNDFONT"
# Where distributions put a GM SoundFont (Debian/Ubuntu fluid-soundfont-gm first).
SOUNDFONT_PATHS = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/soundfonts/default.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/TimGM6mb.sf2",
    "/usr/local/share/soundfonts/default.sf2",
    "/opt/homebrew/share/soundfonts/default.sf2",
)
HOW_TO = (
    "install FluidSynth and a General MIDI SoundFont"
    " (Debian/Ubuntu: apt-get install fluidsynth fluid-soundfont-gm;"
    f" or point {SOUNDFONT_ENV} at a .sf2 file)"
)
SAMPLE_RATE = 44100
GAIN = 1.0  # FluidSynth's default 0.2 leaves a lone melody line at about -28 dBFS
TAIL_SECONDS = 1.0  # release and reverb kept after the last note
FADE_SECONDS = 0.1  # linear fade at the cut, so it does not click
TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class Synth:
    """A usable synthesizer: the `fluidsynth` executable or the pyfluidsynth module."""

    backend: str  # "cli" or "pyfluidsynth"
    soundfont: Path
    executable: str | None = None

    def describe(self) -> str:
        where = self.executable if self.backend == "cli" else "pyfluidsynth"
        return f"audio: FluidSynth ({where}) with {self.soundfont}"


def find_soundfont() -> Path | None:
    """$MUSICVAE_SOUNDFONT if it is a file, else the first common GM SoundFont path that exists."""
    env = os.environ.get(SOUNDFONT_ENV)
    candidates = ([env] if env else []) + list(SOUNDFONT_PATHS)
    for candidate in candidates:
        if Path(candidate).is_file():
            return Path(candidate)
    return None


def _pyfluidsynth_ok() -> bool:
    try:
        import fluidsynth  # noqa: F401  (pyfluidsynth; loads libfluidsynth on import)
    except Exception:  # ImportError, or OSError/AttributeError when the C library is missing
        return False
    return hasattr(fluidsynth, "Synth")


def find_synth() -> tuple[Synth | None, str]:
    """The synthesizer to use and a one-line note (what renders, or how to get audio)."""
    soundfont = find_soundfont()
    executable = shutil.which("fluidsynth")
    backend = "cli" if executable else ("pyfluidsynth" if _pyfluidsynth_ok() else None)
    if backend is None or soundfont is None:
        wanted = (("FluidSynth", backend), ("a General MIDI SoundFont", soundfont))
        missing = " and ".join(name for name, found in wanted if not found)
        return None, f"no audio ({missing} not found): {HOW_TO}"
    synth = Synth(backend, soundfont, executable)
    return synth, synth.describe()


def audio_available() -> tuple[bool, str]:
    """(True, what will render) or (False, a one-line note saying how to get audio)."""
    synth, note = find_synth()
    return synth is not None, note


def _render_cli(synth: Synth, midi_path: Path, wav_path: Path, timeout: float) -> None:
    cmd = [
        synth.executable,
        "-n",  # no MIDI input driver
        "-i",  # no interactive shell
        "-g",
        str(GAIN),
        "-r",
        str(SAMPLE_RATE),
        "-T",
        "wav",
        "-F",
        str(wav_path),
        str(synth.soundfont),
        str(midi_path),
    ]
    result = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )
    if result.returncode != 0:
        last = (result.stderr or result.stdout).strip().splitlines()[-1:] or [""]
        raise RuntimeError(f"fluidsynth exited with {result.returncode}: {last[0]}")


def _render_pyfluidsynth(synth: Synth, seq: NoteSequence, wav_path: Path) -> None:
    """Plays the notes into an in-process FluidSynth, as pretty_midi.fluidsynth does."""
    import fluidsynth

    fs = fluidsynth.Synth(samplerate=float(SAMPLE_RATE), gain=GAIN)
    try:
        sfid = fs.sfload(str(synth.soundfont))
        if sfid < 0:
            raise RuntimeError(f"FluidSynth could not load {synth.soundfont}")
        channels = note_channels(seq).tolist()
        pitches, velocities = seq.pitch.tolist(), seq.velocity.tolist()
        programs = zip(channels, seq.program.tolist(), seq.is_drum.tolist(), strict=True)
        for ch, program, drum in sorted(set(programs)):
            fs.program_select(ch, sfid, 128 if drum else 0, 0 if drum else program & 127)
        # (time, on, channel, pitch, velocity): at one time, offs go before ons.
        n = len(seq)
        events = list(zip(seq.end.tolist(), [0] * n, channels, pitches, [0] * n, strict=True))
        events += zip(seq.start.tolist(), [1] * n, channels, pitches, velocities, strict=True)
        events.sort(key=lambda e: (e[0], e[1]))
        chunks, now = [], 0
        for time, on, ch, pitch, velocity in events:
            sample = int(round(time * SAMPLE_RATE))
            if sample > now:
                chunks.append(fs.get_samples(sample - now))
                now = sample
            if on:
                fs.noteon(int(ch), int(pitch) & 127, int(min(max(velocity, 1), 127)))
            else:
                fs.noteoff(int(ch), int(pitch) & 127)
        chunks.append(fs.get_samples(int(TAIL_SECONDS * SAMPLE_RATE)))
    finally:
        fs.delete()
    audio = np.concatenate([np.asarray(c, dtype=np.int16) for c in chunks])  # (2 * frames,)
    with wave.open(str(wav_path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(audio.astype("<i2").tobytes())


def _trim_wav(path: Path, seconds: float) -> None:
    """Cuts a 16-bit WAV to `seconds` with a short fade-out (the CLI renders seconds of silence)."""
    with wave.open(str(path), "rb") as r:
        params = r.getparams()
        keep = min(params.nframes, int(round(seconds * params.framerate)))
        if params.sampwidth != 2 or keep == params.nframes:
            return
        frames = np.frombuffer(r.readframes(keep), dtype="<i2").reshape(keep, params.nchannels)
    fade = min(keep, int(FADE_SECONDS * params.framerate))
    ramp = np.linspace(1.0, 0.0, fade)[:, None]  # (fade, 1)
    frames = frames.copy()
    frames[keep - fade :] = np.rint(frames[keep - fade :] * ramp).astype(np.int16)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(params.nchannels)
        w.setsampwidth(2)
        w.setframerate(params.framerate)
        w.writeframes(frames.astype("<i2").tobytes())


def render_wav(
    seq: NoteSequence,
    midi_path: str | os.PathLike,
    wav_path: str | os.PathLike,
    timeout: float = TIMEOUT_SECONDS,
) -> tuple[Path | None, str]:
    """Renders a WAV (the MIDI file via the CLI, or `seq` via pyfluidsynth).

    Returns (the WAV path, what rendered it) or (None, why not): never raises for audio trouble.
    """
    synth, note = find_synth()
    if synth is None:
        return None, note
    wav_path = Path(wav_path)
    try:
        if synth.backend == "cli":
            _render_cli(synth, Path(midi_path), wav_path, timeout)
            _trim_wav(wav_path, float(seq.end.max(initial=0.0)) + TAIL_SECONDS)
        else:
            _render_pyfluidsynth(synth, seq, wav_path)
        if not wav_path.is_file() or wav_path.stat().st_size <= 44:  # a bare WAV header
            raise RuntimeError("no audio was written")
    except subprocess.TimeoutExpired:
        note = f"no audio: fluidsynth took longer than {timeout:g} s"
    except Exception as exc:  # audio is optional: any synthesizer failure degrades to no WAV
        note = f"no audio: rendering {wav_path.name} failed ({exc})"
    else:
        return wav_path, note
    log.warning(note)
    wav_path.unlink(missing_ok=True)
    return None, note


__all__ = ["HOW_TO", "Synth", "audio_available", "find_soundfont", "find_synth", "render_wav"]
