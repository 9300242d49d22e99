"""Melody attributes and attribute vectors (the paper's section 5.3; Magenta never published it).

An attribute is a pure function of a melody event list, one event per 16th step: a MIDI pitch
(>= 0, note-on), -1 (note-off) or -2 (no event). Each function takes (..., T) int arrays and
returns (...) float64, so whole batches of windows are measured at once. Shares are over the
onsets (note-ons); a window without onsets measures 0 everywhere.

An attribute vector is the mean code (z = mu) of the top quartile of windows by that attribute
minus the mean code of the bottom quartile (SPEC section 7).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from musicvae.data.converters import build_converter

log = logging.getLogger(__name__)

VECTORS_FILE = "attributes.npz"  # attribute vectors beside a model folder's weights
NOTE_OFF = -1
NO_EVENT = -2
C_MAJOR_PITCH_CLASSES = (0, 2, 4, 5, 7, 9, 11)


def _events(events) -> np.ndarray:
    events = np.asarray(events, dtype=np.int64)
    if events.ndim < 1:
        raise ValueError("a melody event list has at least one dimension (..., T)")
    return events


def _share(count: np.ndarray, onsets: np.ndarray) -> np.ndarray:
    """count / onsets, 0 where there are no onsets."""
    return np.divide(count, onsets, out=np.zeros(np.shape(count)), where=onsets > 0)[()]


def note_density(events) -> np.ndarray:
    """Onsets / steps: (..., T) -> (...)."""
    events = _events(events)
    if events.shape[-1] == 0:
        return np.zeros(events.shape[:-1])[()]
    return (events >= 0).sum(-1) / events.shape[-1]


def c_diatonic(events) -> np.ndarray:
    """Share of onsets whose pitch class is in C major {0, 2, 4, 5, 7, 9, 11}: (..., T) -> (...)."""
    events = _events(events)
    onset = events >= 0
    diatonic = onset & np.isin(np.mod(events, 12), C_MAJOR_PITCH_CLASSES)
    return _share(diatonic.sum(-1), onset.sum(-1))


def average_interval(events) -> np.ndarray:
    """Mean |p_{k+1} - p_k| over consecutive onsets (0 with fewer than 2): (..., T) -> (...)."""
    events = _events(events)
    onset = events >= 0
    steps = np.arange(events.shape[-1])
    last = np.maximum.accumulate(np.where(onset, steps, -1), axis=-1)  # last onset at or before t
    previous = np.concatenate([np.full_like(last[..., :1], -1), last[..., :-1]], axis=-1)
    counted = onset & (previous >= 0)  # onsets with an earlier onset
    before = np.take_along_axis(events, np.maximum(previous, 0), axis=-1)
    total = np.where(counted, np.abs(events - before), 0).sum(-1)
    return _share(total, counted.sum(-1))


def _no_onset_before(onset: np.ndarray, back: int) -> np.ndarray:
    """(..., T) bool: no onset in the `back` steps before each step (steps before 0 count as
    empty)."""
    quiet = np.ones_like(onset)
    for k in range(1, back + 1):
        quiet[..., k:] &= ~onset[..., :-k]
    return quiet


def syncopation_16th(events) -> np.ndarray:
    """Share of onsets on odd 16th positions whose previous step has no onset (a note-off is
    not an onset): (..., T) -> (...)."""
    events = _events(events)
    onset = events >= 0
    odd = (np.arange(events.shape[-1]) % 2) == 1
    hits = onset & odd & _no_onset_before(onset, 1)
    return _share(hits.sum(-1), onset.sum(-1))


def syncopation_8th(events) -> np.ndarray:
    """Share of onsets on off-beat 8th positions (2, 6, 10, ... in 16ths) with no onset in the
    two steps before: (..., T) -> (...)."""
    events = _events(events)
    onset = events >= 0
    offbeat = (np.arange(events.shape[-1]) % 4) == 2
    hits = onset & offbeat & _no_onset_before(onset, 2)
    return _share(hits.sum(-1), onset.sum(-1))


ATTRIBUTES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "c_diatonic": c_diatonic,
    "note_density": note_density,
    "average_interval": average_interval,
    "syncopation_16th": syncopation_16th,
    "syncopation_8th": syncopation_8th,
}


def check_names(names) -> list[str]:
    """Attribute names, validated (None = all five)."""
    names = list(ATTRIBUTES) if names is None else list(names)
    unknown = [n for n in names if n not in ATTRIBUTES]
    if unknown or not names:
        raise ValueError(
            f"unknown attribute(s) {', '.join(unknown) or '(none given)'}; "
            f"valid: {', '.join(ATTRIBUTES)}"
        )
    return names


def classes_of(windows) -> np.ndarray:
    """Melody windows as class indices: (..., T) ints, (..., T, 1) tokens, or (..., T, D)
    one-hot / logits (bool or float: argmax) -> (..., T) int64."""
    windows = np.asarray(windows)
    if not np.issubdtype(windows.dtype, np.integer):
        windows = windows.argmax(-1)
    elif windows.ndim >= 2 and windows.shape[-1] == 1:
        windows = windows[..., 0]
    return windows.astype(np.int64)


def events_from_classes(windows, min_pitch: int = 21) -> np.ndarray:
    """Melody windows (any form `classes_of` takes) -> (..., T) events. Class 0 = no event,
    1 = note-off, 2 + (pitch - min_pitch) = note-on (Magenta's OneHotMelodyConverter)."""
    classes = classes_of(windows)
    return np.where(classes >= 2, classes - 2 + min_pitch, classes - 2)


def measure(events, names=None) -> dict[str, np.ndarray]:
    """Every named attribute of (..., T) events -> {name: (...)}."""
    return {name: ATTRIBUTES[name](events) for name in check_names(names)}


def quartile_difference(values: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, dict]:
    """values (N,), codes (N, Z) -> mean code of the top quartile minus that of the bottom
    quartile (Z,), and a summary. Ties are broken by window order (a stable sort)."""
    n = len(values)
    if n < 4:
        raise ValueError(f"attribute vectors need at least 4 windows, got {n}")
    q = n // 4
    order = np.argsort(values, kind="stable")  # (N,)
    low, high = order[:q], order[-q:]
    vector = codes[high].mean(0) - codes[low].mean(0)  # (Z,)
    summary = {
        "windows": int(n),
        "quartile": int(q),
        "bottom_mean": float(values[low].mean()),
        "top_mean": float(values[high].mean()),
        "mean": float(values.mean()),
        "vector_norm": float(np.linalg.norm(vector)),
    }
    return vector.astype(np.float32), summary


def attribute_vectors(
    model,
    windows,
    names=None,
    max_windows: int | None = None,
    seed: int = 0,
    progress: bool | None = False,
) -> tuple[dict[str, np.ndarray], dict]:
    """Attribute vectors of a melody TrainedModel over melody windows: (N, T) classes,
    (N, T, 1) tokens or (N, T, D) one-hot. At most `max_windows` windows (a seeded random
    subset); `progress` shows a bar over the encoding (None: on a terminal).
    -> ({name: (Z,) float32}, {name: summary})."""
    converter = build_converter(model.config.data)
    if not converter.has_melody_events:
        raise ValueError(
            f"attribute vectors are defined for melody models (SPEC section 7); "
            f"{model.config.name} is a {converter.kind} model"
        )
    names = check_names(names)
    classes = classes_of(windows)  # (N, T)
    if classes.ndim != 2 or (classes.size and classes.max() >= model.input_depth):
        raise ValueError(
            f"windows must be (N, T) melody classes below {model.input_depth}, (N, T, 1) tokens "
            f"or (N, T, {model.input_depth}) one-hot; got shape {list(np.shape(windows))}"
        )
    if max_windows is not None and max_windows < len(classes):
        if max_windows < 4:
            raise ValueError(f"--max-windows must be at least 4, got {max_windows}")
        chosen = np.sort(np.random.default_rng(seed).choice(len(classes), max_windows, False))
        classes = classes[chosen]
    events = converter.melody_events(classes)  # (N, T)
    mu = encode_classes(model, classes, progress=progress)  # (N, Z)
    vectors, summaries = {}, {}
    for name in names:
        vectors[name], summaries[name] = quartile_difference(ATTRIBUTES[name](events), mu)
        if summaries[name]["top_mean"] == summaries[name]["bottom_mean"]:
            log.warning(
                "%s: top and bottom quartiles measure the same; no signal in its vector", name
            )
    return vectors, summaries


def encode_classes(
    model, classes: np.ndarray, chunk: int = 4096, progress: bool | None = False
) -> np.ndarray:
    """(N, T) melody classes -> mu (N, Z), one-hot expanded a chunk at a time (bounded memory);
    `progress` shows a bar over the chunks (None: on a terminal)."""
    from musicvae.progress import bar

    depth = model.input_depth
    eye = np.eye(depth, dtype=np.float32)
    starts = range(0, len(classes), chunk)
    parts = [
        model.encode_tensors(eye[classes[i : i + chunk]])[1]
        for i in bar(starts, desc="encode windows", progress=progress)
    ]
    return np.concatenate(parts) if parts else np.zeros((0, model.z_size), np.float32)


def attribute_sweep(
    model, z, name: str, amounts, temperature: float | None = None, seed: int | None = None
):
    """One code z (Z,) moved by each amount along the loaded vector `name`, decoded and measured
    -> (NoteSequences (A,), {attribute: values (A,)} over the decoded melodies)."""
    converter = build_converter(model.config.data)
    if not converter.has_melody_events:
        raise ValueError(f"melody attributes need a melody model; {model.config.name} is not one")
    z = np.asarray(z, np.float32).reshape(-1)
    codes = np.stack([model.apply_attribute(z, name, a) for a in amounts])  # (A, Z)
    samples = model.decode_to_tensors(codes, None, temperature, seed)  # (A, T, D)
    sequences = converter.from_tensors(samples)
    events = converter.melody_events(classes_of(samples))  # (A, T)
    return sequences, measure(events)


def vectors_beside(folder: str | Path | None) -> Path | None:
    """The attribute vectors (VECTORS_FILE) beside a model folder's weights, or None when the
    folder has none (or `folder` is None or not a folder)."""
    if folder is None:
        return None
    candidate = Path(folder) / VECTORS_FILE
    return candidate if candidate.is_file() else None


def save_vectors(path: str | Path, vectors: dict[str, np.ndarray], info: dict) -> Path:
    """vectors.npz: one (Z,) array per attribute + `info` (JSON text: model, summaries)."""
    path = Path(path)
    arrays = {name: np.asarray(v, np.float32) for name, v in vectors.items()}
    with open(path, "wb") as f:  # np.savez on a name would append .npz
        np.savez(f, **arrays, info=np.array(json.dumps(info)))
    return path


def load_vectors(path: str | Path) -> tuple[dict[str, np.ndarray], dict]:
    """vectors.npz -> ({name: (Z,)}, info)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(
            f"no attribute vectors at {path} (make them with `musicvae attributes compute`)"
        )
    try:
        with np.load(path, allow_pickle=False) as npz:
            info = json.loads(str(npz["info"])) if "info" in npz.files else {}
            vectors = {k: npz[k].astype(np.float32) for k in npz.files if k != "info"}
    except (OSError, ValueError, KeyError) as e:
        raise ValueError(f"{path}: not an attribute vectors file ({e})") from None
    return vectors, info
