"""Evaluation: reconstruction (the paper's Table 1), prior realism, interpolation, attribute
vectors, the report and the model card. `evaluate` runs them all."""

from musicvae.evaluation.evaluate import EvaluationResult, evaluate
from musicvae.evaluation.windows import EvaluationError, EvalWindows, load_windows

__all__ = ["EvalWindows", "EvaluationError", "EvaluationResult", "evaluate", "load_windows"]
