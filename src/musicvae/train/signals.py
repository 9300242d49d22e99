"""Ctrl-C and SIGTERM during training: finish the step, save it, then stop.

The first SIGINT or SIGTERM only sets a flag that the training loop reads after each step, so
the checkpoint it then writes is the state of a whole step (written atomically by
train/checkpoint.py). A second signal interrupts at once, as Ctrl-C normally does; the last
checkpoint on disk is still whole, because it is replaced by a rename.
"""

from __future__ import annotations

import signal
import threading

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on SIGINT/SIGTERM after saving a checkpoint (`step` is the one kept)."""

    def __init__(self, message: str, step: int, signal_name: str):
        super().__init__(message)
        self.step = step
        self.signal_name = signal_name


class StopRequest:
    """A context in which SIGINT/SIGTERM ask the loop to stop (`received` names the signal).

    Handlers are installed only in the main thread (Python allows no other) and the previous
    ones are restored on exit.
    """

    def __init__(self) -> None:
        self.received: str | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame) -> None:
        if self.received is not None:  # a second signal: stop now
            raise KeyboardInterrupt
        self.received = signal.Signals(signum).name

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
