"""What each Studio request does, as plain functions over a ModelEntry: check the request against
the Limits, call TrainedModel under the model's lock, return clips (see clips.py).

User errors are ValueErrors with one clear line; the app answers them with status 422.
"""

from __future__ import annotations

import numpy as np

from musicvae.data.converters import build_converter
from musicvae.inference import inputs as _inputs
from musicvae.inference.attributes import ATTRIBUTES, events_from_classes, measure
from musicvae.inference.generate import resolve_seed
from musicvae.inference.latent import interpolation_path
from musicvae.music.midi_io import MidiReadError, midi_bytes, read_midi
from musicvae.music.sequences import QuantizationError
from musicvae.render.pianoroll import KINDS
from musicvae.studio.clips import (
    bar_windows,
    clip_to_sequence,
    melody_events,
    safe_name,
    sequence_to_clip,
    shelf_zip,
)
from musicvae.studio.limits import Limits
from musicvae.studio.mixing import bilinear_mix
from musicvae.studio.registry import ModelEntry

MIDI_SUFFIXES = (".mid", ".midi")


class UploadError(ValueError):
    """An upload refused before parsing: `status` is 413 (too large) or 415 (not MIDI)."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


def _seed(seed: int | None) -> int:
    """The request's seed, or a fresh one (returned to the page so a result can be repeated)."""
    seed, _ = resolve_seed(seed)
    if not 0 <= seed < 2**63:
        raise ValueError(f"seed must be in 0..2**63-1, got {seed}")
    return int(seed)


def _temperature(value: float | None, limits: Limits) -> float | None:
    if value is None:
        return None
    if not np.isfinite(value) or not 0.0 <= value <= limits.max_temperature:
        raise ValueError(f"temperature must be in 0..{limits.max_temperature}, got {value}")
    return float(value)


def _count(value: int, name: str, low: int, high: int) -> int:
    if not low <= value <= high:
        raise ValueError(f"{name} must be in {low}..{high}, got {value}")
    return value


def _length(entry: ModelEntry, length: int | None, limits: Limits) -> int:
    steps = entry.model.max_seq_len
    if length is None or length == steps:
        return steps
    if entry.model.config.level_lengths:
        raise ValueError(f"{entry.id} is hierarchical: its length is fixed at {steps} steps")
    return _count(length, "length", 1, limits.max_length)


def _clips(entry: ModelEntry, seqs, steps: int, label: str, codes=None, **fields) -> list[dict]:
    """Clips of decoded sequences; `codes` (B, Z), the codes they were decoded from, travel
    with them so the page can hand a clip back without it being encoded again."""
    spq = entry.model.config.data.steps_per_quarter
    clips = [
        sequence_to_clip(s, spq, steps, label=f"{label} {i + 1}", model=entry.id, kind=entry.kind)
        | fields
        for i, s in enumerate(seqs)
    ]
    if codes is not None:
        for clip, z in zip(clips, np.asarray(codes, np.float32), strict=True):
            clip["z"] = z.tolist()
    return clips


def clip_sequence(notes: list[dict], steps_per_quarter: int, limits: Limits, what: str):
    """Page notes -> NoteSequence, after checking their count and ranges."""
    if len(notes) > limits.max_notes:
        raise ValueError(f"{what}: {len(notes)} notes; at most {limits.max_notes}")
    for n in notes:
        if not (0 <= n["pitch"] <= 127 and 0 <= n["start"] < n["end"] <= limits.max_length):
            raise ValueError(
                f"{what}: a note must have pitch 0..127 and 0 <= start < end <= "
                f"{limits.max_length}, got {n}"
            )
    return clip_to_sequence(notes, steps_per_quarter).replace(source=what)  # errors name it


def _model_clip(entry: ModelEntry, notes: list[dict], limits: Limits, what: str):
    return clip_sequence(notes, entry.model.config.data.steps_per_quarter, limits, what)


