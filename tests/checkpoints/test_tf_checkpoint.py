"""The TF checkpoint reader against checkpoints written by TensorFlow (Magenta's own graph).

Golden checkpoints: ../shared/magenta-golden/checkpoints/<name>/model.ckpt.* (see the README
there). They hold what Magenta's TrainedModel restores (trainable variables + global_step);
Adam slots and beta powers are absent from them (a train-graph checkpoint also has those).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from musicvae.checkpoints import tf_checkpoint as tfc
from musicvae.checkpoints.tf_checkpoint import (
    BundleEntry,
    CheckpointError,
    crc32c,
    mask_crc,
    read_tf_checkpoint,
    resolve_prefix,
)
from musicvae.configs import HParams
from tests.checkpoints import read_vars_file, section
from tests.conftest import shared_path

GOLDEN = {  # checkpoint folder -> (Magenta config, encoder input depth, output depths)
    "mel2_small": ("cat-mel_2bar_small", 90, (90,)),
    "drums2_small": ("cat-drums_2bar_small", 10, (512,)),
    "hierdec_mel16_tiny": ("hierdec-mel_16bar", 90, (90,)),
    "hierdec_trio16_tiny": ("hierdec-trio_16bar", 692, (90, 90, 512)),
}


def golden_dir(name: str) -> Path:
    return shared_path("magenta-golden", "checkpoints", name)


# ---------------------------------------------------------------- crc32c and protobuf


@pytest.mark.parametrize(
    ("data", "expected"),
    [  # RFC 3720 appendix B.4 and the usual check value
        (bytes(32), 0x8A9136AA),
        (b"\xff" * 32, 0x62A8AB43),
        (bytes(range(32)), 0x46DD794E),
        (bytes(range(31, -1, -1)), 0x113FDB5C),
        (b"123456789", 0xE3069283),
        (b"", 0),
    ],
)
def test_crc32c_known_values(data, expected):
    assert crc32c(data) == expected


@pytest.mark.parametrize("size", [511, 512, 4096, 4097, 100_003, 1 << 20])
def test_crc32c_vectorized_lanes_equal_bytewise(size):
    data = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()
    expected = tfc._crc_bytes(0xFFFFFFFF, data) ^ 0xFFFFFFFF
    assert crc32c(data) == expected
    assert crc32c(data, chunk=65_536) == expected  # several chunks chained
    assert crc32c(np.frombuffer(data, np.uint8)) == expected


def test_mask_crc():
    # crc32c.h: Mask(crc) = ((crc >> 15) | (crc << 17)) + 0xa282ead8, as 32 bits
    assert mask_crc(0) == 0xA282EAD8
    assert mask_crc(0x00008000) == 0xA282EAD9
    assert mask_crc(0xFFFFFFFF) == (0xFFFFFFFF + 0xA282EAD8) & 0xFFFFFFFF


def test_bundle_entry_from_hand_encoded_proto():
    shape = b"\x12\x02\x08\x03" + b"\x12\x03\x08\xac\x02"  # dim {size: 3} dim {size: 300}
    buf = (
        b"\x08\x01"  # dtype DT_FLOAT
        + b"\x12"
        + bytes([len(shape)])
        + shape
        + b"\x20\x96\x01"  # offset 150
        + b"\x28\x90\x1c"  # size 3600
        + b"\x35\xef\xbe\xad\xde"  # crc32c (fixed32)
    )
    entry = BundleEntry.parse(buf)
    assert entry == BundleEntry(
        dtype=1,
        shape=(3, 300),
        shard_id=0,
        offset=150,
        size=3600,
        crc32c=0xDEADBEEF,
        sliced=False,
    )
    assert BundleEntry.parse(b"\x08\x09\x12\x00").shape == ()  # a scalar (global_step)


# ---------------------------------------------------------------- golden checkpoints


def magenta_shapes(in_depth, depths, enc, dec, z, hierarchical) -> dict[str, tuple[int, ...]]:
    """Variable shapes of a Magenta MusicVAE graph, derived from lstm_models.py by hand:
    LSTMBlockCell kernel (in + H, 4H), MultiRNNCell layer k reads layer k-1's h, dense
    kernels (in, out), initial-state denses output 2 * sum(H) (c and h of every layer)."""
    shapes: dict[str, tuple[int, ...]] = {"global_step": ()}

    def lstm(scope, i, h):
        shapes[f"{scope}/lstm_cell/kernel"] = (i + h, 4 * h)
        shapes[f"{scope}/lstm_cell/bias"] = (4 * h,)

    def dense(scope, i, o):
        shapes[f"{scope}/kernel"] = (i, o)
        shapes[f"{scope}/bias"] = (o,)

    def core(scope, depth, e):
        dense(f"{scope}/z_to_initial_state", e, 2 * sum(dec))
        for k, (i, h) in enumerate(zip((depth + e,) + dec, dec, strict=False)):
            lstm(f"{scope}/multi_rnn_cell/cell_{k}", i, h)
        dense(f"{scope}/output_projection", dec[-1], depth)

    for k, (i, h) in enumerate(zip((in_depth,) + tuple(2 * e for e in enc), enc, strict=False)):
        for direction in ("fw", "bw"):
            lstm(f"encoder/cell_{k}/bidirectional_rnn/{direction}/multi_rnn_cell/cell_0", i, h)
    dense("encoder/mu", 2 * enc[-1], z)
    dense("encoder/sigma", 2 * enc[-1], z)
    if not hierarchical:
        core("decoder", sum(depths), z)
        return shapes
    dense("decoder/hierarchical_level_0/initial_state", z, 2 * sum(dec))
    for k, (i, h) in enumerate(zip((1,) + dec, dec, strict=False)):
        lstm(f"decoder/hierarchical_level_0/cell_{k}", i, h)
    if len(depths) == 1:
        core("core_decoder/decoder", depths[0], dec[-1])
    for j, depth in enumerate(depths if len(depths) > 1 else ()):
        core(f"core_decoder/core_decoder_{j}/decoder", depth, dec[-1])
    return shapes


@pytest.mark.parametrize("name", list(GOLDEN))
def test_golden_checkpoint_names_and_shapes(name):
    config, in_depth, depths = GOLDEN[name]
    folder = golden_dir(name)
    variables = read_tf_checkpoint(folder / "model.ckpt")
    got = {k: v.shape for k, v in variables.items()}
    listed = read_vars_file(shared_path("magenta-golden", f"vars_{config}.txt"))
    inference = section(listed, "TrainedModel inference graph")
    assert sorted(got) == sorted(inference)  # names exactly
    # the train graph adds exactly these; the golden checkpoints were saved without them
    optimizer = section(listed, "optimizer variables")
    assert {"global_step", "beta1_power", "beta2_power"} <= set(optimizer)
    assert all(
        k in ("global_step", "beta1_power", "beta2_power") or k.endswith(("/Adam", "/Adam_1"))
        for k in optimizer
    )
    assert not any(k.endswith(("/Adam", "/Adam_1", "_power")) for k in got)

    hp = HParams.parse((folder / "hparams.txt").read_text().strip())
    if not hp:
        assert got == inference  # shapes exactly as listed
    else:  # sizes overridden: check the hand-derived formula on the listing, then apply it
        full = section(listed, "trainable variables")
        listed_sizes = magenta_shapes(in_depth, depths, (2048, 2048), (1024, 1024), 512, True)
        assert listed_sizes == {"global_step": (), **full}
        tiny = magenta_shapes(
            in_depth, depths, hp["enc_rnn_size"], hp["dec_rnn_size"], hp["z_size"], True
        )
        assert got == tiny
    assert variables["global_step"].dtype == np.int64 and variables["global_step"].shape == ()
    for k, v in variables.items():
        if k != "global_step":
            assert v.dtype == np.float32 and np.isfinite(v).all(), k
    # seeded N(0, 0.05) weights (golden README): a decoded kernel must look like that
    kernel = variables["encoder/mu/kernel"]
    assert 0.04 < kernel.std() < 0.06 and abs(kernel.mean()) < 0.01


def test_resolve_prefix_forms(tmp_path):
    folder = golden_dir("mel2_small")
    prefix = folder / "model.ckpt"
    assert resolve_prefix(prefix) == prefix
    assert resolve_prefix(folder / "model.ckpt.index") == prefix
    assert resolve_prefix(folder) == prefix  # a folder with one checkpoint
    for suffix in (".index", ".data-00000-of-00001"):
        (tmp_path / f"model.ckpt-7{suffix}").symlink_to(folder / f"model.ckpt{suffix}")
    (tmp_path / "other.index").write_bytes(b"")
    with pytest.raises(CheckpointError, match="expected one checkpoint"):
        resolve_prefix(tmp_path)
    (tmp_path / "checkpoint").write_text(
        'model_checkpoint_path: "model.ckpt-7"\nall_model_checkpoint_paths: "model.ckpt-7"\n'
    )
    assert resolve_prefix(tmp_path) == tmp_path / "model.ckpt-7"
    assert resolve_prefix(tmp_path / "checkpoint") == tmp_path / "model.ckpt-7"
    ours = read_tf_checkpoint(tmp_path)
    theirs = read_tf_checkpoint(prefix)
    assert ours.keys() == theirs.keys()
    assert all(np.array_equal(ours[k], theirs[k]) for k in ours)


# ---------------------------------------------------------------- broken checkpoints


@pytest.fixture
def copy(tmp_path) -> Path:
    """A writable copy of the mel2_small checkpoint; returns its prefix."""
    for suffix in (".index", ".data-00000-of-00001"):
        shutil.copy(golden_dir("mel2_small") / f"model.ckpt{suffix}", tmp_path / f"m{suffix}")
    return tmp_path / "m"


def _edit(path: Path, edit) -> None:
    data = bytearray(path.read_bytes())
    edit(data)
    path.write_bytes(bytes(data))


def _fix_block_crcs(table: bytearray) -> None:
    """Recompute the trailer crc of every data block (after a deliberate edit)."""
    footer = bytes(table[-tfc.FOOTER_SIZE :])
    _, _, pos = tfc._block_handle(footer, 0)
    index_offset, index_size, _ = tfc._block_handle(footer, pos)
    index = bytes(table[index_offset : index_offset + index_size])
    for _, handle in tfc._block_entries(index, Path("x")):
        offset, size, _ = tfc._block_handle(handle, 0)
        crc = mask_crc(crc32c(bytes(table[offset : offset + size + 1])))
        table[offset + size + 1 : offset + size + 5] = crc.to_bytes(4, "little")


def test_missing_files(copy):
    with pytest.raises(CheckpointError, match="does not exist"):
        read_tf_checkpoint(copy.with_name("nope"))
    copy.with_name("m.data-00000-of-00001").unlink()
    with pytest.raises(CheckpointError, match="cannot read checkpoint data"):
        read_tf_checkpoint(copy)


def test_truncated_index(copy):
    index = copy.with_name("m.index")
    full = index.read_bytes()
    index.write_bytes(full[:30])
    with pytest.raises(CheckpointError, match="truncated"):
        read_tf_checkpoint(copy)
    index.write_bytes(full[200:])  # footer intact, blocks shifted
    with pytest.raises(CheckpointError):
        read_tf_checkpoint(copy)


def test_bad_magic(copy):
    _edit(copy.with_name("m.index"), lambda d: d.__setitem__(-1, d[-1] ^ 0xFF))
    with pytest.raises(CheckpointError, match="bad magic"):
        read_tf_checkpoint(copy)


def test_corrupt_index_block(copy):
    def edit(d):
        at = d.find(b"output_projection")
        d[at] ^= 0x20  # 'o' -> 'O'

    _edit(copy.with_name("m.index"), edit)
    with pytest.raises(CheckpointError, match="crc mismatch in index block"):
        read_tf_checkpoint(copy)


def test_truncated_data(copy):
    data = copy.with_name("m.data-00000-of-00001")
    data.write_bytes(data.read_bytes()[:1_000_000])
    with pytest.raises(CheckpointError, match="truncated"):
        read_tf_checkpoint(copy)


def test_corrupt_data_crc(copy):
    good = read_tf_checkpoint(copy)
    _edit(copy.with_name("m.data-00000-of-00001"), lambda d: d.__setitem__(1234, d[1234] ^ 1))
    with pytest.raises(CheckpointError, match="crc32c mismatch"):
        read_tf_checkpoint(copy)
    unchecked = read_tf_checkpoint(copy, verify=False)
    changed = [k for k in good if not np.array_equal(good[k], unchecked[k])]
    assert len(changed) == 1


def test_unsupported_dtype(copy):
    def edit(d):
        at = d.find(b"global_step\x08\x09")
        d[at + len("global_step") + 1] = 7  # DT_INT64 -> DT_STRING
        _fix_block_crcs(d)

    _edit(copy.with_name("m.index"), edit)
    with pytest.raises(CheckpointError, match="global_step: unsupported dtype DT_STRING"):
        read_tf_checkpoint(copy)
