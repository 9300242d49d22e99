"""Read TensorFlow (V2, "tensor bundle") checkpoints without TensorFlow.

A checkpoint `<prefix>` is `<prefix>.index` plus `<prefix>.data-<shard>-of-<N>` files.
The index is a LevelDB-style SSTable (tensorflow/core/lib/io/table*.cc, format.cc): blocks of
prefix-compressed key/value entries, each block followed by a 1-byte compression type and a
masked crc32c; a 48-byte footer holds the metaindex and index block handles and the magic
0xdb4775248b80fb57. Keys are variable names; the empty key holds a BundleHeaderProto, every
other value a BundleEntryProto (tensorflow/core/protobuf/tensor_bundle.proto) that points at
raw little-endian bytes in a data shard, with their masked crc32c.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import re
from pathlib import Path
from typing import BinaryIO

import numpy as np

from musicvae.errors import CheckpointError

log = logging.getLogger(__name__)

TABLE_MAGIC = 0xDB4775248B80FB57
FOOTER_SIZE = 48  # two block handles padded to 40 bytes + 8-byte magic
BLOCK_TRAILER_SIZE = 5  # 1-byte compression type + 4-byte masked crc32c

# tensorflow/core/framework/types.proto -> numpy (little-endian)
DTYPES: dict[int, np.dtype] = {
    1: np.dtype("<f4"),  # DT_FLOAT
    2: np.dtype("<f8"),  # DT_DOUBLE
    3: np.dtype("<i4"),  # DT_INT32
    4: np.dtype("u1"),  # DT_UINT8
    5: np.dtype("<i2"),  # DT_INT16
    6: np.dtype("i1"),  # DT_INT8
    9: np.dtype("<i8"),  # DT_INT64
    10: np.dtype("?"),  # DT_BOOL
    17: np.dtype("<u2"),  # DT_UINT16
    19: np.dtype("<f2"),  # DT_HALF
    22: np.dtype("<u4"),  # DT_UINT32
    23: np.dtype("<u8"),  # DT_UINT64
}
DTYPE_NAMES = {7: "DT_STRING", 8: "DT_COMPLEX64", 14: "DT_BFLOAT16", 18: "DT_COMPLEX128"}


# ---------------------------------------------------------------- crc32c (Castagnoli)

_CRC_POLY = 0x82F63B78  # reflected 0x1EDC6F41


def _make_crc_table() -> np.ndarray:
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(_CRC_POLY), table >> 1)
    return table.astype(np.uint32)


_CRC_TABLE = _make_crc_table()
_CRC_TABLE_LIST = [int(v) for v in _CRC_TABLE]


def _crc_bytes(state: int, data: bytes) -> int:
    """Unconditioned crc register update, one byte at a time (for short tails)."""
    table = _CRC_TABLE_LIST
    for byte in data:
        state = table[(state ^ byte) & 0xFF] ^ (state >> 8)
    return state


def _gf2_apply(matrix: list[int], vector: int) -> int:
    out, i = 0, 0
    while vector:
        if vector & 1:
            out ^= matrix[i]
        vector >>= 1
        i += 1
    return out


def _zeros_operator(n_bytes: int) -> list[int]:
    """The linear map 'feed n zero bytes' on the crc register, as 32 column images
    (zlib's crc32_combine construction: one zero bit, squared up to a byte, then powered)."""
    bit = [_CRC_POLY] + [1 << (i - 1) for i in range(1, 32)]
    op = bit
    for _ in range(3):  # 1 -> 2 -> 4 -> 8 bits
        op = [_gf2_apply(op, c) for c in op]
    result = [1 << i for i in range(32)]  # identity
    while n_bytes:
        if n_bytes & 1:
            result = [_gf2_apply(op, c) for c in result]
        n_bytes >>= 1
        if n_bytes:
            op = [_gf2_apply(op, c) for c in op]
    return result


@functools.lru_cache(maxsize=8)
def _shift_tables(n_bytes: int) -> tuple[list[int], ...]:
    """Byte-wise lookup tables of the 'feed n zero bytes' operator (4 lookups per use)."""
    shift = _zeros_operator(n_bytes)
    return tuple([_gf2_apply(shift, v << (8 * p)) for v in range(256)] for p in range(4))


def _crc_lanes(state: int, data: np.ndarray, lane: int) -> int:
    """Crc register after `data` (uint8, length a multiple of `lane`): the data is cut into
    equal lanes updated side by side with numpy, then folded with the zeros operator
    (crc(s, A + B) = zeros_|B|(crc(s, A)) ^ crc(0, B))."""
    lanes = data.reshape(-1, lane).T.copy()  # (lane, M), row j = byte j of every lane
    crc = np.zeros(lanes.shape[1], dtype=np.uint32)  # (M,)
    crc[0] = state
    for row in lanes:
        crc = _CRC_TABLE[(crc ^ row) & 0xFF] ^ (crc >> 8)
    t0, t1, t2, t3 = _shift_tables(lane)
    out = 0
    for c in crc.tolist():
        out = t0[out & 0xFF] ^ t1[(out >> 8) & 0xFF] ^ t2[(out >> 16) & 0xFF] ^ t3[out >> 24] ^ c
    return out


def crc32c(data: bytes | np.ndarray, chunk: int = 1 << 24) -> int:
    """CRC-32C of `data` (as TF and LevelDB compute it, before masking)."""
    buf = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data
    buf = buf.reshape(-1).view(np.uint8)
    state = 0xFFFFFFFF
    for start in range(0, buf.size, chunk):
        part = buf[start : start + chunk]
        lane = 1024 if part.size >= (1 << 20) else 64  # lanes: ~16k per 16 MiB chunk
        body = part.size - part.size % lane
        if body >= 8 * lane:
            state = _crc_lanes(state, part[:body], lane)
        else:
            body = 0
        state = _crc_bytes(state, part[body:].tobytes())
    return state ^ 0xFFFFFFFF


def mask_crc(crc: int) -> int:
    """LevelDB/TF crc masking (crc32c.h Mask)."""
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


# ---------------------------------------------------------------- protobuf wire format


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    """Decode a base-128 varint at `pos` -> (value, next position)."""
    value, shift = 0, 0
    while True:
        if pos >= len(buf):
            raise CheckpointError("truncated varint in checkpoint index")
        byte = buf[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise CheckpointError("varint longer than 10 bytes in checkpoint index")


def parse_proto(buf: bytes) -> dict[int, list]:
    """Protobuf message -> {field number: [values]} (varint/fixed ints, bytes for LEN)."""
    fields: dict[int, list] = {}
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = int.from_bytes(buf[pos : pos + 8], "little"), pos + 8
        elif wire == 2:
            size, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + size], pos + size
        elif wire == 5:
            value, pos = int.from_bytes(buf[pos : pos + 4], "little"), pos + 4
        else:
            raise CheckpointError(f"unsupported protobuf wire type {wire} (field {number})")
        if pos > len(buf):
            raise CheckpointError(f"truncated protobuf field {number} in checkpoint index")
        fields.setdefault(number, []).append(value)
    return fields


@dataclasses.dataclass(frozen=True)
class BundleEntry:
    """BundleEntryProto: where a tensor lives and what it is."""

    dtype: int
    shape: tuple[int, ...]
    shard_id: int
    offset: int
    size: int
    crc32c: int  # masked
    sliced: bool

    @classmethod
    def parse(cls, buf: bytes) -> BundleEntry:
        f = parse_proto(buf)
        shape: tuple[int, ...] = ()
        if 2 in f:
            dims = parse_proto(f[2][-1]).get(2, [])  # TensorShapeProto.dim
            shape = tuple(parse_proto(d).get(1, [0])[-1] for d in dims)  # Dim.size
        return cls(
            dtype=f.get(1, [0])[-1],
            shape=shape,
            shard_id=f.get(3, [0])[-1],
            offset=f.get(4, [0])[-1],
            size=f.get(5, [0])[-1],
            crc32c=f.get(6, [0])[-1],
            sliced=7 in f,
        )


# ---------------------------------------------------------------- SSTable


def _block_handle(buf: bytes, pos: int) -> tuple[int, int, int]:
    offset, pos = _varint(buf, pos)
    size, pos = _varint(buf, pos)
    return offset, size, pos


def _read_block(table: bytes, offset: int, size: int, path: Path) -> bytes:
    """A block's contents after checking its trailer (compression type and crc)."""
    end = offset + size + BLOCK_TRAILER_SIZE
    if end > len(table):
        raise CheckpointError(f"{path}: truncated (block at {offset}+{size} past end)")
    contents = table[offset : offset + size]
    kind = table[offset + size]
    stored = int.from_bytes(table[offset + size + 1 : end], "little")
    if mask_crc(crc32c(table[offset : offset + size + 1])) != stored:
        raise CheckpointError(f"{path}: crc mismatch in index block at offset {offset}")
    if kind != 0:
        raise CheckpointError(f"{path}: compressed index block (type {kind}) is unsupported")
    return contents


def _block_entries(block: bytes, path: Path) -> list[tuple[bytes, bytes]]:
    """(key, value) pairs of one block (prefix-compressed keys, restart array at the end)."""
    if len(block) < 4:
        raise CheckpointError(f"{path}: index block too short")
    restarts = int.from_bytes(block[-4:], "little")
    limit = len(block) - 4 - 4 * restarts
    if limit < 0:
        raise CheckpointError(f"{path}: bad restart count in index block")
    entries, key, pos = [], b"", 0
    while pos < limit:
        shared, pos = _varint(block, pos)
        non_shared, pos = _varint(block, pos)
        value_len, pos = _varint(block, pos)
        if shared > len(key) or pos + non_shared + value_len > limit:
            raise CheckpointError(f"{path}: corrupt entry in index block")
        key = key[:shared] + block[pos : pos + non_shared]
        pos += non_shared
        entries.append((key, block[pos : pos + value_len]))
        pos += value_len
    return entries


def read_index(path: Path) -> dict[str, bytes]:
    """All key -> value pairs of an SSTable file, in key order."""
    try:
        table = path.read_bytes()
    except OSError as e:
        raise CheckpointError(f"cannot read checkpoint index {path}: {e}") from None
    if len(table) < FOOTER_SIZE:
        raise CheckpointError(f"{path}: truncated ({len(table)} bytes, no footer)")
    footer = table[-FOOTER_SIZE:]
    magic = int.from_bytes(footer[-8:], "little")
    if magic != TABLE_MAGIC:
        raise CheckpointError(f"{path}: bad magic {magic:#018x} (not a TF checkpoint index)")
    _, _, pos = _block_handle(footer, 0)  # metaindex: unused by TF bundles
    index_offset, index_size, _ = _block_handle(footer, pos)
    out: dict[str, bytes] = {}
    for _, handle in _block_entries(_read_block(table, index_offset, index_size, path), path):
        offset, size, _ = _block_handle(handle, 0)
        for key, value in _block_entries(_read_block(table, offset, size, path), path):
            out[key.decode("utf-8")] = value
    return out


# ---------------------------------------------------------------- checkpoints


def resolve_prefix(path: str | Path) -> Path:
    """A checkpoint prefix from a prefix, an `.index` path, a `checkpoint` state file or a
    folder holding one (its latest) or a single checkpoint."""
    path = Path(path)
    if path.name.endswith(".index"):
        return path.with_name(path.name[: -len(".index")])
    if path.is_dir():
        state = path / "checkpoint"
        if state.is_file():
            return resolve_prefix(state)
        indexes = sorted(path.glob("*.index"))
        if len(indexes) != 1:
            raise CheckpointError(
                f"{path}: expected one checkpoint (*.index), found {len(indexes)}"
                + (f": {', '.join(p.name for p in indexes)}" if indexes else "")
            )
        return resolve_prefix(indexes[0])
    if path.name == "checkpoint" and path.is_file():
        match = re.search(r'^model_checkpoint_path:\s*"(.*)"', path.read_text(), re.M)
        if not match:
            raise CheckpointError(f"{path}: no model_checkpoint_path in checkpoint state file")
        latest = Path(match.group(1))
        return latest if latest.is_absolute() else path.parent / latest
    return path


def _shard_path(prefix: Path, shard_id: int, num_shards: int) -> Path:
    return prefix.with_name(f"{prefix.name}.data-{shard_id:05d}-of-{num_shards:05d}")


def _read_tensor(name: str, entry: BundleEntry, shard: BinaryIO, verify: bool) -> np.ndarray:
    """One tensor's bytes from an open data shard, checked and reshaped."""
    if entry.sliced:
        raise CheckpointError(f"{name}: partitioned (sliced) variables are unsupported")
    if entry.dtype not in DTYPES:
        label = DTYPE_NAMES.get(entry.dtype, f"enum {entry.dtype}")
        raise CheckpointError(f"{name}: unsupported dtype {label}")
    dtype = DTYPES[entry.dtype]
    count = int(np.prod(entry.shape, dtype=np.int64))
    if entry.size != count * dtype.itemsize:
        raise CheckpointError(
            f"{name}: {entry.size} bytes stored for shape {list(entry.shape)} of {dtype}"
        )
    shard.seek(entry.offset)
    raw = shard.read(entry.size)
    if len(raw) != entry.size:
        raise CheckpointError(
            f"{shard.name}: truncated ({name} needs bytes {entry.offset}..."
            f"{entry.offset + entry.size}, file has {entry.offset + len(raw)})"
        )
    if verify and mask_crc(crc32c(raw)) != entry.crc32c:
        raise CheckpointError(f"{name}: crc32c mismatch in {shard.name} (corrupt data)")
    return np.frombuffer(raw, dtype=dtype).astype(dtype.newbyteorder("=")).reshape(entry.shape)


def read_tf_checkpoint(prefix: str | Path, verify: bool = True) -> dict[str, np.ndarray]:
    """Every tensor of a TF V2 checkpoint: name -> array (native byte order).

    `prefix` may also be the `.index` path, a `checkpoint` state file or a folder (see
    `resolve_prefix`). `verify` checks every tensor's crc32c (numpy-vectorized, a few 100 MB/s).
    """
    prefix = resolve_prefix(prefix)
    index = prefix.with_name(prefix.name + ".index")
    if not index.is_file():
        raise CheckpointError(f"checkpoint index {index} does not exist")
    table = read_index(index)
    if "" not in table:
        raise CheckpointError(f"{index}: no bundle header (empty key)")
    header = parse_proto(table.pop(""))
    num_shards = header.get(1, [1])[-1]
    if header.get(2, [0])[-1] != 0:
        raise CheckpointError(f"{index}: big-endian checkpoints are unsupported")
    entries = {name: BundleEntry.parse(value) for name, value in table.items()}
    out: dict[str, np.ndarray] = {}
    with contextlib.ExitStack() as stack:
        shards: dict[int, BinaryIO] = {}
        for name, entry in entries.items():
            if entry.shard_id not in shards:
                if entry.shard_id >= num_shards:
                    raise CheckpointError(f"{name}: shard {entry.shard_id} of {num_shards}")
                path = _shard_path(prefix, entry.shard_id, num_shards)
                try:
                    shards[entry.shard_id] = stack.enter_context(path.open("rb"))
                except OSError as e:
                    raise CheckpointError(f"cannot read checkpoint data {path}: {e}") from None
            out[name] = _read_tensor(name, entry, shards[entry.shard_id], verify)
    log.info("read %d tensors from %s", len(out), prefix)
    return out
