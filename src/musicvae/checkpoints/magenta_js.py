"""magenta.js checkpoints: a folder with `config.json` (a MusicVAE spec: the data converter),
`weights_manifest.json` (the tfjs weights manifest) and binary shards.

Manifest: a list of groups `{"paths": [shard files], "weights": [{"name", "shape", "dtype",
"quantization"?: {"min", "scale", "dtype"}}]}`; a group's weights are stored back to back over
the concatenation of its shards. Quantized weights (tfjs-converter quantization.py) are uint8 or
uint16 codes q with value = q * scale + min, per tensor, the range nudged so that 0 is exact.
Names are Magenta's TF variable names (magenta-js music/src/music_vae/model.ts reads them).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from pathlib import Path

import numpy as np

from musicvae.configs import Config
from musicvae.data.converters import build_converter
from musicvae.errors import CheckpointError
from musicvae.music.drums import DRUM_CLASS_PITCHES

log = logging.getLogger(__name__)

MANIFEST = "weights_manifest.json"
SPEC = "config.json"
SHARD_BYTES = 4 * 1024 * 1024  # tfjs write_weights default (browser cache limit)
DTYPES = {"float32": np.dtype("<f4"), "int32": np.dtype("<i4"), "bool": np.dtype("?")}
QUANTIZED = {"uint8": np.dtype("u1"), "uint16": np.dtype("<u2"), "float16": np.dtype("<f2")}
QUANTIZE_BYTES = {1: "uint8", 2: "uint16"}


class MagentaJsError(CheckpointError):
    """A magenta.js checkpoint folder that is missing, truncated or malformed."""


# ---------------------------------------------------------------- quantization


def quantize(data: np.ndarray, dtype: str) -> tuple[np.ndarray, dict]:
    """tfjs affine quantization of one float32 tensor -> (codes, {"min", "scale"}).

    As tensorflowjs quantization.py: scale = (max - min) / q_max; when min <= 0 <= max the
    range is shifted so that 0 is a code (|shift| <= scale / 2); a constant tensor gets
    codes 0 and scale 1. Every value is within scale / 2 of its dequantized code.
    """
    q_dtype = QUANTIZED[dtype]
    lo, hi = float(data.min()), float(data.max())
    if lo == hi:
        return np.zeros(data.shape, q_dtype), {"min": lo, "scale": 1.0}
    q_max = np.iinfo(q_dtype).max
    scale = (hi - lo) / q_max
    if lo <= 0.0 <= hi:
        lo = -float(np.round(-lo / scale)) * scale
        hi = q_max * scale + lo
    codes = np.round((data.astype(np.float64).clip(lo, hi) - lo) / scale)
    return codes.astype(q_dtype), {"min": lo, "scale": scale}


def dequantize(codes: np.ndarray, quantization: dict) -> np.ndarray:
    """Codes -> float32 values (tfjs io: min + q * scale, rounded once to float32)."""
    if codes.dtype == np.float16:
        return codes.astype(np.float32)
    return (codes.astype(np.float64) * quantization["scale"] + quantization["min"]).astype(
        np.float32
    )


# ---------------------------------------------------------------- reading


def _load_json(path: Path, what: str):
    try:
        return json.loads(path.read_text())
    except OSError as e:
        raise MagentaJsError(f"cannot read {what} {path}: {e}") from None
    except ValueError as e:
        raise MagentaJsError(f"{path}: not valid JSON ({e})") from None


def _entry_layout(entry: dict, path: Path) -> tuple[str, tuple[int, ...], np.dtype, dict | None]:
    """(name, shape, stored dtype, quantization) of one manifest weight, checked."""
    try:
        name, shape, dtype = entry["name"], tuple(int(d) for d in entry["shape"]), entry["dtype"]
    except (KeyError, TypeError, ValueError):
        raise MagentaJsError(f"{path}: malformed weight entry {entry!r}") from None
    quantization = entry.get("quantization")
    if quantization is not None:
        stored = QUANTIZED.get(quantization.get("dtype"))
        if stored is None:
            raise MagentaJsError(f"{path}: {name}: unsupported quantization {quantization}")
        if stored != np.float16 and not {"min", "scale"} <= set(quantization):
            raise MagentaJsError(f"{path}: {name}: quantization without min/scale")
        return name, shape, stored, quantization
    if dtype not in DTYPES:
        raise MagentaJsError(f"{path}: {name}: unsupported dtype {dtype!r}")
    return name, shape, DTYPES[dtype], None


def _group_bytes(folder: Path, paths: list[str]) -> tuple[bytes, list[tuple[str, int]]]:
    """A group's shards concatenated, and where each shard ends."""
    parts, ends, total = [], [], 0
    for name in paths:
        shard = folder / name
        try:
            data = shard.read_bytes()
        except OSError as e:
            raise MagentaJsError(f"missing or unreadable shard {shard}: {e.strerror}") from None
        parts.append(data)
        total += len(data)
        ends.append((name, total))
    return b"".join(parts), ends


