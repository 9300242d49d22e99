"""The evaluation's PNG plots (matplotlib, Agg backend; imported only when plotting)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from musicvae.inference.attributes import events_from_classes
from musicvae.music.drums import NUM_DRUM_CLASSES


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed), imported on first use."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path, dpi: int = 90) -> Path:
    """Lays out, writes and closes a figure -> path."""
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    pyplot().close(fig)
    return path


def feature_histograms(
    data_feats: dict[str, np.ndarray], sample_feats: dict[str, dict[str, np.ndarray]], path: Path
) -> Path:
    """One panel per feature: the data's histogram against each temperature's samples."""
    plt = pyplot()
    names = list(data_feats)
    cols = min(3, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.8 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        series = {"held-out data": data_feats[name]}
        series.update({f"T={t}": f[name] for t, f in sample_feats.items()})
        pooled = np.concatenate(list(series.values()))
        edges = np.histogram_bin_edges(pooled, bins=30) if np.ptp(pooled) else 3
        for label, values in series.items():
            ax.hist(values, bins=edges, density=True, histtype="step", label=label, lw=1.4)
        ax.set_title(name, fontsize=10)
    for ax in axes.flat[len(names) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    return save_figure(fig, path)


def interpolation_curves(result: dict, path: Path) -> Path:
    """Hamming distance to A (normalised by d(A, B)) along alpha: latent vs data space."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.4))
    for name, style in (("latent", "o-"), ("data", "s--")):
        if name in result:
            ax.plot(result["alphas"], result[name]["hamming_to_start"], style, label=name)
    ax.set_xlabel("alpha")
    ax.set_ylabel("Hamming distance to A / d(A, B)")
    ax.set_title(f"interpolation, {result.get('pairs', 0)} held-out pairs")
    ax.legend()
    return save_figure(fig, path)


def attribute_heatmap(result: dict, path: Path) -> Path:
    """The attribute matrix (rows: vector applied, columns: attribute measured), in percent."""
    plt = pyplot()
    names = result["attributes"]
    matrix = np.clip(np.asarray(result["matrix"], np.float64) * 100, -999, 999)
    fig, ax = plt.subplots(figsize=(1.3 * len(names) + 2, 1.0 * len(names) + 1.5))
    limit = max(float(np.abs(matrix).max(initial=0)), 1.0)
    image = ax.imshow(matrix, cmap="RdBu_r", vmin=-limit, vmax=limit)
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), [f"+ {n}" for n in names], fontsize=8)
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(j, i, f"{matrix[i, j]:.0f}%", ha="center", va="center", fontsize=8)
    ax.set_xlabel("attribute measured")
    ax.set_title("relative change when adding each attribute vector")
    fig.colorbar(image, ax=ax, label="%")
    return save_figure(fig, path)


def _roll(ax, classes: np.ndarray, kind: str, min_pitch: int) -> None:
    """One window's first stream as a piano roll on `ax`."""
    if kind == "drums":
        bits = (classes[:, None].astype(np.int64) >> np.arange(NUM_DRUM_CLASSES)) & 1
        ax.imshow(bits.T, aspect="auto", origin="lower", cmap="Greys", interpolation="nearest")
        return
    events = events_from_classes(classes[None], min_pitch)[0]  # (T,)
    changes = np.flatnonzero(events != -2)  # onsets and note-offs
    onsets = np.flatnonzero(events >= 0)
    ends = np.append(changes, len(events))[np.searchsorted(changes, onsets, side="right")]
    ax.hlines(events[onsets], onsets, ends, colors="tab:blue", lw=2.5)  # one call per roll
    ax.plot(onsets, events[onsets], "k|", ms=4)
    ax.set_xlim(0, len(classes))
    ax.set_ylim(min_pitch, min_pitch + 88)


def sample_rolls(rows: dict[str, np.ndarray], kind: str, min_pitch: int, path: Path) -> Path:
    """rows {label: tokens (K, T, S)}: one line of piano rolls (first stream) per label."""
    plt = pyplot()
    width = max(len(v) for v in rows.values())
    fig, axes = plt.subplots(
        len(rows), width, figsize=(1.9 * width, 1.7 * len(rows)), squeeze=False
    )
    for r, (label, tokens) in enumerate(rows.items()):
        for c in range(width):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(tokens):
                _roll(ax, np.asarray(tokens[c])[:, 0], kind, min_pitch)
        axes[r, 0].set_ylabel(label, fontsize=8)
    return save_figure(fig, path)
