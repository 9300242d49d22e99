"""musicvae: MusicVAE in PyTorch, faithful to Magenta's converters, models and checkpoints.

    import musicvae
    model = musicvae.load("folk-mel_2bar")  # a bundled model (or a model folder / run)
    tunes = model.sample(4, temperature=0.5, seed=1)

`musicvae.TrainedModel` and `musicvae.load` are imported on first use, so `import musicvae`
(and the light commands) stay free of torch.
"""

from __future__ import annotations

__version__ = "0.1.0"


def load(
    model: str = "folk-mel_2bar",
    device: str = "cpu",
    any_program: bool = False,
    precision: str = "fp32",
):
    """A TrainedModel: a bundled model by name ("folk-mel_2bar", "folk-mel_16bar"), else a
    model folder or a training run folder; precision "fp32" (exact) or "bf16" (see
    TrainedModel)."""
    from musicvae.inference.trained_model import TrainedModel

    return TrainedModel.load(model, device, any_program=any_program, precision=precision)


def __getattr__(name: str):
    if name == "TrainedModel":
        from musicvae.inference.trained_model import TrainedModel

        return TrainedModel
    raise AttributeError(f"module 'musicvae' has no attribute {name!r}")


__all__ = ["TrainedModel", "__version__", "load"]
