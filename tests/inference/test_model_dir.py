"""Model folders (safetensors + config.json + card.json) and training runs as models."""

from __future__ import annotations

import json

import pytest
import torch

from musicvae.builders import build_model
from musicvae.configs import Config, get_config
from musicvae.inference.model_dir import (
    ModelDirError,
    load_model_dir,
    parameter_count,
    save_model_dir,
)
from musicvae.train.checkpoint import CHECKPOINT, save_checkpoint


def _model(name: str = "debug-hierdec-trio_16bar", seed: int = 0):
    torch.manual_seed(seed)
    config = Config.from_name(name, z_size=6)  # an override travels in config.json
    return build_model(config), config


def _same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_save_and_load_round_trip(tmp_path):
    model, config = _model()
    save_model_dir(model, config, tmp_path, {"source": "unit test"})
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "card.json",
        "config.json",
        "model.safetensors",
    ]
    loaded, loaded_config = load_model_dir(tmp_path)
    assert loaded_config == config and loaded_config.hparams.z_size == 6
    assert _same_weights(loaded, model) and not loaded.training
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    frozen = [n for n, p in loaded.named_parameters() if not p.requires_grad]
    assert frozen and all("bias_hh" in n for n in frozen)  # as built
    card = json.loads((tmp_path / "card.json").read_text())
    assert card["config"] == config.name and card["source"] == "unit test"
    assert card["parameters"] == parameter_count(model) and card["weights_dtype"] == "float32"
    assert loaded_config == load_model_dir(tmp_path / "model.safetensors")[1]


def test_fp16_folder(tmp_path):
    model, config = _model("debug-cat-mel_2bar")
    save_model_dir(model, config, tmp_path, dtype=torch.float16)
    loaded, _ = load_model_dir(tmp_path)
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v.half().float()), k
    assert json.loads((tmp_path / "card.json").read_text())["weights_dtype"] == "float16"
    with pytest.raises(ValueError, match="float32 or float16"):
        save_model_dir(model, config, tmp_path, dtype=torch.bfloat16)


def test_training_run_loads(tmp_path):
    model, config = _model("debug-cat-drums_2bar")
    state = {"model": model.state_dict(), "config": config.to_dict(), "step": 3}
    assert save_checkpoint(tmp_path / CHECKPOINT, state)
    for path in (tmp_path, tmp_path / CHECKPOINT):
        loaded, loaded_config = load_model_dir(path)
        assert loaded_config == config and _same_weights(loaded, model)
    wrapped = {f"module.{k}": v for k, v in model.state_dict().items()}  # a DDP state_dict
    save_checkpoint(tmp_path / "ddp.pt", {**state, "model": wrapped})
    assert _same_weights(load_model_dir(tmp_path / "ddp.pt")[0], model)


def test_errors(tmp_path):
    with pytest.raises(ModelDirError, match="no model at"):
        load_model_dir(tmp_path / "nope")
    with pytest.raises(ModelDirError, match="neither a model folder"):
        load_model_dir(tmp_path)
    (tmp_path / "m.ckpt-5.index").write_bytes(b"")
    with pytest.raises(ModelDirError, match="convert it first with `musicvae import-magenta"):
        load_model_dir(tmp_path)

    model, config = _model("debug-cat-mel_2bar")
    folder = tmp_path / "model"
    save_model_dir(model, config, folder)
    (folder / "config.json").write_text(json.dumps(get_config("debug-cat-drums_2bar").to_dict()))
    with pytest.raises(ModelDirError, match=r"do not fit config debug-cat-drums_2bar .*expected"):
        load_model_dir(folder)
    (folder / "config.json").write_text("{}")
    with pytest.raises(ModelDirError, match="not a musicvae config"):
        load_model_dir(folder)
    (folder / "config.json").unlink()
    with pytest.raises(ModelDirError, match="has model.safetensors but no config.json"):
        load_model_dir(folder)
    save_model_dir(model, config, folder)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1000])
    with pytest.raises(ModelDirError, match="cannot read .*model.safetensors"):
        load_model_dir(folder)
    (tmp_path / "junk.pt").write_bytes(b"not a pickle")
    with pytest.raises(ModelDirError, match="cannot read checkpoint"):
        load_model_dir(tmp_path / "junk.pt")
