"""Errors shared across packages, importable without torch (the CLI catches them)."""

from __future__ import annotations


class CheckpointError(ValueError):
    """A checkpoint (ours, Magenta's TF or magenta.js) that is missing, truncated, corrupt, of
    an unsupported kind, or that does not fit the model."""


class TrainingError(RuntimeError):
    """Training cannot go on (NaN loss, a run folder of another config, ...)."""
