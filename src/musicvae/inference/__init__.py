"""Inference: model folders, TrainedModel (Magenta's generation API, batch-size free), latent
interpolation, melody attribute vectors, and the generation commands as library functions
(`musicvae.inference.generate`: sample, interpolate, reconstruct, encode, attributes)."""

from musicvae.inference.inputs import MultipleExtractedExamplesError, NoExtractedExamplesError
from musicvae.inference.latent import lerp, slerp
from musicvae.inference.model_dir import ModelDirError, load_model_dir, save_model_dir
from musicvae.inference.trained_model import TrainedModel

__all__ = [
    "ModelDirError",
    "MultipleExtractedExamplesError",
    "NoExtractedExamplesError",
    "TrainedModel",
    "lerp",
    "load_model_dir",
    "save_model_dir",
    "slerp",
]
