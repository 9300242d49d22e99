"""Training checkpoints: plain dicts written atomically (temp file + rename)."""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

import torch

from musicvae.configs import Config, DataConfig, HParams

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pt"


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read or does not fit the model."""


def config_to_dict(config: Config) -> dict:
    return dataclasses.asdict(config)


def config_from_dict(d: dict) -> Config:
    """Rebuilds a Config saved with config_to_dict (tuples restored)."""
    data = {k: tuple(v) if isinstance(v, list) else v for k, v in d["data"].items()}
    hp = {k: tuple(v) if isinstance(v, list) else v for k, v in d["hparams"].items()}
    return Config(
        name=d["name"],
        data=DataConfig(**data),
        hparams=HParams(**hp),
        decoder=d["decoder"],
        level_lengths=tuple(d["level_lengths"]),
        output_depths=tuple(d["output_depths"]),
        note=d.get("note", ""),
    )


def save_checkpoint(path: Path, state: dict) -> bool:
    """Writes `state` to path via a temp file; on failure (e.g. disk full) keeps the old one.

    Returns True when the new checkpoint is in place.
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
        return True
    except OSError as e:
        log.error("could not write checkpoint %s (%s); the previous one is kept", path, e)
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        return False


def load_checkpoint(path: Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # a truncated or foreign file
        raise CheckpointError(f"cannot read checkpoint {path}: {e}") from e
