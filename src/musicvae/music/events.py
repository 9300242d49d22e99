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

    def finish(self, steps_per_bar: int, pad_end: bool) -> None:
        """End of extraction: optionally pad to the next bar line (Magenta's pad_end)."""
        length = len(self.events)
        if pad_end:
            length += -length % steps_per_bar
        self.set_length(length)

    def truncate(self, max_steps: int | None, steps_per_bar: int, pad_end: bool) -> None:
        """Magenta's max_steps_truncate: cut to max_steps, to a bar line when pad_end."""
        if max_steps is not None and len(self.events) > max_steps:
            self.set_length(max_steps - (max_steps % steps_per_bar if pad_end else 0))

    def pad_left_to_zero(self) -> None:
        """set_length(len + start_step, from_left=True): the track then starts at step 0."""
        self.events[:0] = [self.PAD] * self.start_step
        self.start_step = 0