def sample(entry, limits: Limits, n: int, temperature, seed=None, length=None) -> dict:
    """n sequences decoded from codes z ~ N(0, I) drawn with numpy's generator from `seed`
    (decoding is seeded with it too); each clip carries its code."""
    n = _count(n, "n", 1, limits.max_samples)
    temperature = _temperature(temperature, limits)
    steps = _length(entry, length, limits)
    seed = _seed(seed)
    z = np.random.default_rng(seed).standard_normal((n, entry.model.z_size)).astype(np.float32)
    with entry.lock:
        seqs = entry.model.decode(z, steps, temperature, seed)
    return {"seed": seed, "clips": _clips(entry, seqs, steps, "sample", codes=z)}


def codes_of(entry, limits: Limits, clips: list[dict], what: str = "clip") -> np.ndarray:
    """The code of each clip (B, Z): the `z` it carries (made by this model), or the mean code
    mu of its one window (uploaded and edited clips)."""
    _count(len(clips), "clips", 1, limits.max_clips)
    codes: list[np.ndarray | None] = [None] * len(clips)
    to_encode = []
    for i, clip in enumerate(clips):
        label = what if len(clips) == 1 else f"{what} {i + 1}"
        if clip.get("z") is not None:
            codes[i] = check_codes(entry, [clip["z"]], 1, limits)[0]
        else:
            to_encode.append((i, _model_clip(entry, clip["notes"], limits, label)))
    if to_encode:
        with entry.lock:
            _, mu, _ = entry.model.encode([seq for _, seq in to_encode])  # (b, Z)
        for (i, _), code in zip(to_encode, mu, strict=True):
            codes[i] = code
    return np.stack(codes).astype(np.float32)  # (B, Z)


def interpolate(entry, limits: Limits, start, end, steps, method, temperature, seed=None) -> dict:
    """steps sequences on the path between the codes of two clips, ends included (for encoded
    clips, exactly TrainedModel.interpolate)."""
    steps = _count(steps, "steps", 2, limits.max_steps)
    if method not in ("slerp", "lerp"):
        raise ValueError(f"method must be slerp or lerp, got {method!r}")
    temperature = _temperature(temperature, limits)
    a = codes_of(entry, limits, [start], "start")[0]
    b = codes_of(entry, limits, [end], "end")[0]
    path = interpolation_path(a, b, steps, method)  # (S, Z)
    seed = _seed(seed)
    with entry.lock:
        seqs = entry.model.decode(path, None, temperature, seed)
    clips = _clips(entry, seqs, entry.model.max_seq_len, "step", codes=path)
    for i, clip in enumerate(clips):
        clip["alpha"] = i / (steps - 1)
    return {"seed": seed, "clips": clips}


def encode(entry, limits: Limits, clips: list[dict]) -> dict:
    """The codes (B, Z) of clips (see codes_of)."""
    return {"codes": codes_of(entry, limits, clips).tolist()}


def check_codes(entry, codes, count: int, limits: Limits) -> np.ndarray:
    codes = np.asarray(codes, np.float64)
    if codes.shape != (count, entry.model.z_size):
        raise ValueError(
            f"expected {count} codes of {entry.model.z_size} numbers for {entry.id}, "
            f"got shape {list(codes.shape)}"
        )
    if not np.isfinite(codes).all() or np.abs(codes).max() > 10 * limits.max_amount:
        raise ValueError(f"codes must be finite numbers within +-{10 * limits.max_amount}")
    return codes.astype(np.float32)


def blend(entry, limits: Limits, corners, x, y, temperature, seed=None) -> dict:
    """The sequence decoded from the bilinear mix of four corner codes at (x, y)."""
    z = bilinear_mix(check_codes(entry, corners, 4, limits), x, y)  # (Z,)
    temperature = _temperature(temperature, limits)
    seed = _seed(seed)
    with entry.lock:
        seqs = entry.model.decode(z[None], None, temperature, seed)
    clip = _clips(entry, seqs, entry.model.max_seq_len, "blend", codes=z[None], x=x, y=y)[0]
    return {"seed": seed, "clip": clip}


