"""A small, columnar NoteSequence: the subset of note_seq's protobuf that MusicVAE needs.

Notes are stored as parallel numpy arrays (one row per note) so that quantization, filtering and
splitting are vectorized. Times are float64 seconds, exactly as note_seq stores them (protobuf
double), because Magenta's quantization rounds those floats and parity depends on every bit.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

DEFAULT_QPM = 120.0
DEFAULT_TICKS_PER_QUARTER = 220  # note_seq's STANDARD_PPQ, used when writing MIDI

NOTE_FIELDS = ("pitch", "velocity", "start", "end", "program", "is_drum", "instrument")
_DTYPES = {
    "pitch": np.int16,
    "velocity": np.int16,
    "start": np.float64,
    "end": np.float64,
    "program": np.int16,
    "is_drum": np.bool_,
    "instrument": np.int32,
    "start_step": np.int64,
    "end_step": np.int64,
}


@dataclass(frozen=True)
class Tempo:
    time: float  # seconds
    qpm: float


@dataclass(frozen=True)
class TimeSignature:
    time: float  # seconds
    numerator: int
    denominator: int


@dataclass(frozen=True)
class Note:
    """One note, for building sequences by hand (tests, decoders) and for iteration."""

    pitch: int
    start: float
    end: float
    velocity: int = 80
    program: int = 0
    is_drum: bool = False
    instrument: int = 0
    start_step: int = -1
    end_step: int = -1


def _column(values, name: str) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(values, dtype=_DTYPES[name]).reshape(-1))


@dataclass(frozen=True, eq=False)
class NoteSequence:
    """Notes (columnar), tempos and time signatures of one piece, optionally quantized.

    `instrument` is note_seq's instrument index: the position of the pretty_midi instrument
    (program, channel, track group) the note came from. When `steps_per_quarter` is set the
    sequence is quantized: `start_step`/`end_step` hold note_seq's quantized steps.
    """

    pitch: np.ndarray  # (N,) int16
    velocity: np.ndarray  # (N,) int16
    start: np.ndarray  # (N,) float64 seconds
    end: np.ndarray  # (N,) float64 seconds
    program: np.ndarray  # (N,) int16
    is_drum: np.ndarray  # (N,) bool
    instrument: np.ndarray  # (N,) int32
    tempos: tuple[Tempo, ...] = ()
    time_signatures: tuple[TimeSignature, ...] = ()
    total_time: float = 0.0
    ticks_per_quarter: int = DEFAULT_TICKS_PER_QUARTER
    steps_per_quarter: int | None = None
    start_step: np.ndarray | None = None  # (N,) int64, only when quantized
    end_step: np.ndarray | None = None  # (N,) int64, only when quantized
    total_quantized_steps: int = 0
    source: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        n = len(self.pitch)
        for name in NOTE_FIELDS:
            object.__setattr__(self, name, _column(getattr(self, name), name))
            if len(getattr(self, name)) != n:
                raise ValueError(
                    f"note column {name!r} has {len(getattr(self, name))} rows, not {n}"
                )
        for name in ("start_step", "end_step"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, _column(getattr(self, name), name))

    @classmethod
    def from_notes(cls, notes: list[Note] | tuple[Note, ...], **kwargs) -> NoteSequence:
        """Builds a sequence from Note records (quantized if every note has steps)."""
        cols = {name: [getattr(n, name) for n in notes] for name in NOTE_FIELDS}
        if notes and all(n.start_step >= 0 for n in notes) and "steps_per_quarter" in kwargs:
            kwargs.setdefault("start_step", [n.start_step for n in notes])
            kwargs.setdefault("end_step", [n.end_step for n in notes])
        if "total_time" not in kwargs:
            kwargs["total_time"] = max((n.end for n in notes), default=0.0)
        return cls(**cols, **kwargs)

    @classmethod
    def empty(cls, **kwargs) -> NoteSequence:
        return cls.from_notes([], **kwargs)

    def __len__(self) -> int:
        return len(self.pitch)

    def __repr__(self) -> str:
        parts = [f"{len(self)} notes", f"{self.total_time:.2f} s"]
        if len(self):
            parts.append(f"pitches {int(self.pitch.min())}-{int(self.pitch.max())}")
            programs = sorted({int(p) for p in self.program[~self.is_drum]})
            if programs:
                parts.append(f"programs {programs}")
            if self.is_drum.any():
                parts.append("drums")
        if self.tempos:
            parts.append(f"{self.tempos[0].qpm:g} qpm")
        if self.time_signatures:
            ts = self.time_signatures[0]
            parts.append(f"{ts.numerator}/{ts.denominator}")
        if self.is_quantized:
            parts.append(f"quantized {self.steps_per_quarter}/quarter")
        if self.source:
            parts.append(f"source={self.source!r}")
        return f"NoteSequence({', '.join(parts)})"

    @property
    def is_quantized(self) -> bool:
        return self.steps_per_quarter is not None

    def notes(self) -> list[Note]:
        """The notes as Note records, in storage order. A method, not a list attribute: the
        notes are stored as columns (`pitch`, `start`, `end`, ... numpy arrays) and the records
        are built on each call."""
        q = self.is_quantized
        return [
            Note(
                pitch=int(self.pitch[i]),
                start=float(self.start[i]),
                end=float(self.end[i]),
                velocity=int(self.velocity[i]),
                program=int(self.program[i]),
                is_drum=bool(self.is_drum[i]),
                instrument=int(self.instrument[i]),
                start_step=int(self.start_step[i]) if q else -1,
                end_step=int(self.end_step[i]) if q else -1,
            )
            for i in range(len(self))
        ]

    def select(self, mask_or_index: np.ndarray, **changes) -> NoteSequence:
        """A copy keeping the notes picked by a boolean mask or index array."""
        cols = {name: getattr(self, name)[mask_or_index] for name in NOTE_FIELDS}
        if self.is_quantized:
            cols["start_step"] = self.start_step[mask_or_index]
            cols["end_step"] = self.end_step[mask_or_index]
        cols.update(changes)
        return dataclasses.replace(self, **cols)

    def replace(self, **changes) -> NoteSequence:
        return dataclasses.replace(self, **changes)
