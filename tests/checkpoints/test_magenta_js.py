"""magenta.js checkpoints: tfjs quantization, the manifest reader and writer, the converter spec,
and round trips TF import -> magenta.js export -> magenta.js import.

Golden checkpoints: ../shared/magenta-golden/checkpoints/<name>/ (TF checkpoints written by
Magenta 2.1.4). Quantization values are hand-computed from tfjs-converter's quantization.py.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from musicvae.builders import build_model
from musicvae.checkpoints.magenta import (
    export_magenta_variables,
    import_magenta_checkpoint,
    import_magenta_variables,
)
from musicvae.checkpoints.magenta_js import (
    MagentaJsError,
    apply_spec,
    converter_spec,
    dequantize,
    magenta_js_limits,
    quantize,
    read_magenta_js,
    write_magenta_js,
)
from musicvae.checkpoints.tf_checkpoint import read_tf_checkpoint
from musicvae.configs import CONFIG_MAP, get_config
from musicvae.music.drums import DRUM_CLASS_PITCHES
from tests.conftest import shared_path

GOLDEN = {
    "mel2_small": "cat-mel_2bar_small",
    "drums2_small": "cat-drums_2bar_small",
    "hierdec_mel16_tiny": "hierdec-mel_16bar",
    "hierdec_trio16_tiny": "hierdec-trio_16bar",
}
ONE_ULP_AT_1 = 2.0**-23  # float32 spacing just above 1.0


# ---------------------------------------------------------------- quantization


def test_quantize_by_hand():
    data = np.array([-1.0, 0.0, 0.5, 2.0], np.float32)
    codes, q = quantize(data, "uint8")
    scale = 3.0 / 255  # (max - min) / 255; zero point round(1 / scale) = 85 is exact
    assert q["scale"] == pytest.approx(scale, rel=1e-15)
    assert q["min"] == pytest.approx(-85 * scale, rel=1e-15)
    assert codes.dtype == np.uint8
    assert codes.tolist() == [0, 85, 128, 255]  # 0.5 -> 127.5 rounds to even
    assert dequantize(codes, q)[1] == 0.0  # zero is exact


def test_quantize_range_without_zero_and_constant():
    codes, q = quantize(np.array([1.0, 2.0, 1.5], np.float32), "uint16")
    assert (q["min"], q["scale"]) == (1.0, 1.0 / 65535)  # not nudged: 0 outside the range
    assert codes.tolist() == [0, 65535, 32768] and codes.dtype == np.uint16
    codes, q = quantize(np.full((2, 3), 0.25, np.float32), "uint8")
    assert codes.tolist() == [[0] * 3] * 2 and q == {"min": 0.25, "scale": 1.0}
    assert np.all(dequantize(codes, q) == 0.25)


@pytest.mark.parametrize("dtype", ["uint8", "uint16"])
def test_dequantized_within_half_a_step(dtype):
    data = np.random.default_rng(0).normal(0, 0.05, (300, 40)).astype(np.float32)
    data[0, 0] = 0.3  # a skewed range: the nudge shifts it
    codes, q = quantize(data, dtype)
    error = np.abs(dequantize(codes, q).astype(np.float64) - data)
    # half a quantization step, plus the final rounding to float32 (half an ulp)
    assert np.all(error <= q["scale"] / 2 * (1 + 1e-9) + np.spacing(np.abs(data)) / 2)


# ---------------------------------------------------------------- reader and writer


def test_read_hand_made_manifest(tmp_path):
    """Two groups; a tensor split across shards; uint16-quantized, int32 and float16 weights."""
    a = np.arange(6, dtype=np.float32).reshape(2, 3) / 7
    codes = np.array([0, 1000, 65535], np.uint16)
    b_bytes = a.tobytes() + codes.tobytes()
    (tmp_path / "g1a").write_bytes(b_bytes[:10])  # the cut falls inside `a`
    (tmp_path / "g1b").write_bytes(b_bytes[10:])
    steps = np.array([7, -2], np.int32)
    half = np.array([0.5, -1.25], np.float16)
    (tmp_path / "g2").write_bytes(steps.tobytes() + half.tobytes())
    manifest = [
        {
            "paths": ["g1a", "g1b"],
            "weights": [
                {"name": "a", "shape": [2, 3], "dtype": "float32"},
                {
                    "name": "b",
                    "shape": [3],
                    "dtype": "float32",
                    "quantization": {"dtype": "uint16", "min": -1.0, "scale": 0.5},
                },
            ],
        },
        {
            "paths": ["g2"],
            "weights": [
                {"name": "global_step", "shape": [2], "dtype": "int32"},
                {
                    "name": "h",
                    "shape": [2],
                    "dtype": "float32",
                    "quantization": {"dtype": "float16"},
                },
            ],
        },
    ]
    (tmp_path / "weights_manifest.json").write_text(json.dumps(manifest))
    variables, spec = read_magenta_js(tmp_path)
    assert spec is None
    assert np.array_equal(variables["a"], a)
    assert variables["b"].tolist() == [-1.0, 499.0, 32766.5]  # q * 0.5 - 1
    assert variables["global_step"].tolist() == [7, -2]
    assert variables["h"].dtype == np.float32 and variables["h"].tolist() == [0.5, -1.25]


def test_writer_shards_and_layout(tmp_path):
    variables = {"x": np.ones((100, 30), np.float32), "y": np.zeros(7, np.float32)}
    manifest = write_magenta_js(variables, tmp_path, {"type": "MusicVAE"}, shard_bytes=5000)
    (group,) = manifest
    assert group["paths"] == [f"group1-shard{i}of3.bin" for i in (1, 2, 3)]
    sizes = [(tmp_path / p).stat().st_size for p in group["paths"]]
    assert sizes == [5000, 5000, 12028 - 10000]  # 4 * (3000 + 7) bytes
    back, spec = read_magenta_js(tmp_path)
    assert spec == {"type": "MusicVAE"}
    assert all(np.array_equal(back[k], v) for k, v in variables.items())


@pytest.fixture
def exported_mel2(tmp_path):
    """mel2_small's golden checkpoint exported to magenta.js (float32, several shards)."""
    variables = read_tf_checkpoint(shared_path("magenta-golden", "checkpoints", "mel2_small"))
    model = import_magenta_checkpoint(variables, get_config("cat-mel_2bar_small"))
    spec = {"type": "MusicVAE", "dataConverter": converter_spec(get_config("cat-mel_2bar_small"))}
    write_magenta_js(export_magenta_variables(model), tmp_path, spec, shard_bytes=1 << 20)
    return tmp_path


