"""Parity with Magenta 2.1.4: our windows equal the golden tensors, file for file, as multisets.

Golden files: ../shared/magenta-golden/tensors/<config>/<file>.npz (all windows, no cap), and a
small copy in tests/fixtures/golden so the check also runs outside this machine.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from musicvae.configs import get_config
from musicvae.data.converters import build_converter
from musicvae.data.converters.base import ConverterTensors
from musicvae.music.midi_io import read_midi
from tests.conftest import FIXTURES, shared_path

GOLDEN_CONFIGS = [
    "cat-mel_2bar_small",
    "cat-drums_2bar_small",
    "hierdec-mel_16bar",
    "hierdec-trio_16bar",
]


def window_multiset(inputs: np.ndarray, outputs: np.ndarray) -> Counter:
    return Counter(
        (i.shape, i.tobytes(), o.shape, o.tobytes()) for i, o in zip(inputs, outputs, strict=False)
    )


def same_windows(ours: ConverterTensors, golden) -> bool:
    if len(ours) != len(golden["lengths"]):
        return False
    if len(ours) == 0:
        return True
    if sorted(ours.lengths.tolist()) != sorted(golden["lengths"].tolist()):
        return False
    return window_multiset(ours.inputs, ours.outputs) == window_multiset(
        golden["inputs"].astype(bool), golden["outputs"].astype(bool)
    )


def check_corpus(config_name: str, tensors_root: Path, corpus_root: Path, files: list[str]):
    converter = build_converter(get_config(config_name).data)
    mismatched = []
    for rel in files:
        golden = np.load(tensors_root / config_name / f"{rel}.npz")
        ours = converter.to_tensors(read_midi(corpus_root / rel))
        if not same_windows(ours, golden):
            mismatched.append(f"{rel}: ours {len(ours)} windows, Magenta {len(golden['lengths'])}")
    matched = len(files) - len(mismatched)
    print(f"{config_name}: {matched}/{len(files)} files identical to Magenta")
    assert not mismatched, "\n".join(mismatched[:20])


@pytest.mark.parametrize("config_name", GOLDEN_CONFIGS)
def test_fixture_subset_matches_magenta(config_name):
    root = FIXTURES / "golden"
    files = sorted(
        p.relative_to(root / "corpus").as_posix() for p in (root / "corpus").rglob("*.mid")
    )
    assert len(files) == 4
    check_corpus(config_name, root / "tensors", root / "corpus", files)


@pytest.mark.slow
@pytest.mark.parametrize("config_name", GOLDEN_CONFIGS)
def test_whole_shared_corpus_matches_magenta(config_name):
    tensors_root = shared_path("magenta-golden", "tensors")
    corpus_root = shared_path("corpus")
    rows = (tensors_root / config_name / "counts.tsv").read_text().splitlines()[1:]
    counts = dict(line.split("\t") for line in rows)
    # Magenta failed on no file of this corpus (-1 parse failure, -2 converter error).
    assert all(int(n) >= 0 for n in counts.values())
    check_corpus(config_name, tensors_root, corpus_root, sorted(counts))