def attributes(entry, limits: Limits, clip: dict, amounts: dict, temperature, seed=None) -> dict:
    """A clip's code moved by amount_i times attribute vector i, decoded; the attributes
    measured on the clip and on the result."""
    model = entry.model
    if not model.attribute_vectors:
        raise ValueError(f"{entry.id} has no attribute vectors ({entry.kind} model)")
    for name, amount in amounts.items():
        if name not in model.attribute_vectors:
            raise ValueError(
                f"no attribute {name!r}; {entry.id} has {sorted(model.attribute_vectors)}"
            )
        if not np.isfinite(amount) or abs(amount) > limits.max_amount:
            raise ValueError(f"{name}: amount must be within +-{limits.max_amount}, got {amount}")
    temperature = _temperature(temperature, limits)
    z = codes_of(entry, limits, [clip])  # (1, Z)
    for name, amount in amounts.items():
        z = model.apply_attribute(z, name, amount)  # (1, Z)
    seed = _seed(seed)
    with entry.lock:
        samples = model.decode_to_tensors(z, None, temperature, seed)  # (1, T, D)
    seqs = build_converter(model.config.data).from_tensors(samples)
    names = [n for n in ATTRIBUTES if n in model.attribute_vectors]
    events = melody_events(clip["notes"], samples.shape[1])  # (T,)
    before = measure(events[None], names)
    after = measure(events_from_classes(samples, model.config.data.min_pitch), names)
    result = _clips(entry, seqs, model.max_seq_len, "attributes", codes=z, amounts=dict(amounts))
    return {
        "seed": seed,
        "clip": result[0],
        "before": {k: float(v[0]) for k, v in before.items()},
        "after": {k: float(v[0]) for k, v in after.items()},
    }


def check_upload(filename: str, data: bytes, limits: Limits) -> str:
    """The upload's display name, or an UploadError (size, type) before any parsing."""
    name = (filename or "upload.mid").replace("\\", "/").rsplit("/", 1)[-1][:80]
    if len(data) > limits.max_upload_bytes:
        raise UploadError(
            f"{name} is larger than the {limits.max_upload_bytes // 1024} KiB limit for a MIDI "
            "file",
            413,
        )
    if not name.lower().endswith(MIDI_SUFFIXES):
        raise UploadError(f"{name}: only MIDI files (.mid, .midi) can be uploaded", 415)
    if not data.startswith(b"MThd"):
        raise UploadError(f"{name}: not a MIDI file (it does not start with 'MThd')", 415)
    return name


def upload_windows(entry, limits: Limits, filename: str, data: bytes) -> dict:
    """An uploaded MIDI file -> its distinct windows for this model, with their bars."""
    name = check_upload(filename, data, limits)
    try:
        seq = read_midi(data)
    except MidiReadError as e:
        raise ValueError(f"{name}: {e}") from None
    config = entry.model.config
    try:
        found, bars = bar_windows(config.data, seq, limits.max_bars, limits.max_windows)
    except QuantizationError as e:
        raise ValueError(f"{name}: no window: {e}") from None
    if not found:
        raise ValueError(f"{name}: no window: {_inputs.explain(config, seq)}")
    converter = build_converter(config.data)
    seqs = converter.from_tensors(np.stack([w.outputs for w in found]))
    clips = []
    for window, clip in zip(found, _clips(entry, seqs, entry.model.max_seq_len, name), strict=True):
        if window.first is not None:
            clip["label"] = f"{name} bars {window.first}-{window.last}"
        clip["bars"] = [window.first, window.last]
        clips.append(clip)
    return {"name": name, "bars": bars, "windows": clips}


def _export_sequence(limits: Limits, clip: dict):
    if clip["kind"] not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {clip['kind']!r}")
    return clip_sequence(clip["notes"], clip["steps_per_quarter"], limits, clip["name"])


def midi_file(limits: Limits, clip: dict) -> tuple[str, bytes]:
    """A clip (name, notes, kind, steps_per_quarter) -> (download name, MIDI bytes)."""
    return f"{safe_name(clip['name'])}.mid", midi_bytes(_export_sequence(limits, clip))


def export_zip(limits: Limits, clips: list[dict]) -> bytes:
    """The shelf: 1..max_clips clips -> a zip of NAME.mid + NAME.png per clip."""
    _count(len(clips), "clips", 1, limits.max_clips)
    return shelf_zip([(c["name"], _export_sequence(limits, c), c["kind"]) for c in clips])