def read_magenta_js(folder: str | Path) -> tuple[dict[str, np.ndarray], dict | None]:
    """A magenta.js checkpoint folder -> (float32 variables by TF name, MusicVAE spec or None)."""
    folder = Path(folder)
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise MagentaJsError(f"{folder} has no {MANIFEST} (not a magenta.js checkpoint)")
    manifest = _load_json(manifest_path, "weights manifest")
    if not isinstance(manifest, list):
        raise MagentaJsError(f"{manifest_path}: expected a list of weight groups")
    variables: dict[str, np.ndarray] = {}
    for group in manifest:
        data, ends = _group_bytes(folder, list(group.get("paths", [])))
        offset = 0
        for entry in group.get("weights", []):
            name, shape, stored, quantization = _entry_layout(entry, manifest_path)
            size = math.prod(shape) * stored.itemsize
            if offset + size > len(data):
                shard = next((n for n, end in ends if end > offset), ends[-1][0] if ends else "?")
                raise MagentaJsError(
                    f"{folder / shard}: truncated ({name} needs group bytes {offset}..."
                    f"{offset + size}, the group's shards hold {len(data)})"
                )
            values = np.frombuffer(data, stored, math.prod(shape), offset).reshape(shape)
            offset += size
            if quantization is not None:
                values = dequantize(values, quantization)
            variables[name] = values.astype(values.dtype.newbyteorder("="))
        if offset != len(data):
            log.warning("%s: %d unused bytes after a group's weights", folder, len(data) - offset)
    spec = _load_json(folder / SPEC, "spec") if (folder / SPEC).is_file() else None
    log.info("read %d tensors from magenta.js checkpoint %s", len(variables), folder)
    return variables, spec


# ---------------------------------------------------------------- writing


