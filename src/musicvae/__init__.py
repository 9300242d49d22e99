"""musicvae: MusicVAE in PyTorch, faithful to Magenta's converters, models and checkpoints."""

__version__ = "0.1.0"
