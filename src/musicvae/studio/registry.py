"""The models a Studio serves: the bundled ones plus any folder given on the command line,
each loaded once, with its card, its attribute vectors (when it has them) and a lock that
serializes its inference (one request at a time per model, any number of models in parallel).

The page names a model by its id only; no client string ever becomes a path.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

from musicvae.inference.attributes import vectors_beside
from musicvae.inference.bundled import bundled_model_dirs
from musicvae.inference.model_dir import read_card
from musicvae.inference.trained_model import TrainedModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelEntry:
    """One served model: its id, where it came from, the TrainedModel and its lock."""

    id: str
    path: Path
    source: str  # "bundled" or "folder"
    model: TrainedModel
    card: dict
    lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    @property
    def kind(self) -> str:
        return self.model.config.data.kind

    def info(self) -> dict:
        """What the Models view shows: sizes, what it can do, and its card."""
        config = self.model.config
        return {
            "id": self.id,
            "name": self.card.get("name", self.id),
            "source": self.source,
            "path": self.path.name if self.source == "bundled" else str(self.path),
            "config": config.name,
            "kind": self.kind,
            "bars": config.data.slice_bars,
            "steps": self.model.max_seq_len,
            "steps_per_quarter": config.data.steps_per_quarter,
            "z_size": self.model.z_size,
            "hierarchical": bool(config.level_lengths),
            "attributes": sorted(self.model.attribute_vectors),
            # the Generate view's starting temperature: the card's recommended one (0 = argmax)
            "temperature": self.model.sampling_temperature("card") or 0.0,
            "card": self.card,
        }


class ModelRegistry:
    """Models by id, in the order they were added; the first one is the default."""

    def __init__(self, device: str = "cpu"):
        self.device = device
        self._entries: dict[str, ModelEntry] = {}

    @classmethod
    def from_paths(
        cls, paths=(), include_bundled: bool = True, device: str = "cpu"
    ) -> ModelRegistry:
        """Folders given by the user first (the first is the default), then the bundled ones."""
        registry = cls(device)
        for path in paths:
            registry.add(path, "folder")
        if include_bundled:
            for path in bundled_model_dirs():
                registry.add(path, "bundled")
        if not registry._entries:
            raise ValueError("no model to serve: pass --model MODEL_DIR")
        return registry

    def _new_id(self, path: Path) -> str:
        base = re.sub(r"[^A-Za-z0-9_.-]+", "-", path.stem if path.is_file() else path.name)
        base = base.strip("-.") or "model"
        name, k = base, 2
        while name in self._entries:
            name, k = f"{base}-{k}", k + 1
        return name

    def add(self, path, source: str = "folder") -> ModelEntry:
        """Load a model folder or training run (ModelDirError, a ValueError, when it is not)."""
        path = Path(path).expanduser().resolve()
        model = TrainedModel.load(path, device=self.device)
        folder = path if path.is_dir() else path.parent
        vectors = vectors_beside(folder)
        if model.config.data.kind == "melody" and vectors is not None:
            model.load_attribute_vectors(vectors)
        entry = ModelEntry(self._new_id(path), path, source, model, read_card(folder))
        self._entries[entry.id] = entry
        log.info("studio: model %s (%s) from %s", entry.id, model.config.name, path)
        return entry

    def get(self, model_id: str | None) -> ModelEntry:
        """The entry for an id (None = the default); KeyError names the known ids."""
        if model_id is None:
            return self.default
        if model_id not in self._entries:
            raise KeyError(f"no model {model_id!r}; known: {', '.join(self._entries)}")
        return self._entries[model_id]

    @property
    def default(self) -> ModelEntry:
        return next(iter(self._entries.values()))

    def entries(self) -> list[ModelEntry]:
        return list(self._entries.values())
