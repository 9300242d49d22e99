"""musicvae.files: a failed write leaves the old file whole and no temp file behind."""

from __future__ import annotations

import numpy as np
import pytest

from musicvae.files import atomic_write, atomic_write_bytes, atomic_write_text, save_npy


def test_atomic_write_replaces_or_keeps(tmp_path):
    path = tmp_path / "a.json"
    atomic_write_text(path, "old")
    assert path.read_text() == "old"

    def dies(tmp):
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, dies)
    assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]
    atomic_write_bytes(path, b"new", unique=True)
    assert path.read_bytes() == b"new" and len(list(tmp_path.iterdir())) == 1


def test_save_npy_keeps_the_exact_name(tmp_path):
    path = tmp_path / "shard.tokens.npy.tmp"
    save_npy(path, np.arange(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shard.tokens.npy.tmp"]
    assert np.load(path).tolist() == [0, 1, 2]
