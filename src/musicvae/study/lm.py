"""An independent melody language model for the interpolation study (the paper's section 5.2
scores interpolations by their log-likelihood under a separately trained language model).

A small LSTM over the same 90 melody classes, trained by next-class prediction on the training
split only. It shares no code or weights with the VAE: torch's nn.LSTM, its own embedding.
`log_likelihood(lm, classes)` gives the log-probability of each whole window in nats.
Training is resumable: `lm.pt` holds weights, optimizer, step and sizes.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from musicvae.files import atomic_write
from musicvae.inference.attributes import classes_of

log = logging.getLogger(__name__)

LM_FILE = "lm.pt"


@dataclass(frozen=True)
class LMConfig:
    depth: int = 90  # melody classes; index `depth` is the start token
    # Small enough to train a few thousand steps on one CPU core beside the VAEs.
    embed: int = 32
    hidden: int = 128
    layers: int = 1


class MelodyLM(nn.Module):
    """p(x_t | x_<t) over melody classes: embedding -> LSTM -> linear."""

    def __init__(self, config: LMConfig):
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.depth + 1, config.embed)
        self.lstm = nn.LSTM(config.embed, config.hidden, config.layers, batch_first=True)
        self.out = nn.Linear(config.hidden, config.depth)

    def forward(self, classes: torch.Tensor) -> torch.Tensor:
        """classes (B, T) int64 -> logits (B, T, depth) of each step given the steps before."""
        start = torch.full_like(classes[:, :1], self.config.depth)  # (B, 1) start token
        x = self.embed(torch.cat([start, classes[:, :-1]], dim=1))  # (B, T, E)
        h, _ = self.lstm(x)  # (B, T, H)
        return self.out(h)

    def nll(self, classes: torch.Tensor) -> torch.Tensor:
        """Summed negative log-likelihood per window in nats: (B, T) -> (B,)."""
        logits = self(classes)  # (B, T, D)
        ce = F.cross_entropy(logits.transpose(1, 2), classes, reduction="none")  # (B, T)
        return ce.sum(-1)


@torch.no_grad()
def log_likelihood(lm: MelodyLM, sequences, batch: int = 256) -> np.ndarray:
    """Per-window log-likelihood in nats: sequences ((N, T) classes, (N, T, 1) tokens or
    (N, T, 90) one-hot) -> (N,) float64 (sum over the T steps)."""
    classes = torch.from_numpy(classes_of(sequences))  # (N, T)
    if classes.numel() and (classes.min() < 0 or classes.max() >= lm.config.depth):
        raise ValueError(f"melody classes must be in 0..{lm.config.depth - 1}")
    lm.eval()
    parts = [-lm.nll(classes[i : i + batch]).double() for i in range(0, len(classes), batch)]
    return torch.cat(parts).numpy() if parts else np.zeros(0)


def _save(path: Path, lm: MelodyLM, optimizer, step: int, extra: dict) -> None:
    state = {
        "model": lm.state_dict(),
        "optimizer": optimizer.state_dict(),
        "step": step,
        "config": asdict(lm.config),
        **extra,
    }
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_lm(path: str | Path) -> MelodyLM:
    """A MelodyLM from `lm.pt` (or the folder holding it)."""
    path = Path(path)
    path = path / LM_FILE if path.is_dir() else path
    state = torch.load(path, map_location="cpu", weights_only=False)
    lm = MelodyLM(LMConfig(**state["config"]))
    lm.load_state_dict(state["model"])
    return lm.eval()


def trained_steps(folder: str | Path) -> int:
    """Steps the LM in `folder` has been trained (0 if none)."""
    path = Path(folder) / LM_FILE
    if not path.exists():
        return 0
    return int(torch.load(path, map_location="cpu", weights_only=False)["step"])


def train_lm(
    train_classes,
    folder: str | Path,
    steps: int,
    batch: int = 64,
    config: LMConfig = LMConfig(),
    learning_rate: float = 1e-3,
    seed: int = 0,
    checkpoint_every: int = 100,
    eval_classes=None,
) -> MelodyLM:
    """Trains (or resumes) the LM on (N, T) training windows to `steps` steps of Adam with
    gradient clipping at 1.0; batches are seeded by (seed, step), so a resumed run takes the
    same path. Writes lm.pt and lm_metrics.jsonl (train loss, and held-out nats per step when
    `eval_classes` are given) into `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = torch.from_numpy(classes_of(train_classes))  # (N, T)
    torch.manual_seed(seed)
    lm = MelodyLM(config)
    optimizer = torch.optim.Adam(lm.parameters(), lr=learning_rate)
    start = 0
    path = folder / LM_FILE
    if path.exists():
        state = torch.load(path, map_location="cpu", weights_only=False)
        if LMConfig(**state["config"]) != config:
            raise ValueError(f"{path} holds a language model of other sizes; delete it to retrain")
        lm.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start = int(state["step"])
    metrics = folder / "lm_metrics.jsonl"
    lm.train()
    for step in range(start, steps):
        rng = np.random.default_rng([seed, step])
        idx = torch.from_numpy(rng.integers(0, len(data), batch))
        loss = lm.nll(data[idx].long()).mean() / data.shape[1]  # nats per step
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(lm.parameters(), 1.0)
        optimizer.step()
        done = step + 1
        if done % checkpoint_every == 0 or done == steps:
            record = {"step": done, "train_nats_per_step": float(loss.detach())}
            if eval_classes is not None:
                held_out = log_likelihood(lm, eval_classes)
                record["eval_nats_per_step"] = float(-held_out.mean() / data.shape[1])
                lm.train()
            with open(metrics, "a") as f:
                f.write(json.dumps(record) + "\n")
            _save(path, lm, optimizer, done, {"seed": seed, "windows": int(len(data))})
            log.info("language model: step %d, %s", done, record)
    return lm.eval()
