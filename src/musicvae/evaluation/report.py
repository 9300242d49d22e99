"""metrics.json -> report.md (also the model card's quality section) and the CLI's short table."""

from __future__ import annotations


def _f(value, digits: int = 4) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def reconstruction_table(rec: dict) -> list[str]:
    keys = ("teacher_forced_accuracy", "sampled_accuracy", "argmax_accuracy", "r_loss")
    lines = [
        "| stream | teacher-forced acc. | sampled acc. (T=1) | argmax acc. | r_loss |",
        "|---|---|---|---|---|",
    ]
    for name, values in rec["streams"].items():
        lines.append(f"| {name} | " + " | ".join(_f(values[k]) for k in keys) + " |")
    if len(rec["streams"]) > 1:
        lines.append("| **overall** | " + " | ".join(_f(rec[k]) for k in keys) + " |")
    lines += [
        "",
        f"KL {_f(rec['kl'], 2)} nats per window, r_loss {_f(rec['r_loss'], 3)} nats, "
        f"ELBO {_f(rec['elbo'], 2)} nats (z = mu; means over {rec['windows']} windows).",
    ]
    return lines


def realism_table(real: dict) -> list[str]:
    data = real["data"]
    names = list(data["features"])
    temps = real["temperatures"]
    lines = [
        "| | degenerate | " + " | ".join(names) + " | mean overlap |",
        "|---" * (len(names) + 3) + "|",
        f"| held-out data ({data['windows']}) | {_pct(data['degenerate_rate'])} | "
        + " | ".join(_f(data["features"][k], 2) for k in names)
        + " | 1 |",
    ]
    for t, e in temps.items():
        label = "argmax" if float(t) == 0 else f"T={t}"
        cells = [f"{_f(e['features'][k], 2)} ({_f(e['overlap'][k], 2)})" for k in names]
        lines.append(
            f"| {label} | {_pct(e['degenerate_rate'])} | "
            + " | ".join(cells)
            + f" | {_f(e['mean_overlap'], 3)} |"
        )
    rec = real["recommended_temperature"]
    lines += [
        "",
        "Cells: mean feature value (overlap with the held-out distribution, 1 = identical).",
        f"Recommended temperature: **{rec['value']:g}** "
        f"({'passes' if rec['passes'] else 'no temperature passes; best available'}): "
        f"{rec['rule']}.",
    ]
    return lines


def interpolation_table(interp: dict) -> list[str]:
    if not interp.get("pairs"):
        return ["No pair of distinct windows to interpolate."]
    alphas = interp["alphas"]
    lines = [
        "| alpha | " + " | ".join(f"{a:.1f}" for a in alphas) + " |",
        "|---" * (len(alphas) + 1) + "|",
    ]
    for name in ("latent", "data"):
        values = interp[name]["hamming_to_start"]
        lines.append(f"| {name} | " + " | ".join(f"{v:.3f}" for v in values) + " |")
    lines += [
        "",
        "| middle point (alpha 0.5) | degenerate | mean overlap with data |",
        "|---|---|---|",
    ]
    for name in ("latent", "data"):
        m = interp[name]["middle"]
        lines.append(f"| {name} | {_pct(m['degenerate_rate'])} | {_f(m['mean_overlap'], 3)} |")
    return lines


def attributes_table(attrs: dict) -> list[str]:
    if "matrix" not in attrs:
        return [attrs.get("skipped", "skipped")]
    names = attrs["attributes"]
    lines = ["| vector added | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for name, row in zip(names, attrs["matrix"], strict=True):
        lines.append(f"| {name} | " + " | ".join(_pct(v) for v in row) + " |")
    lines += [
        "",
        f"Relative change of each attribute (columns) when adding each vector (rows) to "
        f"{attrs['windows']} held-out codes, argmax decoding; vectors: {attrs['vectors']}.",
    ]
    return lines


def quality_sections(metrics: dict, level: str = "##") -> list[str]:
    """The four sections as Markdown lines."""
    real = metrics["realism"]
    return [
        f"{level} Reconstruction (the paper's Table 1)",
        "",
        *reconstruction_table(metrics["reconstruction"]),
        "",
        f"{level} Prior realism ({real['samples']} codes z ~ N(0, I) per temperature)",
        "",
        *realism_table(real),
        "",
        "Degenerate: no note, or >= 28 onsets per 2 bars with a range >= 48 semitones "
        "(drums: no hit).",
        "",
        f"{level} Interpolation (the paper's section 5.2): Hamming distance to A / d(A, B), "
        f"{metrics['interpolation'].get('pairs', 0)} held-out pairs",
        "",
        *interpolation_table(metrics["interpolation"]),
        "",
        f"{level} Attribute vectors (the paper's section 5.3, Figure 6)",
        "",
        *attributes_table(metrics["attributes"]),
        "",
    ]


def markdown(metrics: dict, plot_files: list[str]) -> str:
    """report.md: what was evaluated, the four sections and the plots."""
    lines = [
        f"# Evaluation of {metrics['model']} ({metrics['config']})",
        "",
        f"Data: {metrics['data']}; seed {metrics['seed']}; musicvae {metrics['musicvae_version']}.",
        "",
        *quality_sections(metrics),
    ]
    if plot_files:
        lines += ["## Plots", ""] + [f"![{p}]({p})" for p in plot_files] + [""]
    return "\n".join(lines)


def summary_lines(metrics: dict) -> list[str]:
    """The CLI's short table."""
    rec = metrics["reconstruction"]
    real = metrics["realism"]
    data = real["data"]
    crit = real["criteria"]["features"]
    lines = [
        f"{metrics['config']} on {rec['windows']} windows ({metrics['data']})",
        f"reconstruction: teacher-forced {_f(rec['teacher_forced_accuracy'])}  sampled "
        f"{_f(rec['sampled_accuracy'])}  argmax {_f(rec['argmax_accuracy'])}  r_loss "
        f"{_f(rec['r_loss'], 3)}  kl {_f(rec['kl'], 2)}  elbo {_f(rec['elbo'], 2)}",
        f"prior ({real['samples']} samples)  degenerate  "
        + "  ".join(f"{c:>12s}" for c in crit)
        + "  mean overlap",
        f"  {'held-out data':21s} {_pct(data['degenerate_rate']):>9s}  "
        + "  ".join(f"{data['features'][c]:12.2f}" for c in crit),
    ]
    for t, e in real["temperatures"].items():
        if float(t) in (0.0, 0.5, 1.0) or t == f"{real['recommended_temperature']['value']:g}":
            label = "argmax" if float(t) == 0 else f"T={t}"
            lines.append(
                f"  {label:21s} {_pct(e['degenerate_rate']):>9s}  "
                + "  ".join(f"{e['features'][c]:12.2f}" for c in crit)
                + f"  {e['mean_overlap']:12.3f}"
            )
    r = real["recommended_temperature"]
    lines.append(
        f"recommended temperature: {r['value']:g}"
        + ("" if r["passes"] else " (no temperature meets the bar; the best available)")
    )
    interp = metrics["interpolation"]
    if interp.get("pairs"):
        mid = len(interp["alphas"]) // 2
        lines.append(
            f"interpolation ({interp['pairs']} pairs): distance to A at alpha 0.5 latent "
            f"{interp['latent']['hamming_to_start'][mid]:.3f} / data "
            f"{interp['data']['hamming_to_start'][mid]:.3f}; middle points degenerate latent "
            f"{_pct(interp['latent']['middle']['degenerate_rate'])} / data "
            f"{_pct(interp['data']['middle']['degenerate_rate'])}"
        )
    return lines