def test_missing_shard(exported_mel2):
    (exported_mel2 / "group1-shard3of17.bin").unlink()
    with pytest.raises(MagentaJsError, match=r"missing or unreadable shard .*group1-shard3of17"):
        read_magenta_js(exported_mel2)


def test_truncated_shard(exported_mel2):
    last = exported_mel2 / "group1-shard17of17.bin"
    last.write_bytes(last.read_bytes()[:-100])
    with pytest.raises(MagentaJsError, match=r"group1-shard17of17.bin: truncated \(decoder/"):
        read_magenta_js(exported_mel2)


def test_malformed_manifest(exported_mel2, tmp_path):
    (exported_mel2 / "weights_manifest.json").write_text("[{")
    with pytest.raises(MagentaJsError, match="not valid JSON"):
        read_magenta_js(exported_mel2)
    with pytest.raises(MagentaJsError, match="no weights_manifest.json"):
        read_magenta_js(tmp_path / "nowhere")


# ---------------------------------------------------------------- round trips


def _js_round_trip(variables, config, folder, quantize_bytes=None):
    """TF variables -> model -> magenta.js folder -> (model again, js variables, exported)."""
    model, config = import_magenta_variables(variables, config)
    exported = export_magenta_variables(model)
    spec = {"type": "MusicVAE", "dataConverter": converter_spec(config)}
    write_magenta_js(exported, folder, spec, quantize_bytes, shard_bytes=1 << 20)
    js_variables, js_spec = read_magenta_js(folder)
    again, _ = import_magenta_variables(js_variables, apply_spec(js_spec, config)[0])
    return model, again, exported, js_variables


@pytest.mark.parametrize("name", list(GOLDEN))
def test_golden_round_trip_float32_is_exact(name, tmp_path):
    variables = read_tf_checkpoint(shared_path("magenta-golden", "checkpoints", name))
    model, again, exported, js_variables = _js_round_trip(variables, GOLDEN[name], tmp_path)
    for k, v in model.state_dict().items():
        assert torch.equal(again.state_dict()[k], v), k
    assert js_variables.keys() == exported.keys()
    assert set(exported) == set(variables) - {"global_step"}
    for k, v in exported.items():
        assert np.array_equal(js_variables[k], v), k
        # vs Magenta's own file: exact, except LSTM biases whose forget block went through
        # float32 (b + 1) - 1 (one rounding at the scale of 1.0)
        tolerance = ONE_ULP_AT_1 / 2 if k.endswith("lstm_cell/bias") else 0.0
        assert np.abs(v - variables[k]).max() <= tolerance, k


