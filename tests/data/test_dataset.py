"""WindowDataset reads shards in the caller's order; training-time transposition of tokens."""

from __future__ import annotations

import numpy as np

from musicvae.configs import get_config
from musicvae.data import prepare
from musicvae.data.converters.melody import random_transpose_tokens
from musicvae.data.dataset import WindowDataset
from musicvae.data.windows import find_midi_files
from tests.conftest import FIXTURES


def test_tokens_come_back_in_the_requested_order_across_shards(tmp_path):
    config = get_config("cat-mel_2bar_small")
    prepare.prepare_dataset(
        config,
        find_midi_files([FIXTURES / "golden" / "corpus"]),
        tmp_path / "ds",
        eval_fraction=0.0,
        shard_windows=10,
        progress=False,
    )
    ds = WindowDataset(tmp_path / "ds", "train", config)
    assert len(ds.shards) > 2  # small shards: the request crosses several
    everything = np.concatenate([np.asarray(s) for s in ds.shards])
    order = np.random.default_rng(0).permutation(len(ds))[:25]
    assert np.array_equal(ds.tokens(order), everything[order])
    inputs, outputs, lengths = ds.batch(order[:3])
    assert inputs.shape == outputs.shape == (3, 32, 90) and lengths.tolist() == [32] * 3
    assert np.array_equal(outputs.argmax(-1), everything[order[:3], :, 0])


def test_transposition_shifts_notes_only_and_stays_in_range():
    # classes: 0 no event, 1 note off, 2 + (pitch - 21)
    low = np.array([[2, 0, 1, 5]])  # lowest note at pitch 21: only upward shifts fit
    high = np.array([[89, 0, 1, 80]])  # highest note at pitch 108: only downward shifts fit
    silent = np.array([[0, 0, 1, 0]])  # no note: stays as it is
    tokens = np.concatenate([low, high, silent])[..., None].astype(np.int16)
    seen = set()
    for seed in range(200):
        out = random_transpose_tokens(tokens, 90, -5, 5, np.random.default_rng(seed))[..., 0]
        shift_low, shift_high = out[0, 0] - 2, out[1, 0] - 89
        assert 0 <= shift_low <= 5 and -5 <= shift_high <= 0
        assert out[0, 3] == 5 + shift_low and out[1, 3] == 80 + shift_high  # whole window moves
        assert out[0, 1:3].tolist() == [0, 1] and out[2].tolist() == [0, 0, 1, 0]
        seen.add(int(shift_low))
    assert seen == {0, 1, 2, 3, 4, 5}  # every allowed shift is drawn
