"""What TrainedModel accepts as a sequence (a MIDI path, a NoteSequence, a pretty_midi.PrettyMIDI
or a window tensor) and the typed errors when an input yields no window, or several where one
is required."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from musicvae.configs import Config
from musicvae.data.converters import ConverterTensors, build_converter
from musicvae.data.windows import windows_of
from musicvae.music.midi_io import MidiReadError, read_midi, read_midi_file
from musicvae.music.notes import NoteSequence
from musicvae.music.sequences import QuantizationError


class NoExtractedExamplesError(ValueError):
    """An input from which the model's converter extracts no window (Magenta's name)."""


class MultipleExtractedExamplesError(ValueError):
    """An input with several windows where exactly one is required (Magenta's name)."""


Item = str | os.PathLike | NoteSequence | np.ndarray


def is_pretty_midi(item) -> bool:
    """A pretty_midi.PrettyMIDI (duck-typed: pretty_midi is not a dependency)."""
    return hasattr(item, "instruments") and callable(getattr(item, "write", None))


def from_pretty_midi(item, label: str) -> NoteSequence:
    """A PrettyMIDI object -> NoteSequence, through its MIDI bytes (read as a file would be)."""
    import io

    buffer = io.BytesIO()
    try:
        item.write(buffer)
        seq = read_midi(buffer.getvalue())
    except MidiReadError as e:
        raise ValueError(f"{label}: {e}") from None
    except Exception as e:  # whatever pretty_midi raises while writing its MIDI
        raise ValueError(f"{label}: cannot read this PrettyMIDI object ({e})") from None
    return seq.replace(source=label)


def as_items(sequences) -> list:
    """One input or a list of them -> list; a (B, T, D) array -> B window items."""
    if isinstance(sequences, (str, os.PathLike, NoteSequence)) or is_pretty_midi(sequences):
        return [sequences]
    if hasattr(sequences, "detach"):  # a torch tensor
        sequences = sequences.detach().cpu().numpy()
    if isinstance(sequences, np.ndarray):
        if sequences.ndim == 2:
            return [sequences]
        if sequences.ndim == 3:
            return list(sequences)
        raise ValueError(f"window tensors must be (T, D) or (B, T, D), got {list(sequences.shape)}")
    if not isinstance(sequences, Iterable):
        raise ValueError(f"expected MIDI paths, NoteSequences or tensors, got {type(sequences)}")
    return list(sequences)


def label_of(item, index: int) -> str:
    """How errors name an input: its path, or its position."""
    if isinstance(item, (str, os.PathLike)):
        return os.fspath(item)
    if isinstance(item, NoteSequence) and item.source:
        return item.source
    if is_pretty_midi(item):
        return f"PrettyMIDI input {index}"
    return f"input {index}"


def read_item(item, label: str) -> NoteSequence:
    """A MIDI path, a NoteSequence or a PrettyMIDI -> NoteSequence (read errors name the file)."""
    if isinstance(item, NoteSequence):
        return item
    if is_pretty_midi(item):
        return from_pretty_midi(item, label)
    path = Path(item)
    if not path.is_file():
        raise ValueError(f"{label}: no such file")
    return read_midi_file(path, label)


def read_paths(items: list) -> list:
    """Items with MIDI paths (or PrettyMIDI objects) read once into NoteSequences, which keep
    the path as source."""
    return [
        read_item(item, label_of(item, i))
        if isinstance(item, (str, os.PathLike)) or is_pretty_midi(item)
        else item
        for i, item in enumerate(items)
    ]


def tempo_of(item) -> float | None:
    """The tempo (qpm) a NoteSequence starts with; None for window tensors or no tempo."""
    if not isinstance(item, NoteSequence) or not item.tempos:
        return None
    return min(item.tempos, key=lambda t: t.time).qpm


def explain(config: Config, seq: NoteSequence) -> str:
    """Why a sequence yields no window for this config, in one line."""
    return build_converter(config.data).no_window_reason(seq, config.name)


def item_windows(config: Config, item, label: str, input_depth: int) -> ConverterTensors:
    """Every distinct window of one input, in the converter's order (Magenta's inference mode:
    no sampling, no augmentation). A (T, D_in) array is one window as it is."""
    if isinstance(item, np.ndarray) or hasattr(item, "detach"):
        window = np.asarray(item.detach().cpu() if hasattr(item, "detach") else item, np.float32)
        if window.ndim != 2 or window.shape[-1] != input_depth:
            raise ValueError(
                f"{label}: a window tensor must be (T, {input_depth}), got {list(window.shape)}"
            )
        return ConverterTensors.from_windows(window[None], window[None])
    seq = read_item(item, label)
    try:
        tensors = windows_of(config.data, seq)
    except QuantizationError as e:
        raise NoExtractedExamplesError(f"{label}: no window: {e}") from None
    if len(tensors) == 0:
        raise NoExtractedExamplesError(f"{label}: no window: {explain(config, seq)}")
    return tensors


def one_window(config: Config, item, label: str, input_depth: int) -> ConverterTensors:
    """The single window of an input; typed errors for none or several."""
    tensors = item_windows(config, item, label, input_depth)
    if len(tensors) > 1:
        raise MultipleExtractedExamplesError(
            f"{label}: {len(tensors)} windows of {config.data.slice_bars} bars, but one is "
            f"required: pass a {config.data.slice_bars}-bar excerpt (or one window tensor), "
            f"or use reconstruct, which takes every window"
        )
    return tensors
