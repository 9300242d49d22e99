"""Bounds on what one Studio request may ask for (sizes, uploads, parameters)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Per-request bounds; every one is checked before any inference runs."""

    max_samples: int = 16  # sequences per /api/sample
    max_steps: int = 16  # sequences on an interpolation path (ends included)
    max_length: int = 256  # decoded 16th steps (16 bars) for a flat decoder
    max_temperature: float = 3.0
    max_amount: float = 5.0  # |attribute amount| and |blend coordinate| bound
    max_notes: int = 4096  # notes in one clip sent by the page
    max_clips: int = 64  # clips in one zip export
    max_upload_bytes: int = 1 << 20  # one MIDI file
    max_body_bytes: int = 4 << 20  # any request body
    max_bars: int = 512  # bars of an upload scanned for windows
    max_windows: int = 256  # windows listed for one upload

    def __post_init__(self) -> None:
        for name, value in self.__dict__.items():
            if not value > 0:
                raise ValueError(f"Limits.{name} must be positive, got {value}")
        if self.max_upload_bytes > self.max_body_bytes:
            raise ValueError("max_upload_bytes cannot exceed max_body_bytes")

    def as_dict(self) -> dict:
        return dict(self.__dict__)
