"""The model, attribute vectors and tunes that ship inside the package (src/musicvae/assets)."""

from __future__ import annotations

import os
from pathlib import Path

ASSETS = Path(__file__).resolve().parents[1] / "assets"
BUNDLED_MODEL = "folk-mel_2bar"  # the default of every command that takes --model
BUNDLED_16BAR = "folk-mel_16bar"  # the hierarchical 16-bar melody model (docs/REPRODUCTION.md)
BUNDLED_MODELS = (BUNDLED_MODEL, BUNDLED_16BAR)


class BundledAssetError(FileNotFoundError):
    """The package was installed without its assets."""


def _asset(*parts: str) -> Path:
    path = ASSETS.joinpath(*parts)
    if not path.exists():
        raise BundledAssetError(
            f"{path} is missing: this musicvae installation lacks its bundled assets; "
            "reinstall it, or pass --model MODEL_DIR"
        )
    return path


def bundled_model_dir(name: str = BUNDLED_MODEL) -> Path:
    """A bundled model's folder (default: the 2-bar folk melody model; see its card.json)."""
    if name not in BUNDLED_MODELS:
        raise ValueError(f"no bundled model {name!r}; bundled: {', '.join(BUNDLED_MODELS)}")
    return _asset("models", name)


def model_location(model: str | os.PathLike | None) -> Path:
    """Where a `--model` value points: None -> the default bundled model; a bundled model's
    name (folk-mel_2bar, folk-mel_16bar) -> its folder, unless a path of that name exists;
    anything else -> that path (a model folder or a training run)."""
    if model is None:
        return bundled_model_dir()
    path = Path(os.fspath(model))
    if str(model) in BUNDLED_MODELS and not path.exists():
        return bundled_model_dir(str(model))
    return path


def bundled_name(path: str | os.PathLike | None) -> str | None:
    """The bundled model's name when `path` is one of their folders, else None."""
    if path is None:
        return None
    resolved = Path(os.fspath(path)).resolve()
    for name in BUNDLED_MODELS:
        if resolved == (ASSETS / "models" / name).resolve():
            return name
    return None


def bundled_names() -> list[str]:
    """The bundled models this installation holds (weights present), in BUNDLED_MODELS order."""
    return [p.name for p in bundled_model_dirs() if p.name in BUNDLED_MODELS]


def bundled_model_dirs() -> list[Path]:
    """Every model folder under assets/models: BUNDLED_MODELS first, in their order (the
    default model first), then any other, sorted; the Studio serves them all."""
    from musicvae.inference.model_dir import WEIGHTS

    root = ASSETS / "models"
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if (p / WEIGHTS).is_file()]
    rank = {name: k for k, name in enumerate(BUNDLED_MODELS)}
    return sorted(found, key=lambda p: (rank.get(p.name, len(rank)), p.name))


def bundled_tunes() -> tuple[Path, Path]:
    """Two folk tunes for the demo's interpolation."""
    return (
        _asset("tunes", "airds_book2_0108_X0309.mid"),
        _asset("tunes", "airds_book3_0134_X0535.mid"),
    )
