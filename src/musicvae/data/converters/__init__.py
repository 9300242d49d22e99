"""Converters, one per kind of music (melody, drums, trio), and the builder from a DataConfig."""

from __future__ import annotations

import functools

from musicvae.configs import DataConfig
from musicvae.data.converters.base import ConverterTensors, WindowConverter
from musicvae.data.converters.drums import DrumsConverter
from musicvae.data.converters.melody import MelodyConverter
from musicvae.data.converters.trio import TrioConverter

Converter = MelodyConverter | DrumsConverter | TrioConverter


def _melody(data: DataConfig, common: dict) -> MelodyConverter:
    return MelodyConverter(
        slice_bars=data.slice_bars,
        min_pitch=data.min_pitch,
        max_pitch=data.max_pitch,
        valid_programs=data.valid_programs,
        any_program=data.any_program,
        gap_bars=data.gap_bars,
        max_bars=data.max_bars,
        **common,
    )


def _drums(data: DataConfig, common: dict) -> DrumsConverter:
    return DrumsConverter(
        slice_bars=data.slice_bars,
        roll_input=data.roll_input,
        gap_bars=data.gap_bars,
        max_bars=data.max_bars,
        **common,
    )


def _trio(data: DataConfig, common: dict) -> TrioConverter:
    return TrioConverter(slice_bars=data.slice_bars, gap_bars=int(data.gap_bars or 2), **common)


# DataConfig.kind -> the function building that kind's converter: the one table of kinds.
BUILDERS = {"melody": _melody, "drums": _drums, "trio": _trio}


@functools.lru_cache(maxsize=64)
def build_converter(data: DataConfig) -> Converter:
    """The converter of a DataConfig (cached: configs are frozen, converters stateless)."""
    common = dict(
        steps_per_quarter=data.steps_per_quarter,
        quarters_per_bar=data.quarters_per_bar,
        max_tensors_per_notesequence=data.max_tensors_per_notesequence,
    )
    try:
        builder = BUILDERS[data.kind]
    except KeyError:
        raise ValueError(f"unknown data kind {data.kind!r}; valid: {', '.join(BUILDERS)}") from None
    return builder(data, common)


__all__ = [
    "BUILDERS",
    "Converter",
    "ConverterTensors",
    "DrumsConverter",
    "MelodyConverter",
    "TrioConverter",
    "WindowConverter",
    "build_converter",
]
