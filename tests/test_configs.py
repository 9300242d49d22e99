"""The config registry against Magenta's own dump (../shared/magenta-golden/configs.md)."""

from __future__ import annotations

import ast
import dataclasses
import json
import re

import pytest

from musicvae.configs import CONFIG_MAP, Config, ConfigError, HParams, get_config
from musicvae.data.converters import build_converter
from tests.conftest import shared_path

MAGENTA_NAMES = [
    "cat-mel_2bar_small",
    "cat-mel_2bar_big",
    "cat-drums_2bar_small",
    "cat-drums_2bar_big",
    "flat-mel_16bar",
    "hierdec-mel_16bar",
    "flat-trio_16bar",
    "hierdec-trio_16bar",
]
CHECKED_HPARAMS = [
    "batch_size",
    "beta_rate",
    "dec_rnn_size",
    "enc_rnn_size",
    "free_bits",
    "max_beta",
    "max_seq_len",
    "sampling_rate",
    "sampling_schedule",
    "z_size",
    "learning_rate",
    "decay_rate",
    "min_learning_rate",
    "grad_clip",
    "grad_norm_clip_to_zero",
    "dropout_keep_prob",
]


def magenta_hparams() -> dict[str, dict]:
    text = shared_path("magenta-golden", "configs.md").read_text()
    out = {}
    for section in re.split(r"\n## ", text)[1:]:
        name = section.split("\n", 1)[0].strip()
        table = dict(re.findall(r"^\| (\w+) \| (.+?) \|$", section, flags=re.M))
        if table:
            out[name] = {k: ast.literal_eval(v) for k, v in table.items() if k != "key"}
    return out


def test_all_magenta_configs_registered():
    assert set(MAGENTA_NAMES) <= set(CONFIG_MAP)


@pytest.mark.parametrize("name", [n for n in MAGENTA_NAMES if n != "cat-drums_2bar_big"])
def test_hparams_equal_magenta_dump(name):
    expected = magenta_hparams()[name]
    ours = get_config(name).hparams
    for key in CHECKED_HPARAMS:
        value = getattr(ours, key)
        want = expected[key]
        if isinstance(want, list):
            want = tuple(want)
        assert value == want, f"{name}.{key}: ours {value!r}, Magenta {want!r}"


def test_converter_depths_match_magenta():
    depths = {
        "cat-mel_2bar_small": (90, 90),
        "cat-drums_2bar_small": (10, 512),
        "hierdec-mel_16bar": (90, 90),
        "hierdec-trio_16bar": (692, 692),
    }
    for name, (din, dout) in depths.items():
        conv = build_converter(get_config(name).data)
        assert (conv.input_depth, conv.output_depth) == (din, dout)


def test_unknown_config_lists_valid_names():
    with pytest.raises(ConfigError) as err:
        get_config("cat-mel_3bar")
    assert "cat-mel_2bar_small" in str(err.value) and "hierdec-trio_16bar" in str(err.value)


def test_hparams_parse_magenta_syntax_and_override():
    parsed = HParams.parse("enc_rnn_size=[64],dec_rnn_size=[32, 32],z_size=16,free_bits=48")
    assert parsed == {
        "enc_rnn_size": (64,),
        "dec_rnn_size": (32, 32),
        "z_size": 16,
        "free_bits": 48,
    }
    config = Config.from_name("cat-mel_2bar_small", **parsed)
    assert config.hparams.dec_rnn_size == (32, 32) and config.hparams.z_size == 16
    assert get_config("cat-mel_2bar_small").hparams.z_size == 256  # registry unchanged
    with pytest.raises(ConfigError, match="unknown hparam"):
        Config.from_name("cat-mel_2bar_small", zsize=3)


def test_level_lengths_must_multiply_to_sequence_length():
    config = get_config("hierdec-mel_16bar")
    with pytest.raises(ConfigError, match="multiply"):
        dataclasses.replace(config, level_lengths=(8, 16))


def test_configs_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        get_config("cat-mel_2bar_small").hparams.z_size = 3


@pytest.mark.parametrize("name", sorted(CONFIG_MAP))
def test_config_dict_round_trip(name):
    config = Config.from_name(name, z_size=7)
    d = json.loads(json.dumps(config.to_dict()))  # as config.json stores it
    assert Config.from_dict(d) == config
    d["output_depths"] = [90, 90, 512]  # a key older config.json files carry
    assert Config.from_dict(d) == config


@pytest.mark.parametrize(
    "hparam, value",
    [
        ("dropout_keep_prob", 0.5),
        ("residual_encoder", True),
        ("residual_decoder", True),
        ("conditional", False),
        ("control_preprocessing_rnn_size", (64,)),
        ("clip_mode", "value"),
    ],
)
def test_hparams_nothing_reads_are_rejected_unless_default(hparam, value):
    with pytest.raises(ConfigError, match=f"{hparam}.*not supported"):
        Config.from_name("cat-mel_2bar_small", **{hparam: value})
    default = getattr(HParams(), hparam)
    assert getattr(Config.from_name("cat-mel_2bar_small", **{hparam: default}).hparams, hparam) == (
        default
    )


def test_trio_stream_depths_come_from_the_converter():
    """Magenta's trio decoders: melody 90, bass 90, drums 512 (lstm_models MultiOutCategorical)."""
    for name in ("flat-trio_16bar", "hierdec-trio_16bar"):
        assert build_converter(get_config(name).data).stream_depths == (90, 90, 512)
    assert build_converter(get_config("cat-drums_2bar_small").data).stream_depths == (512,)
    assert build_converter(get_config("cat-mel_2bar_small").data).stream_depths == (90,)
    data = get_config("cat-mel_2bar_small").data
    assert build_converter(data) is build_converter(data)  # cached
