"""The model, attribute vectors and tunes that ship inside the package (src/musicvae/assets)."""

from __future__ import annotations

from pathlib import Path

ASSETS = Path(__file__).resolve().parents[1] / "assets"
BUNDLED_MODEL = "folk-mel_2bar"


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


def bundled_model_dir() -> Path:
    """The bundled 2-bar melody model trained on the folk corpus (see its card.json)."""
    return _asset("models", BUNDLED_MODEL)


def bundled_model_dirs() -> list[Path]:
    """Every model folder under assets/models, sorted (the list grows with new bundles); the
    Studio serves them all."""
    from musicvae.inference.model_dir import WEIGHTS

    root = ASSETS / "models"
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if (p / WEIGHTS).is_file())


def bundled_vectors() -> Path:
    """Attribute vectors computed for the bundled model."""
    from musicvae.inference.attributes import VECTORS_FILE

    return _asset("models", BUNDLED_MODEL, VECTORS_FILE)


def bundled_tunes() -> tuple[Path, Path]:
    """Two folk tunes for the demo's interpolation."""
    return (
        _asset("tunes", "airds_book2_0108_X0309.mid"),
        _asset("tunes", "airds_book3_0134_X0535.mid"),
    )