def write_magenta_js(
    variables: dict[str, np.ndarray],
    folder: str | Path,
    spec: dict,
    quantize_bytes: int | None = None,
    shard_bytes: int = SHARD_BYTES,
) -> list[dict]:
    """Write config.json, weights_manifest.json and 4 MB shards (one group, tfjs's naming);
    float32 weights optionally quantized to 1 or 2 bytes. Returns the manifest."""
    if quantize_bytes not in (None, 1, 2):
        raise ValueError(f"quantize must be 1 or 2 bytes, got {quantize_bytes}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    entries, blobs = [], []
    for name, value in variables.items():
        value = np.asarray(value)
        entry = {"name": name, "shape": list(value.shape), "dtype": "float32"}
        if value.dtype != np.float32:
            raise ValueError(f"{name}: only float32 weights are exported, got {value.dtype}")
        if quantize_bytes:
            dtype = QUANTIZE_BYTES[quantize_bytes]
            value, q = quantize(value, dtype)
            entry["quantization"] = {"dtype": dtype, "min": q["min"], "scale": q["scale"]}
        entries.append(entry)
        blobs.append(np.ascontiguousarray(value).astype(value.dtype.newbyteorder("<")).tobytes())
    data = b"".join(blobs)
    count = max(1, math.ceil(len(data) / shard_bytes))
    paths = [f"group1-shard{i + 1}of{count}.bin" for i in range(count)]
    for i, name in enumerate(paths):
        (folder / name).write_bytes(data[i * shard_bytes : (i + 1) * shard_bytes])
    manifest = [{"paths": paths, "weights": entries}]
    (folder / MANIFEST).write_text(json.dumps(manifest))
    (folder / SPEC).write_text(json.dumps(spec, indent=2) + "\n")
    return manifest


# ---------------------------------------------------------------- the MusicVAE spec


def _drum_classes() -> list[list[int]]:
    return [list(c) for c in DRUM_CLASS_PITCHES]


def converter_spec(config: Config) -> dict:
    """magenta.js data converter spec (music/src/core/data.ts ConverterSpec) of a config.

    Drums carry Magenta's own pitch classes (note_seq's), which differ from magenta.js's
    defaults (DEFAULT_DRUM_PITCH_CLASSES) in a few pitches.
    """
    data = config.data
    args: dict = {"numSteps": data.seq_len}
    if config.level_lengths:
        args["numSegments"] = config.level_lengths[0]
    melody = {"minPitch": data.min_pitch, "maxPitch": data.max_pitch}
    if data.kind == "melody":
        return {"type": "MelodyConverter", "args": {**args, **melody}}
    if data.kind == "drums":
        kind = "DrumsConverter" if data.roll_input else "DrumsOneHotConverter"
        return {"type": kind, "args": {**args, "pitchClasses": _drum_classes()}}
    trio_melody = {"minPitch": 21, "maxPitch": 108}  # TrioConverter's melody converters
    drums = {"pitchClasses": _drum_classes()}
    return {
        "type": "TrioConverter",
        "args": {**args, "melArgs": trio_melody, "bassArgs": trio_melody, "drumsArgs": drums},
    }


def musicvae_spec(config: Config, config_dict: dict) -> dict:
    """config.json of an export: magenta.js's MusicVAESpec plus our full config under
    "musicvae" (magenta.js reads only type, dataConverter and chordEncoder)."""
    return {
        "type": "MusicVAE",
        "dataConverter": converter_spec(config),
        "musicvae": {"config": config_dict},
    }


def magenta_js_limits(config: Config) -> list[str]:
    """What the magenta.js MusicVAE loader (model.ts initialize) cannot run of this config."""
    notes = []
    layers = len(config.hparams.enc_rnn_size)
    if config.level_lengths:
        notes.append(
            "magenta.js pairs a conductor (numSegments) with a 2-level hierarchical encoder "
            f"only; this model has a flat {layers}-layer encoder, so magenta.js's MusicVAE "
            "class will refuse it (the weights and names are Magenta's all the same)"
        )
    elif layers != 1:
        notes.append(
            f"magenta.js runs single-layer bidirectional encoders only; this one has {layers}"
        )
    if len(build_converter(config.data).stream_depths) > 1 and not config.level_lengths:
        notes.append("magenta.js has no flat multi-stream (flat-trio) decoder")
    return notes


# ---------------------------------------------------------------- spec -> our config

SPEC_KINDS = {
    "MelodyConverter": "melody",
    "DrumsConverter": "drums",
    "DrumsOneHotConverter": "drums",
    "TrioConverter": "trio",
}


def spec_kind(spec: dict) -> str:
    """The data kind (melody, drums, trio) of a MusicVAE spec's converter."""
    converter = spec.get("dataConverter") or {}
    kind = SPEC_KINDS.get(converter.get("type"))
    if kind is None:
        raise MagentaJsError(
            f"config.json: data converter {converter.get('type')!r} is not supported "
            f"(supported: {', '.join(SPEC_KINDS)})"
        )
    return kind


def _resize(config: Config, steps: int, segments: int | None, notes: list[str]) -> Config:
    """Config with sequence length `steps` (and `segments` conductor steps)."""
    per_bar = config.data.steps_per_quarter * config.data.quarters_per_bar
    level_lengths = config.level_lengths
    if segments is not None and level_lengths:
        if steps % segments:
            raise MagentaJsError(f"config.json: numSteps {steps} not divisible by {segments}")
        level_lengths = (segments, steps // segments)
    if steps == config.data.seq_len and level_lengths == config.level_lengths:
        return config
    if steps % per_bar:
        raise MagentaJsError(f"config.json: numSteps {steps} is not a whole number of bars")
    notes.append(f"numSteps {steps} (numSegments {segments}) -> {steps // per_bar} bars")
    data = dataclasses.replace(config.data, slice_bars=steps // per_bar)
    hparams = config.hparams.override(max_seq_len=steps)
    return dataclasses.replace(config, data=data, hparams=hparams, level_lengths=level_lengths)


def apply_spec(spec: dict | None, config: Config) -> tuple[Config, list[str]]:
    """Adapt `config` to a magenta.js spec where a Config can say the same thing (length,
    segments, melody pitch range); notes list what was mapped and what was ignored."""
    if not spec:
        return config, []
    notes: list[str] = []
    kind = spec_kind(spec)
    if spec.get("chordEncoder"):
        raise MagentaJsError(
            f"config.json: a chord-conditioned model (chordEncoder {spec['chordEncoder']}); "
            "musicvae's models take no chord conditioning"
        )
    if kind != config.data.kind:
        raise MagentaJsError(
            f"config {config.name} models {config.data.kind}, but the checkpoint's "
            f"config.json names a {spec['dataConverter']['type']}"
        )
    args = dict(spec["dataConverter"].get("args") or {})
    if "numSegments" in args and not config.level_lengths:
        raise MagentaJsError(
            f"the checkpoint's config.json has numSegments (a hierarchical model), but "
            f"config {config.name} is flat"
        )
    if "numSteps" in args:
        config = _resize(config, int(args.pop("numSteps")), args.pop("numSegments", None), notes)
    if kind == "melody":
        lo, hi = args.pop("minPitch", config.data.min_pitch), args.pop("maxPitch", None)
        hi = config.data.max_pitch if hi is None else hi
        if (lo, hi) != (config.data.min_pitch, config.data.max_pitch):
            data = dataclasses.replace(config.data, min_pitch=int(lo), max_pitch=int(hi))
            config = dataclasses.replace(config, data=data)
            notes.append(f"melody pitch range {lo}..{hi}")
    drums_args = args.pop("drumsArgs", None) or {}
    classes = args.pop("pitchClasses", drums_args.get("pitchClasses"))
    if classes is not None and [list(c) for c in classes] != _drum_classes():
        notes.append("ignored pitchClasses (musicvae decodes with note_seq's drum classes)")
    for key in ("melArgs", "bassArgs"):
        trio = args.pop(key, None) or {}
        if (trio.get("minPitch", 21), trio.get("maxPitch", 108)) != (21, 108):
            notes.append(f"ignored {key} pitch range (trio melodies are 21..108)")
    notes += [f"ignored converter arg {k}" for k in sorted(args)]
    notes += [
        f"ignored {k}" for k in sorted(spec) if k not in ("type", "dataConverter", "musicvae")
    ]
    return config, notes
