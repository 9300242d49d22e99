"""A quantized stream of events starting at a bar line: note_seq's SimpleEventSequence."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar


@dataclass
class EventTrack:
    """One event per step from `start_step` (a step of the source sequence) on."""

    events: list[int] = field(default_factory=list)
    start_step: int = 0
    PAD: ClassVar[int] = 0  # the event that pads a track (no event / nothing hit)

    def __len__(self) -> int:
        return len(self.events)

    @property
    def end_step(self) -> int:
        return self.start_step + len(self.events)

    def set_length(self, steps: int) -> None:
        """Pads with PAD or truncates, on the right."""
        if steps <= len(self.events):
            del self.events[steps:]
        else:
            self.events.extend([self.PAD] * (steps - len(self.events)))

    def pad_left_to_zero(self) -> None:
        """set_length(len + start_step, from_left=True): the track then starts at step 0."""
        self.events[:0] = [self.PAD] * self.start_step
        self.start_step = 0
