"""The model card: card.json's `evaluation` (metrics.json as `evaluate` wrote it) and README.md,
both generated from the measured metrics, and the recommended sampling temperature that
`sample` and `demo` use by default."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from musicvae.evaluation.report import quality_sections
from musicvae.inference.model_dir import read_card, recommended_temperature

__all__ = ["read_card", "recommended_temperature", "write_card"]

log = logging.getLogger(__name__)

CARD = "card.json"
README = "README.md"
EVALUATION = "evaluation"


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _steps(card: dict) -> str | None:
    """The steps line; a fine-tune (`train --init-from`) counts its source run's steps too."""
    steps, source = card.get("steps"), card.get("init_from")
    if steps is None or not isinstance(source, dict):
        return steps
    first = int(source.get("step", 0))
    return f"{first + int(steps):,} ({first:,} of the source run, then {int(steps):,} fine-tuning)"


def card_markdown(card: dict) -> str:
    """README.md of a model folder, from card.json (provenance + the evaluation)."""
    lines = [f"# Model card: {card.get('name', card.get('config', 'model'))}", ""]
    facts = [
        ("Architecture", f"`{card['config']}`" if "config" in card else None),
        ("Parameters", f"{card['parameters']:,}" if "parameters" in card else None),
        ("Weights", card.get("weights_dtype")),
        ("Data", card.get("data")),
        (
            "Windows",
            f"{card['windows']['train']} train, {card['windows']['eval']} held out"
            if isinstance(card.get("windows"), dict)
            else None,
        ),
        ("Training steps", _steps(card)),
        ("Batch size", card.get("batch_size")),
        (
            "Training command",
            f"`{card['training_command']}`" if card.get("training_command") else None,
        ),
    ]
    lines += [f"- {k}: {v}" for k, v in facts if v is not None]
    evaluation = card.get(EVALUATION)
    if evaluation:
        rec = evaluation["realism"]["recommended_temperature"]
        lines += [
            "",
            f"Recommended sampling temperature: **{rec['value']:g}** (the default of "
            "`musicvae sample` and `musicvae demo` with this model).",
            "",
            f"Every number below was measured by `musicvae evaluate` (musicvae "
            f"{evaluation['musicvae_version']}) on {evaluation['data']}, seed "
            f"{evaluation['seed']}, and is stored in card.json under `evaluation`.",
            "",
            *quality_sections(evaluation),
        ]
    else:
        lines += ["", "Not evaluated yet: run `musicvae evaluate --card`.", ""]
    if card.get("license"):
        lines += [f"License: {card['license']}", ""]
    return "\n".join(lines)


def write_card(model_dir: str | Path, metrics: dict, extra: dict | None = None) -> Path:
    """Put `metrics` into model_dir/card.json (key `evaluation`, plus `extra` keys) and
    regenerate model_dir/README.md from the card."""
    folder = Path(model_dir)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a model folder: the model card goes into a folder")
    card = read_card(folder)
    card.update(extra or {})
    card[EVALUATION] = metrics
    try:
        _write(folder / CARD, json.dumps(card, indent=1) + "\n")
        _write(folder / README, card_markdown(card))
    except OSError as e:
        raise ValueError(f"cannot write the model card into {folder}: {e.strerror or e}") from None
    log.info("wrote the model card of %s", folder)
    return folder / CARD
