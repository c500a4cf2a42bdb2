"""Reader of TensorFlow's tensor-bundle checkpoints (`NAME.index` + `NAME.data-00000-of-00001`).

The `.index` file is an SSTable (LevelDB's table format): data blocks of prefix-compressed
(key, value) entries, an index block that points at them, and a 48-byte footer ending in a magic
number. Each key is a tensor name; its value is a `BundleEntryProto` (protocol buffer) giving the
tensor's dtype, shape, shard, byte offset and size in the data file. The empty key holds the
bundle's header. This module decodes both formats itself, so no TensorFlow is needed.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError

_TABLE_MAGIC = 0xDB4775248B80FB57
_FOOTER_SIZE = 48
_BLOCK_TRAILER = 5  # compression type (1 byte) + masked CRC32 (4 bytes)

# TensorFlow DataType enum -> numpy dtype (the numeric types a checkpoint holds).
_DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 5: np.int16, 6: np.int8,
           9: np.int64, 10: np.bool_, 17: np.uint16, 19: np.float16, 22: np.uint32, 23: np.uint64}


class BundleFormatError(ValueError):
    """The bytes are not a well-formed tensor bundle."""


@dataclass(frozen=True)
class BundleEntry:
    """Where one tensor lies in the data file."""

    name: str
    dtype: np.dtype
    shape: tuple[int, ...]
    shard: int
    offset: int
    size: int


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    """(value, position after it) of a base-128 varint at buf[pos]."""
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise BundleFormatError("truncated or overlong varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _proto_fields(buf: bytes):
    """Yield (field number, wire type, value) of a protocol-buffer message.

    Varints are ints, length-delimited fields are bytes, fixed32/fixed64 are ints.
    """
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + length], pos + length
            if len(value) != length:
                raise BundleFormatError("truncated protocol-buffer field")
        elif wire == 5:
            value, pos = struct.unpack_from("<I", buf, pos)[0], pos + 4
        elif wire == 1:
            value, pos = struct.unpack_from("<Q", buf, pos)[0], pos + 8
        else:
            raise BundleFormatError(f"unsupported protocol-buffer wire type {wire}")
        yield field, wire, value


def _block_entries(block: bytes):
    """Yield (key, value) of one SSTable block (restart array at its end)."""
    if len(block) < 4:
        raise BundleFormatError("block shorter than its restart count")
    restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    end = len(block) - 4 - 4 * restarts
    if end < 0:
        raise BundleFormatError("block restart array larger than the block")
    pos, key = 0, b""
    while pos < end:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        length, pos = _varint(block, pos)
        key = key[:shared] + block[pos:pos + unshared]
        pos += unshared
        value = block[pos:pos + length]
        pos += length
        if pos > end:
            raise BundleFormatError("block entry runs past the block")
        yield key, value


def _read_block(data: bytes, handle: bytes) -> bytes:
    """The bytes of the block a BlockHandle (offset, size varints) points at."""
    offset, pos = _varint(handle, 0)
    size, _ = _varint(handle, pos)
    if offset + size + _BLOCK_TRAILER > len(data):
        raise BundleFormatError("block handle points past the end of the index file")
    if data[offset + size] != 0:
        raise BundleFormatError("compressed blocks are not supported (TensorFlow writes them uncompressed)")
    return data[offset:offset + size]


def _entry(name: str, value: bytes) -> BundleEntry:
    """Decode one BundleEntryProto."""
    dtype, shape, shard, offset, size = 0, [], 0, 0, 0
    for field, _, v in _proto_fields(value):
        if field == 1:
            dtype = v
        elif field == 2:  # TensorShapeProto: repeated Dim (field 2) of {size: field 1}
            for f2, _, dim in _proto_fields(v):
                if f2 == 2:
                    shape.append(next((s for f3, _, s in _proto_fields(dim) if f3 == 1), 0))
        elif field == 3:
            shard = v
        elif field == 4:
            offset = v
        elif field == 5:
            size = v
        elif field == 7:
            raise BundleFormatError(f"tensor {name!r} is stored in slices, which this reader does not handle")
    if dtype not in _DTYPES:
        raise BundleFormatError(f"tensor {name!r} has an unsupported dtype (TensorFlow enum {dtype})")
    return BundleEntry(name, np.dtype(_DTYPES[dtype]), tuple(shape), shard, offset, size)


def read_index(path: str | Path) -> dict[str, BundleEntry]:
    """Read a bundle's `.index` file.

    Args:
        path: the `NAME.index` file.

    Returns:
        Tensor name -> BundleEntry (the bundle's header left out).

    Raises:
        InputError: the file is missing or is not a well-formed bundle index.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "checkpoint index does not exist")
    data = path.read_bytes()
    try:
        if len(data) < _FOOTER_SIZE:
            raise BundleFormatError("shorter than the table footer")
        footer = data[-_FOOTER_SIZE:]
        if struct.unpack_from("<Q", footer, 40)[0] != _TABLE_MAGIC:
            raise BundleFormatError("no SSTable magic number at the end")
        _, pos = _varint(footer, 0)  # metaindex handle: offset, size (unused)
        _, pos = _varint(footer, pos)
        index_block = _read_block(data, footer[pos:40])
        entries = {}
        for _, handle in _block_entries(index_block):
            for key, value in _block_entries(_read_block(data, handle)):
                if key:  # the empty key is the BundleHeaderProto
                    name = key.decode()
                    entries[name] = _entry(name, value)
    except (BundleFormatError, struct.error, UnicodeDecodeError) as err:
        raise InputError(path, f"is not a readable TensorFlow checkpoint index ({err})") from None
    return entries


def read_bundle(prefix: str | Path) -> dict[str, np.ndarray]:
    """Every tensor of the bundle `prefix` (`prefix.index`, `prefix.data-00000-of-00001`).

    Args:
        prefix: the bundle's path without its suffixes (`.../model` for `.../model.index`).

    Returns:
        name -> numpy array (a copy, in the dtype and shape the index gives).

    Raises:
        InputError: a file is missing, truncated, or not a tensor bundle.
    """
    prefix = Path(prefix)
    entries = read_index(prefix.with_name(prefix.name + ".index"))
    shards = sorted({e.shard for e in entries.values()})
    n_shards = max(shards) + 1 if shards else 1
    blobs = {}
    for shard in shards:
        path = prefix.with_name(f"{prefix.name}.data-{shard:05d}-of-{n_shards:05d}")
        if not path.is_file():
            raise InputError(path, "checkpoint data file does not exist")
        blobs[shard] = (path, path.read_bytes())
    tensors = {}
    for entry in entries.values():
        path, blob = blobs[entry.shard]
        count = int(np.prod(entry.shape, dtype=np.int64))
        if entry.size != count * entry.dtype.itemsize or entry.offset + entry.size > len(blob):
            raise InputError(path, f"is truncated or does not match its index (tensor {entry.name!r} needs "
                                   f"bytes {entry.offset}..{entry.offset + entry.size}, file has {len(blob)})")
        tensors[entry.name] = np.frombuffer(blob, entry.dtype, count, entry.offset).reshape(entry.shape).copy()
    return tensors
