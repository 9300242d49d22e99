"""The study's two configs: a fair comparison (same encoder, z, data, KL schedule, about the
same parameter count)."""

from __future__ import annotations

import pytest

from musicvae.builders import build_model
from musicvae.configs import get_config


def count(model) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("prefix", ["", "debug-"])
def test_flat_and_hierarchical_match(prefix):
    flat = get_config(f"{prefix}study-flat-mel_16bar")
    hier = get_config(f"{prefix}study-hierdec-mel_16bar")
    assert flat.decoder == "categorical" and hier.decoder == "hierarchical"
    assert hier.level_lengths == (16, 16)
    assert flat.data == hier.data == get_config("hierdec-mel_16bar").data  # 16-bar melody
    for name in ("enc_rnn_size", "z_size", "free_bits", "max_beta", "beta_rate", "batch_size"):
        assert getattr(flat.hparams, name) == getattr(hier.hparams, name), name
    assert flat.hparams.sampling_schedule == hier.hparams.sampling_schedule == "constant"
    assert flat.hparams.sampling_rate == hier.hparams.sampling_rate == 0.0
    n_flat, n_hier = count(build_model(flat)), count(build_model(hier))
    assert abs(n_flat - n_hier) / n_hier < 0.10, (n_flat, n_hier)


def test_study_sizes_are_the_issues():
    hier = get_config("study-hierdec-mel_16bar").hparams
    assert hier.enc_rnn_size == (512,) and hier.z_size == 256 and hier.dec_rnn_size == (256, 256)
    # Hand count of the hierarchical decoder [256, 256] (TF LSTM cells: kernel (in + H, 4H) +
    # bias 4H; dense z -> state 2 layers x (c, h)): conductor 264,192 + 525,312 + 263,168;
    # core (input 90 + 256) 617,472 + 525,312 + 263,168 + projection 23,130. PyTorch's LSTM
    # layers hold a second bias (4H = 1024 each, 4 layers) where TF has one.
    decoder = build_model(get_config("study-hierdec-mel_16bar")).decoder
    tf_count = 264_192 + 525_312 + 263_168 + 617_472 + 525_312 + 263_168 + 23_130
    assert count(decoder) == tf_count + 4 * 1024