@pytest.mark.parametrize("quantize_bytes", [1, 2])
@pytest.mark.parametrize("name", ["mel2_small", "hierdec_trio16_tiny"])
def test_golden_round_trip_quantized(name, quantize_bytes, tmp_path):
    variables = read_tf_checkpoint(shared_path("magenta-golden", "checkpoints", name))
    _, _, exported, js_variables = _js_round_trip(variables, GOLDEN[name], tmp_path, quantize_bytes)
    manifest = json.loads((tmp_path / "weights_manifest.json").read_text())
    steps = {w["name"]: w["quantization"]["scale"] for w in manifest[0]["weights"]}
    q_max = 255 if quantize_bytes == 1 else 65535
    for k, v in exported.items():
        span = float(v.max()) - float(v.min())
        assert steps[k] == pytest.approx(span / q_max, rel=1e-12)
        error = np.abs(js_variables[k].astype(np.float64) - v)  # step / 2 + float32 rounding
        assert np.all(error <= steps[k] / 2 * (1 + 1e-9) + np.spacing(np.abs(v)) / 2), k


@pytest.mark.parametrize("config", [c for c in CONFIG_MAP if c.startswith("debug-")])
def test_debug_model_round_trip(config, tmp_path):
    torch.manual_seed(0)
    model = build_model(get_config(config))
    exported = export_magenta_variables(model)
    spec = {"type": "MusicVAE", "dataConverter": converter_spec(get_config(config))}
    write_magenta_js(exported, tmp_path, spec)
    js_variables, js_spec = read_magenta_js(tmp_path)
    again, _ = import_magenta_variables(js_variables, apply_spec(js_spec, get_config(config))[0])
    for k, v in model.state_dict().items():
        assert torch.equal(again.state_dict()[k], v), k


# ---------------------------------------------------------------- the spec


def test_converter_specs():
    drums = [list(c) for c in DRUM_CLASS_PITCHES]
    assert converter_spec(get_config("cat-mel_2bar_small")) == {
        "type": "MelodyConverter",
        "args": {"numSteps": 32, "minPitch": 21, "maxPitch": 108},
    }
    assert converter_spec(get_config("hierdec-mel_16bar"))["args"] == {
        "numSteps": 256,
        "numSegments": 16,
        "minPitch": 21,
        "maxPitch": 108,
    }
    assert converter_spec(get_config("cat-drums_2bar_small")) == {
        "type": "DrumsConverter",  # roll input, 512-way one-hot output (data.ts)
        "args": {"numSteps": 32, "pitchClasses": drums},
    }
    trio = converter_spec(get_config("hierdec-trio_16bar"))
    assert trio == {
        "type": "TrioConverter",
        "args": {
            "numSteps": 256,
            "numSegments": 16,
            "melArgs": {"minPitch": 21, "maxPitch": 108},
            "bassArgs": {"minPitch": 21, "maxPitch": 108},
            "drumsArgs": {"pitchClasses": drums},
        },
    }


def test_apply_spec_maps_and_reports():
    mel = get_config("cat-mel_2bar_small")
    official = {  # the shape of magenta.js's hosted mel_2bar_small config.json
        "type": "MusicVAE",
        "dataConverter": {
            "type": "MelodyConverter",
            "args": {"numSteps": 32, "minPitch": 21, "maxPitch": 108},
        },
    }
    assert apply_spec(official, mel) == (mel, [])
    longer = json.loads(json.dumps(official))
    longer["dataConverter"]["args"].update(numSteps=64, maxPitch=96, foo=1)
    longer["auxInputs"] = []
    config, notes = apply_spec(longer, mel)
    assert config.data.slice_bars == 4 and config.hparams.max_seq_len == 64
    assert (config.data.min_pitch, config.data.max_pitch) == (21, 96)
    assert notes == [
        "numSteps 64 (numSegments None) -> 4 bars",
        "melody pitch range 21..96",
        "ignored converter arg foo",
        "ignored auxInputs",
    ]
    chords = {**official, "chordEncoder": "PitchChordEncoder"}
    with pytest.raises(MagentaJsError, match="chord-conditioned model .* no chord conditioning"):
        apply_spec(chords, mel)
    drums = {"type": "MusicVAE", "dataConverter": {"type": "DrumsConverter", "args": {}}}
    with pytest.raises(MagentaJsError, match="models melody, but .* names a DrumsConverter"):
        apply_spec(drums, mel)
    multitrack = {"type": "MusicVAE", "dataConverter": {"type": "MultitrackConverter"}}
    with pytest.raises(MagentaJsError, match="'MultitrackConverter' is not supported"):
        apply_spec(multitrack, mel)
    segmented = json.loads(json.dumps(official))
    segmented["dataConverter"]["args"]["numSegments"] = 2
    with pytest.raises(MagentaJsError, match="numSegments .* is flat"):
        apply_spec(segmented, mel)


def test_magenta_js_limits():
    assert magenta_js_limits(get_config("cat-mel_2bar_small")) == []
    assert magenta_js_limits(get_config("cat-drums_2bar_small")) == []
    assert "2-level hierarchical encoder" in magenta_js_limits(get_config("hierdec-mel_16bar"))[0]
    flat_trio = magenta_js_limits(get_config("flat-trio_16bar"))
    assert len(flat_trio) == 2 and "single-layer" in flat_trio[0]
