"""Model folders: `model.safetensors` (the weights, by state_dict name) + `config.json` (the
Config, as Config.to_dict writes it) + `card.json` (provenance).

`load_model_dir` also takes a training run (a folder with checkpoint.pt, or the .pt file), so
TrainedModel.load and every command accept a model folder and a training run alike.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from musicvae import __version__
from musicvae.builders import build_model
from musicvae.configs import Config
from musicvae.errors import CheckpointError
from musicvae.files import atomic_write_bytes, atomic_write_text
from musicvae.models.vae import MusicVAE
from musicvae.train.checkpoint import CHECKPOINT, load_checkpoint

log = logging.getLogger(__name__)

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
CARD = "card.json"
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")  # DistributedDataParallel, torch.compile


DEFAULT_TEMPERATURE = 0.5  # sampling temperature of a model whose card recommends none


def read_card(model_dir: str | Path) -> dict:
    """card.json of a model folder ({} when there is none or it is unreadable)."""
    try:
        card = json.loads((Path(model_dir) / CARD).read_text())
    except (OSError, ValueError):
        return {}
    return card if isinstance(card, dict) else {}


def recommended_temperature(model_dir: str | Path | None) -> float | None:
    """The sampling temperature the card recommends (`musicvae evaluate --card` measures it:
    see evaluation/realism.py), or None when the folder has no evaluated card."""
    if model_dir is None:
        return None
    try:
        value = read_card(model_dir)["evaluation"]["realism"]["recommended_temperature"]["value"]
    except (KeyError, TypeError):
        return None
    return float(value) if isinstance(value, (int, float)) else None


class ModelDirError(ValueError):
    """A model folder or training run that is missing, incomplete or does not fit its config."""


def parameter_count(model: MusicVAE) -> int:
    """Trainable parameters (Magenta's count: the frozen zero bias_hh are not variables)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def save_model_dir(
    model: MusicVAE,
    config: Config,
    path: str | Path,
    extra_card: dict | None = None,
    dtype: torch.dtype = torch.float32,
) -> Path:
    """Write a model folder: weights as safetensors (float32, or float16 to halve a bundle),
    config.json and card.json (version, config, parameter count, plus `extra_card`)."""
    from safetensors.torch import save

    if dtype not in (torch.float32, torch.float16):
        raise ValueError(f"model folders store float32 or float16 weights, not {dtype}")
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", dtype).contiguous() for k, v in model.state_dict().items()}
    metadata = {"format": "pt", "musicvae_version": __version__, "config": config.name}
    atomic_write_bytes(path / WEIGHTS, save(state, metadata=metadata))
    config_text = json.dumps(config.to_dict(), indent=2) + "\n"
    atomic_write_text(path / CONFIG, config_text)
    card = {
        "musicvae_version": __version__,
        "config": config.name,
        "parameters": parameter_count(model),
        "weights_dtype": str(dtype).removeprefix("torch."),
        **(extra_card or {}),
    }
    atomic_write_text(path / CARD, json.dumps(card, indent=2) + "\n")
    log.info("saved %s (%s) to %s", config.name, card["weights_dtype"], path)
    return path


def model_from_state(state: dict[str, torch.Tensor], config: Config, label: str) -> MusicVAE:
    """A float32 CPU model of `config` holding `state`; every name and shape checked."""
    with torch.device("meta"):  # shapes only; no random init of weights about to be replaced
        model = build_model(config)
    for prefix in _WRAPPER_PREFIXES:
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items()}
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    problems = [f"missing {k} {list(s)}" for k, s in expected.items() if k not in state]
    problems += [f"unexpected {k}" for k in state if k not in expected]
    problems += [
        f"{k}: expected {list(s)}, got {list(state[k].shape)}"
        for k, s in expected.items()
        if k in state and tuple(state[k].shape) != s
    ]
    if problems:
        more = f"; ... and {len(problems) - 6} more" if len(problems) > 6 else ""
        raise ModelDirError(
            f"{label}: the weights do not fit config {config.name} ({len(problems)} "
            f"problem(s)): {'; '.join(problems[:6])}{more}"
        )
    state = {k: v.to(torch.float32) for k, v in state.items()}
    model.load_state_dict(state, strict=True, assign=True)  # requires_grad kept from model
    return model


def _load_folder(path: Path) -> tuple[MusicVAE, Config]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not (path / CONFIG).is_file():
        raise ModelDirError(f"{path} has {WEIGHTS} but no {CONFIG}")
    try:
        config = Config.from_dict(json.loads((path / CONFIG).read_text()))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ModelDirError(f"{path / CONFIG}: not a musicvae config ({e})") from None
    try:
        state = load_file(str(path / WEIGHTS), device="cpu")
    except (OSError, SafetensorError) as e:
        raise ModelDirError(f"cannot read {path / WEIGHTS}: {e}") from None
    return model_from_state(state, config, str(path / WEIGHTS)), config


def _load_training(path: Path) -> tuple[MusicVAE, Config]:
    try:
        state = load_checkpoint(path)
    except CheckpointError as e:
        raise ModelDirError(str(e)) from None
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise ModelDirError(f"{path}: not a musicvae training checkpoint (no model/config)")
    config = Config.from_dict(state["config"])
    return model_from_state(state["model"], config, str(path)), config


def load_model_dir(path: str | Path, device: str | torch.device = "cpu") -> tuple[MusicVAE, Config]:
    """A model folder, a training run folder or its checkpoint.pt -> (model in eval mode on
    `device`, config)."""
    path = Path(path)
    if not path.exists():
        raise ModelDirError(f"no model at {path}")
    if path.is_file() and path.name == WEIGHTS:
        path = path.parent
    if path.is_file() and path.suffix == ".pt":
        model, config = _load_training(path)
    elif path.is_dir() and (path / WEIGHTS).is_file():
        model, config = _load_folder(path)
    elif path.is_dir() and (path / CHECKPOINT).is_file():
        model, config = _load_training(path / CHECKPOINT)
    else:
        magenta = path.is_dir() and (
            any(path.glob("*.index")) or (path / "weights_manifest.json").is_file()
        )
        hint = (
            f"; it is a Magenta checkpoint: convert it first with `musicvae import-magenta "
            f"{path} --config NAME --output MODEL_DIR`"
            if magenta
            else ""
        )
        raise ModelDirError(
            f"{path} is neither a model folder ({WEIGHTS} + {CONFIG}) nor a training run "
            f"({CHECKPOINT}){hint}"
        )
    return model.to(device).eval(), config
