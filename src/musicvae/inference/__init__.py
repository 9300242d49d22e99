"""Inference: model folders and TrainedModel (Magenta's generation API, batch-size free)."""

from musicvae.inference.model_dir import ModelDirError, load_model_dir, save_model_dir
from musicvae.inference.trained_model import TrainedModel

__all__ = ["ModelDirError", "TrainedModel", "load_model_dir", "save_model_dir"]
