"""Training checkpoints: plain dicts written atomically (musicvae.files.atomic_write)."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from musicvae.errors import CheckpointError
from musicvae.files import atomic_write

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pt"


def save_checkpoint(path: Path, state: dict) -> bool:
    """Writes `state` to path via a temp file; on failure (e.g. disk full) keeps the old one.

    Returns True when the new checkpoint is in place.
    """
    try:
        atomic_write(path, lambda tmp: torch.save(state, tmp))
        return True
    except OSError as e:
        log.error("could not write checkpoint %s (%s); the previous one is kept", path, e)
        return False


def load_checkpoint(path: Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # a truncated or foreign file
        raise CheckpointError(f"cannot read checkpoint {path}: {e}") from e
