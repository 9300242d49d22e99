"""`musicvae import-magenta`: a Magenta checkpoint -> a verified model folder.

A source is a TF checkpoint (prefix `model.ckpt-N`, its `.index`, a folder or a `.tar` holding
one) or a magenta.js folder (`weights_manifest.json` + shards, maybe `config.json`). Layer sizes
and z size come from the checkpoint's shapes; the config name gives the structure.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import torch

from musicvae.checkpoints.magenta import (
    SKIPPED,
    check_supported,
    config_for_checkpoint,
    fitting_configs,
    import_magenta_variables,
    infer_hparams,
    magenta_variable_shapes,
)
from musicvae.checkpoints.magenta_js import MANIFEST, apply_spec, read_magenta_js, spec_kind
from musicvae.checkpoints.tf_checkpoint import read_tf_checkpoint, resolve_prefix
from musicvae.configs import Config, HParams, get_config
from musicvae.errors import CheckpointError
from musicvae.inference.model_dir import WEIGHTS, parameter_count, save_model_dir
from musicvae.models.vae import MusicVAE

log = logging.getLogger(__name__)


@dataclasses.dataclass
class CheckpointSource:
    """What a source holds: its variables and, for magenta.js, its spec (config.json)."""

    kind: str  # "tf" or "magenta-js"
    location: str
    variables: dict[str, np.ndarray]
    spec: dict | None = None


# ---------------------------------------------------------------- sources


def _find_checkpoint(root: Path, label: str) -> Path:
    """The one checkpoint (a *.index or a weights_manifest.json folder) under `root`."""
    found = [p.parent for p in sorted(root.rglob(MANIFEST))] + sorted(root.rglob("*.index"))
    if len(found) == 1:
        return found[0]
    if not found:
        raise CheckpointError(f"{label}: no checkpoint inside (no *.index, no {MANIFEST})")
    names = ", ".join(str(p.relative_to(root)) for p in found[:6])
    raise CheckpointError(f"{label}: holds {len(found)} checkpoints ({names}); name one of them")


def _extract_safely(tar: tarfile.TarFile, folder: str) -> None:
    """Extract regular files and folders only, never outside `folder`."""
    if hasattr(tarfile, "data_filter"):  # Python >= 3.10.12 / 3.11.4
        tar.extractall(folder, filter="data")
        return
    members = [m for m in tar.getmembers() if m.isfile() or m.isdir()]
    for member in members:
        if Path(member.name).is_absolute() or ".." in Path(member.name).parts:
            raise CheckpointError(f"{tar.name}: unsafe path {member.name!r} in the archive")
    tar.extractall(folder, members=members)


def _read_tar(path: Path, verify: bool) -> CheckpointSource:
    with tempfile.TemporaryDirectory(prefix="musicvae-import-") as tmp:
        try:
            with tarfile.open(path) as tar:
                _extract_safely(tar, tmp)
        except (tarfile.TarError, EOFError, OSError) as e:
            raise CheckpointError(f"cannot extract {path}: {e}") from None
        inner = _find_checkpoint(Path(tmp), str(path))
        source = read_source(inner, verify)
        source.location = f"{path}:{inner.relative_to(tmp)}"
        return source


def read_source(source: str | Path, verify: bool = True) -> CheckpointSource:
    """Read every variable of a TF checkpoint (prefix, .index, folder, .tar) or a magenta.js
    folder; `verify` checks TF crc32c checksums."""
    path = Path(source)
    if path.is_file() and path.name == MANIFEST:
        path = path.parent
    if re.search(r"\.(data-\d+-of-\d+|meta)$", path.name):  # a file of the checkpoint
        path = path.with_name(re.sub(r"\.(data-\d+-of-\d+|meta)$", "", path.name))
    if path.is_file() and tarfile.is_tarfile(path):
        return _read_tar(path, verify)
    if path.is_dir():
        if (path / MANIFEST).is_file():
            variables, spec = read_magenta_js(path)
            return CheckpointSource("magenta-js", str(path), variables, spec)
        if not (path / "checkpoint").is_file() and not any(path.glob("*.index")):
            path = _find_checkpoint(path, str(path))
            return read_source(path, verify)
    elif not path.exists() and not path.with_name(path.name + ".index").exists():
        raise CheckpointError(
            f"{source} does not exist (expected a checkpoint prefix, folder, "
            f".tar or magenta.js folder)"
        )
    prefix = resolve_prefix(path)
    return CheckpointSource("tf", str(prefix), read_tf_checkpoint(prefix, verify=verify))


# ---------------------------------------------------------------- choosing the config


def _choose_config(source: CheckpointSource, hparams: str) -> tuple[Config, str]:
    """The config of a source given without --config: our own export's, or the registered
    config that fits the magenta.js spec and the weights."""
    spec = source.spec or {}
    if "musicvae" in spec:
        try:
            config = Config.from_dict(spec["musicvae"]["config"])
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"{source.location}: unreadable musicvae config ({e})") from None
        if hparams:
            config = dataclasses.replace(
                config, hparams=config.hparams.override(**HParams.parse(hparams))
            )
        return config, "config.json of a musicvae export"
    fits = fitting_configs(source.variables)
    if not spec:
        hint = f"configs that fit: {', '.join(fits)}" if fits else "no registered config fits"
        raise CheckpointError(
            f"{source.location}: pass --config NAME (the checkpoint does not say which data "
            f"it models); {hint}"
        )
    kind = spec_kind(spec)
    hierarchical = "numSegments" in (spec["dataConverter"].get("args") or {})
    fits = [
        n
        for n in fits
        if get_config(n).data.kind == kind and bool(get_config(n).level_lengths) == hierarchical
    ]
    if not fits:
        raise CheckpointError(f"{source.location}: no registered {kind} config fits its weights")
    sizes = infer_hparams(source.variables)
    exact = [
        n for n in fits if all(getattr(get_config(n).hparams, k) == v for k, v in sizes.items())
    ]
    name = (exact or fits)[0]
    return config_for_checkpoint(
        source.variables, name, hparams
    ), f"config.json and shapes (fitting: {', '.join(fits)})"


# ---------------------------------------------------------------- import


def verify_model(model: MusicVAE, config: Config, seed: int = 0) -> dict[str, float]:
    """Run one random sequence through the encoder and the teacher-forced decoder; every
    number must be finite (and sigma positive). Returns a few magnitudes for the report."""
    g = torch.Generator().manual_seed(seed)
    steps = config.hparams.max_seq_len
    in_depth = model.encoder.layers[0].input_size
    inputs = torch.eye(in_depth)[torch.randint(in_depth, (1, steps), generator=g)]  # (1, T, D)
    outputs = torch.cat(
        [torch.eye(d)[torch.randint(d, (1, steps), generator=g)] for d in model.depths], -1
    )  # (1, T, D_out)
    with torch.inference_mode():
        mu, sigma = model.encode(inputs, torch.tensor([steps]))
        logits = model.teacher_forced_logits(outputs, mu)
    checks = {"mu": mu, "sigma": sigma, "logits": logits}
    bad = [k for k, v in checks.items() if not torch.isfinite(v).all()]
    if bad or not (sigma > 0).all():
        raise CheckpointError(f"the imported model computes non-finite or invalid {bad or 'sigma'}")
    return {f"max_abs_{k}": float(v.abs().max()) for k, v in checks.items()}


def import_checkpoint(
    source: str | Path, config: str | None = None, hparams: str = "", verify: bool = True
) -> tuple[MusicVAE, Config, dict]:
    """A Magenta TF or magenta.js checkpoint -> (model, config, report). `config` may be
    omitted for magenta.js folders (their config.json and weights choose it)."""
    src = read_source(source, verify)
    check_supported(src.variables)
    if config is None:
        chosen, config_from = _choose_config(src, hparams)
    else:
        chosen, config_from = config_for_checkpoint(src.variables, config, hparams), "--config"
    chosen, notes = apply_spec(src.spec, chosen)
    model, chosen = import_magenta_variables(src.variables, chosen)
    consumed = magenta_variable_shapes(model)
    skipped = sorted(n for n in src.variables if n not in consumed and SKIPPED.match(n))
    hp = chosen.hparams
    report = {
        "source": src.location,
        "kind": src.kind,
        "config": chosen.name,
        "config_from": config_from,
        "sizes": {
            "enc_rnn_size": list(hp.enc_rnn_size),
            "dec_rnn_size": list(hp.dec_rnn_size),
            "z_size": hp.z_size,
        },
        "variables": len(consumed),
        "skipped": skipped,
        "notes": notes,
        "parameters": parameter_count(model),
    }
    return model, chosen, report


def import_magenta(
    source: str | Path,
    output: str | Path,
    config: str | None = None,
    hparams: str = "",
    overwrite: bool = False,
    fp16: bool = False,
) -> dict:
    """Import, verify on a random batch, and save a model folder; returns the report."""
    from musicvae.outputs import output_folder

    output = Path(output)
    if (output / WEIGHTS).exists() and not overwrite:
        raise CheckpointError(
            f"{output} already holds a model; pass --overwrite to replace it, or choose another "
            "--output"
        )
    with output_folder(output, overwrite=overwrite, command="import-magenta", ours=(WEIGHTS,)):
        model, chosen, report = import_checkpoint(source, config, hparams)
        report["verification"] = verify_model(model, chosen)
        card = {"imported_from": {k: v for k, v in report.items() if k != "parameters"}}
        save_model_dir(model, chosen, output, card, torch.float16 if fp16 else torch.float32)
    report["output"] = str(output)
    log.info("imported %s as %s into %s", report["source"], chosen.name, output)
    return report
