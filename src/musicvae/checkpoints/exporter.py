"""`musicvae export-magenta-js`: a model folder (or training run) -> a magenta.js checkpoint
folder with Magenta's variable names, optionally quantized to 1 or 2 bytes per weight."""

from __future__ import annotations

import logging
from pathlib import Path

from musicvae.checkpoints.magenta import export_magenta_variables
from musicvae.checkpoints.magenta_js import (
    MANIFEST,
    magenta_js_limits,
    musicvae_spec,
    write_magenta_js,
)
from musicvae.errors import CheckpointError
from musicvae.inference.model_dir import load_model_dir

log = logging.getLogger(__name__)


def export_magenta_js(
    model_dir: str | Path, output: str | Path, quantize: int | None = None, overwrite: bool = False
) -> dict:
    """Write config.json, weights_manifest.json and shards; returns a report whose
    `warnings` say what magenta.js's MusicVAE loader cannot run of this model."""
    from musicvae.outputs import output_folder

    output = Path(output)
    if (output / MANIFEST).exists() and not overwrite:
        raise CheckpointError(
            f"{output} already holds a magenta.js checkpoint; pass --overwrite to replace it, "
            "or choose another --output"
        )
    model, config = load_model_dir(model_dir)
    with output_folder(output, overwrite=overwrite, command="export-magenta-js", ours=(MANIFEST,)):
        variables = export_magenta_variables(model)
        spec = musicvae_spec(config, config.to_dict())
        manifest = write_magenta_js(variables, output, spec, quantize)
    paths = [output / p for group in manifest for p in group["paths"]]
    report = {
        "output": str(output),
        "config": config.name,
        "variables": len(variables),
        "shards": len(paths),
        "bytes": sum(p.stat().st_size for p in paths),
        "quantize": quantize,
        "converter": spec["dataConverter"]["type"],
        "warnings": magenta_js_limits(config),
    }
    log.info("exported %s to %s (%d bytes)", config.name, output, report["bytes"])
    return report
