"""The TensorFlow tensor bundle: ``PREFIX.index`` + ``PREFIX.data-NNNNN-of-MMMMM``.

Checkpoints and a SavedModel's ``variables/`` store tensors this way. The
``.index`` file is a LevelDB-style sorted table. Its footer (last 48 bytes)
holds two block handles and the magic number ``0xdb4775248b80fb57``; each
block is a run of prefix-compressed key/value entries followed by an array of
restart offsets, and carries a 5-byte trailer (compression type + masked
CRC32C). The value under the empty key is a ``BundleHeaderProto`` (shard
count, endianness, version); every other key names a tensor and its value is a
``BundleEntryProto`` (dtype, shape, shard, offset, size, masked CRC32C of the
tensor's bytes). The data shards hold the raw tensor bytes.

The key ``_CHECKPOINTABLE_OBJECT_GRAPH`` holds a serialised
``TrackableObjectGraph``: which object (model, layer, optimizer) owns which
variable.

Everything here is pure Python (numpy, protobuf, google-crc32c), with
convkit's size limits on every length the files declare.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from convkit.containers import limits, protobuf
from convkit.containers.files import open_regular
from convkit.containers.protobuf import read_varint
from convkit.errors import ReadError

TABLE_MAGIC = 0xDB4775248B80FB57
FOOTER_BYTES = 48
BLOCK_TRAILER_BYTES = 5
OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
_CRC_MASK_DELTA = 0xA282EAD8
_READ_CHUNK = 16 * 1024 * 1024


@dataclass(frozen=True)
class TensorEntry:
    """One tensor listed in a checkpoint index.

    Attributes:
        key: the checkpoint key (``model/layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE``).
        dtype: numpy dtype name (``float32``) or TensorFlow's name for types numpy lacks.
        shape: the tensor's shape.
        shard_id: which ``.data-NNNNN-of-MMMMM`` file holds the bytes.
        offset: byte offset of the tensor in that shard.
        size: byte length of the tensor in that shard.
        crc32c: the unmasked CRC32C of those bytes as recorded in the index, or None.
        sliced: True for a partitioned variable (bytes live in per-slice entries).
    """

    key: str
    dtype: str
    shape: tuple[int, ...]
    shard_id: int
    offset: int
    size: int
    crc32c: int | None
    sliced: bool = False

    @property
    def num_elements(self) -> int:
        count = 1
        for dim in self.shape:
            count *= dim
        return count


@dataclass(frozen=True)
class CheckpointIndex:
    """The decoded ``.index`` of one checkpoint prefix."""

    prefix: Path
    num_shards: int
    endianness: str
    version: dict[str, Any]
    entries: list[TensorEntry] = field(default_factory=list)

    def entry(self, key: str) -> TensorEntry:
        for entry in self.entries:
            if entry.key == key:
                return entry
        raise ReadError(f"{self.prefix}: checkpoint has no tensor named {key!r}")

    def shard_path(self, shard_id: int) -> Path:
        return data_shard_path(self.prefix, shard_id, self.num_shards)


def data_shard_path(prefix: Path, shard_id: int, num_shards: int) -> Path:
    """``PREFIX.data-0000i-of-0000n``."""
    return prefix.with_name(f"{prefix.name}.data-{shard_id:05d}-of-{num_shards:05d}")


def index_path(prefix: Path) -> Path:
    return prefix.with_name(prefix.name + ".index")


# --- CRC32C -------------------------------------------------------------------------------


def mask_crc(crc: int) -> int:
    """LevelDB's CRC masking (a rotation plus a constant), as stored in files."""
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _CRC_MASK_DELTA) & 0xFFFFFFFF


def unmask_crc(masked: int) -> int:
    rotated = (masked - _CRC_MASK_DELTA) & 0xFFFFFFFF
    return ((rotated >> 17) | (rotated << 15)) & 0xFFFFFFFF


def crc32c(data: bytes | memoryview, crc: int = 0) -> int:
    import google_crc32c

    return google_crc32c.extend(crc, bytes(data)) if crc else google_crc32c.value(bytes(data))


# --- LevelDB table ------------------------------------------------------------------------


def _block(data: bytes, offset: int, size: int, path: Path, what: str) -> bytes:
    if size > limits.MAX_INDEX_BLOCK_BYTES:
        raise ReadError(f"{path}: {what} block is {size} bytes, over convkit's limit of {limits.MAX_INDEX_BLOCK_BYTES}")
    end = offset + size
    if offset < 0 or end + BLOCK_TRAILER_BYTES > len(data):
        raise ReadError(f"{path}: {what} block at offset {offset} runs past the end of the file (truncated index?)")
    contents = data[offset:end]
    compression = data[end]
    (stored_crc,) = struct.unpack_from("<I", data, end + 1)
    actual = mask_crc(crc32c(data[offset : end + 1]))
    if actual != stored_crc:
        raise ReadError(f"{path}: {what} block at offset {offset} fails its CRC32C check (corrupt index)")
    if compression == 1:
        raise ReadError(f"{path}: {what} block is snappy-compressed, which convkit does not read")
    if compression != 0:
        raise ReadError(f"{path}: {what} block has unknown compression type {compression}")
    return contents


def _block_entries(block: bytes, path: Path, what: str) -> Iterator[tuple[bytes, bytes]]:
    if len(block) < 4:
        raise ReadError(f"{path}: {what} block is too short to hold its restart array")
    (num_restarts,) = struct.unpack_from("<I", block, len(block) - 4)
    restarts_at = len(block) - 4 - 4 * num_restarts
    if num_restarts == 0 or restarts_at < 0:
        raise ReadError(f"{path}: {what} block has an invalid restart array ({num_restarts} restarts)")
    restarts = set(struct.unpack_from(f"<{num_restarts}I", block, restarts_at))
    pos = 0
    key = b""
    try:
        while pos < restarts_at:
            at_restart = pos in restarts
            shared, pos = read_varint(block, pos, restarts_at, what)
            non_shared, pos = read_varint(block, pos, restarts_at, what)
            value_length, pos = read_varint(block, pos, restarts_at, what)
            if at_restart and shared:
                raise ValueError("a restart point shares a key prefix")
            if shared > len(key) or pos + non_shared + value_length > restarts_at:
                raise ValueError("an entry runs past its block")
            key = key[:shared] + block[pos : pos + non_shared]
            pos += non_shared
            yield key, block[pos : pos + value_length]
            pos += value_length
    except ValueError as error:
        raise ReadError(f"{path}: {what} block is malformed ({error})") from None


def _parse_handle(data: bytes, pos: int, end: int, path: Path) -> tuple[int, int, int]:
    try:
        offset, pos = read_varint(data, pos, end, "block handle")
        size, pos = read_varint(data, pos, end, "block handle")
    except ValueError:
        raise ReadError(f"{path}: malformed block handle in the index") from None
    return offset, size, pos


def read_table(path: Path) -> list[tuple[bytes, bytes]]:
    """All key/value pairs of the LevelDB-style table at ``path``, in key order.

    Raises:
        ReadError: not a table (bad magic), truncated, corrupt (CRC) or over the size limits.
    """
    data = limits.read_capped(path, limits.MAX_INDEX_BYTES, "checkpoint index")
    if len(data) < FOOTER_BYTES:
        raise ReadError(f"{path}: checkpoint index is {len(data)} bytes, too short for a table footer (truncated?)")
    footer_at = len(data) - FOOTER_BYTES
    (magic,) = struct.unpack_from("<Q", data, len(data) - 8)
    if magic != TABLE_MAGIC:
        raise ReadError(f"{path}: not a checkpoint index (bad table magic; truncated or not a TensorFlow checkpoint)")
    _meta_offset, _meta_size, pos = _parse_handle(data, footer_at, len(data) - 8, path)
    index_offset, index_size, _ = _parse_handle(data, pos, len(data) - 8, path)
    if index_offset + index_size + BLOCK_TRAILER_BYTES > footer_at:
        raise ReadError(f"{path}: index block handle points past the footer (corrupt index)")
    index_block = _block(data, index_offset, index_size, path, "index")
    pairs: list[tuple[bytes, bytes]] = []
    for _separator, handle in _block_entries(index_block, path, "index"):
        offset, size, _ = _parse_handle(handle, 0, len(handle), path)
        if offset + size + BLOCK_TRAILER_BYTES > footer_at:
            raise ReadError(f"{path}: data block handle points past the footer (corrupt index)")
        for pair in _block_entries(_block(data, offset, size, path, "data"), path, "data"):
            pairs.append(pair)
            if len(pairs) > limits.MAX_CHECKPOINT_ENTRIES + 1:
                raise ReadError(
                    f"{path}: checkpoint index lists more than {limits.MAX_CHECKPOINT_ENTRIES} tensors, over convkit's limit"
                )
    for (first, _), (second, _) in zip(pairs, pairs[1:]):
        if first >= second:
            raise ReadError(f"{path}: checkpoint index keys are not sorted (corrupt index)")
    return pairs


def _decode_header(value: bytes, path: Path) -> tuple[int, str, dict[str, Any]]:
    from google.protobuf.message import DecodeError

    try:
        header = protobuf.parse("BundleHeaderProto", value)
    except DecodeError:
        raise ReadError(f"{path}: checkpoint index header is not a BundleHeaderProto (corrupt index)") from None
    if not 0 <= header.num_shards <= limits.MAX_CHECKPOINT_SHARDS:
        raise ReadError(f"{path}: checkpoint index claims {header.num_shards} data shards, over convkit's limit")
    endianness = "big" if header.endianness == 1 else "little"
    version = {
        "producer": header.version.producer,
        "min_consumer": header.version.min_consumer,
        "bad_consumers": list(header.version.bad_consumers),
    }
    return header.num_shards, endianness, version


def _decode_entry(key: str, value: bytes, path: Path, num_shards: int) -> TensorEntry:
    from google.protobuf.message import DecodeError

    try:
        proto = protobuf.parse("BundleEntryProto", value)
    except DecodeError:
        raise ReadError(f"{path}: checkpoint entry {key!r} is not a BundleEntryProto (corrupt index)") from None
    shape = tuple(int(dim.size) for dim in proto.shape.dim)
    limits.check_shape(shape, path, f"tensor {key!r}")
    if proto.size < 0 or proto.offset < 0:
        raise ReadError(f"{path}: tensor {key!r} has a negative offset or size (corrupt index)")
    if not proto.slices and not 0 <= proto.shard_id < max(num_shards, 1):
        raise ReadError(f"{path}: tensor {key!r} names data shard {proto.shard_id} of {num_shards} (corrupt index)")
    return TensorEntry(
        key=key,
        dtype=protobuf.dtype_name(proto.dtype),
        shape=shape,
        shard_id=int(proto.shard_id),
        offset=int(proto.offset),
        size=int(proto.size),
        crc32c=unmask_crc(proto.crc32c) if proto.crc32c else None,
        sliced=bool(proto.slices),
    )


def read_index(prefix: Path) -> CheckpointIndex:
    """Decodes the ``.index`` of the tensor bundle at ``prefix`` (the exact prefix, not a folder).

    Raises:
        ReadError: missing, truncated, corrupt or over convkit's limits.
    """
    prefix = Path(prefix)
    path = index_path(prefix)
    pairs = read_table(path)
    if not pairs or pairs[0][0] != b"":
        raise ReadError(f"{path}: checkpoint index has no header entry (not a TensorFlow checkpoint)")
    num_shards, endianness, version = _decode_header(pairs[0][1], path)
    entries = []
    for raw_key, value in pairs[1:]:
        try:
            key = raw_key.decode("utf-8")
        except UnicodeDecodeError:
            raise ReadError(f"{path}: checkpoint index has a key that is not UTF-8 (corrupt index)") from None
        entries.append(_decode_entry(key, value, path, num_shards))
    return CheckpointIndex(prefix=prefix, num_shards=num_shards, endianness=endianness, version=version, entries=entries)


def _open_shard(shard: Path) -> BinaryIO:
    """A data shard, opened only when it is a regular file (a link or a FIFO is refused, never followed)."""
    if not os.path.lexists(shard):
        raise ReadError(f"{shard}: checkpoint data shard is missing")
    return open_regular(shard)


def _read_bytes(index: CheckpointIndex, entry: TensorEntry) -> bytes:
    shard = index.shard_path(entry.shard_id)
    try:
        with _open_shard(shard) as handle:
            handle.seek(0, 2)
            if entry.offset + entry.size > handle.tell():
                raise ReadError(
                    f"{shard}: tensor {entry.key!r} needs bytes {entry.offset}..{entry.offset + entry.size} "
                    f"but the shard holds {handle.tell()} (truncated data shard)"
                )
            handle.seek(entry.offset)
            data = handle.read(entry.size)
    except FileNotFoundError:
        raise ReadError(f"{shard}: checkpoint data shard is missing") from None
    except OSError as error:
        raise ReadError(f"{shard}: cannot read checkpoint data shard ({error.strerror or error})") from None
    # Strings are checksummed length by length (see verify); every other dtype over its raw bytes.
    if entry.crc32c is not None and entry.dtype not in ("string", "variant") and crc32c(data) != entry.crc32c:
        raise ReadError(
            f"{shard}: tensor {entry.key!r} fails its CRC32C check (corrupt data shard; "
            "convkit inspect --verify lists every damaged tensor)"
        )
    return data


def _decode_tensor(index: CheckpointIndex, entry: TensorEntry, data: bytes) -> Any:
    import numpy as np

    if entry.sliced:
        raise ReadError(f"{index.prefix}: tensor {entry.key!r} is a partitioned variable, which convkit does not read")
    if entry.dtype == "string":
        return _decode_strings(index, entry, data)
    try:
        dtype = np.dtype(_numpy_dtype(entry.dtype))
    except TypeError:
        raise ReadError(f"{index.prefix}: tensor {entry.key!r} has dtype {entry.dtype}, which convkit does not read") from None
    if index.endianness == "big":
        dtype = dtype.newbyteorder(">")
    if entry.num_elements * dtype.itemsize != len(data):
        raise ReadError(
            f"{index.prefix}: tensor {entry.key!r} holds {len(data)} bytes, but shape {list(entry.shape)} "
            f"of {entry.dtype} needs {entry.num_elements * dtype.itemsize} (corrupt checkpoint)"
        )
    array = np.frombuffer(data, dtype=dtype).reshape(entry.shape)
    return array.astype(dtype.newbyteorder("=")) if index.endianness == "big" else array.copy()


def _numpy_dtype(name: str) -> Any:
    if name == "bfloat16":
        import ml_dtypes

        return ml_dtypes.bfloat16
    if name in ("resource", "variant", "invalid") or name.startswith(("q", "dtype_")):
        raise TypeError(name)
    return name


def _decode_strings(index: CheckpointIndex, entry: TensorEntry, data: bytes) -> Any:
    # Layout: one varint length per element, a 4-byte masked CRC32C of those lengths, then the bytes.
    import numpy as np

    count = entry.num_elements
    lengths = []
    pos = 0
    try:
        for _ in range(count):
            length, pos = read_varint(data, pos, len(data), "string lengths")
            lengths.append(length)
    except ValueError:
        raise ReadError(f"{index.prefix}: string tensor {entry.key!r} has malformed lengths (corrupt checkpoint)") from None
    pos += 4
    if pos + sum(lengths) > len(data):
        raise ReadError(f"{index.prefix}: string tensor {entry.key!r} runs past its bytes (corrupt checkpoint)")
    values = []
    for length in lengths:
        values.append(data[pos : pos + length])
        pos += length
    return np.array(values, dtype=object).reshape(entry.shape)


def _string_scalar(index: CheckpointIndex, entry: TensorEntry, data: bytes) -> bytes:
    # The object graph is one string; decoding it without numpy keeps inspect's imports small.
    if entry.dtype != "string" or entry.num_elements != 1:
        raise ReadError(f"{index.prefix}: {entry.key} is not a scalar string (corrupt checkpoint)")
    try:
        length, pos = read_varint(data, 0, len(data), "string length")
    except ValueError:
        raise ReadError(f"{index.prefix}: {entry.key} has a malformed length (corrupt checkpoint)") from None
    pos += 4  # the masked CRC32C of the length
    if pos + length > len(data):
        raise ReadError(f"{index.prefix}: {entry.key} runs past its bytes (corrupt checkpoint)")
    return data[pos : pos + length]


def tensor_value(index: CheckpointIndex, entry: TensorEntry) -> Any:
    """The value of ``entry`` as a numpy array (strings as an object array of bytes)."""
    return _decode_tensor(index, entry, _read_bytes(index, entry))


def read_tensor(prefix: Path, key: str) -> Any:
    """The tensor stored under ``key`` as a numpy array (strings as an object array of bytes).

    Raises:
        ReadError: no such key, missing or truncated shard, unsupported dtype.
    """
    index = read_index(prefix)
    entry = index.entry(key)
    return _decode_tensor(index, entry, _read_bytes(index, entry))


def iter_tensors(prefix: Path) -> Iterator[tuple[str, Any]]:
    """Yields ``(key, array)`` for every tensor except the object graph, in key order."""
    index = read_index(prefix)
    for entry in index.entries:
        if entry.key == OBJECT_GRAPH_KEY:
            continue
        yield entry.key, _decode_tensor(index, entry, _read_bytes(index, entry))


def read_object_graph(prefix: Path) -> Any:
    """The ``TrackableObjectGraph`` proto stored in the checkpoint, or None for name-based checkpoints."""
    index = read_index(prefix)
    return object_graph(index)


def object_graph(index: CheckpointIndex) -> Any:
    from google.protobuf.message import DecodeError

    for entry in index.entries:
        if entry.key == OBJECT_GRAPH_KEY:
            break
    else:
        return None
    if entry.size > limits.MAX_PROTO_BYTES:
        raise ReadError(f"{index.prefix}: object graph is {entry.size} bytes, over convkit's limit of {limits.MAX_PROTO_BYTES}")
    serialized = _string_scalar(index, entry, _read_bytes(index, entry))
    graph = protobuf.trackable_object_graph_class()()
    try:
        graph.ParseFromString(serialized)
    except DecodeError:
        raise ReadError(f"{index.prefix}: object graph is not a TrackableObjectGraph (corrupt checkpoint)") from None
    return graph


def check_crc32c(index: CheckpointIndex) -> dict[str, Any]:
    """Recomputes the CRC32C of every tensor's bytes and compares with the index.

    Returns:
        ``{"checked": n, "ok": bool, "mismatches": [{"key", "expected", "actual"}]}``.
    """
    mismatches = []
    checked = 0
    for entry in index.entries:
        if entry.crc32c is None or entry.sliced or entry.dtype == "variant":
            continue
        actual = _string_tensor_crc(index, entry) if entry.dtype == "string" else _crc_of_range(index, entry)
        checked += 1
        if actual != entry.crc32c:
            mismatches.append({"key": entry.key, "expected": f"{entry.crc32c:08x}", "actual": f"{actual:08x}"})
    return {"checked": checked, "ok": not mismatches, "mismatches": mismatches}


def _string_tensor_crc(index: CheckpointIndex, entry: TensorEntry) -> int:
    # TensorFlow checksums each length as a fixed-width little-endian integer (4 bytes, or 8 for
    # lengths over 2**32 - 1), then the stored 4-byte length checksum, then the string bytes.
    data = _read_bytes(index, entry)
    crc = 0
    pos = 0
    try:
        for _ in range(entry.num_elements):
            length, pos = read_varint(data, pos, len(data), "string lengths")
            crc = crc32c(struct.pack("<I" if length <= 0xFFFFFFFF else "<Q", length), crc)
    except ValueError:
        raise ReadError(f"{index.prefix}: string tensor {entry.key!r} has malformed lengths (corrupt checkpoint)") from None
    return crc32c(data[pos:], crc) if pos < len(data) else crc


def _crc_of_range(index: CheckpointIndex, entry: TensorEntry) -> int:
    import google_crc32c

    shard = index.shard_path(entry.shard_id)
    crc = 0
    try:
        with _open_shard(shard) as handle:
            handle.seek(entry.offset)
            remaining = entry.size
            while remaining:
                chunk = handle.read(min(remaining, _READ_CHUNK))
                if not chunk:
                    raise ReadError(f"{shard}: data shard ends inside tensor {entry.key!r} (truncated data shard)")
                crc = google_crc32c.extend(crc, chunk)
                remaining -= len(chunk)
    except FileNotFoundError:
        raise ReadError(f"{shard}: checkpoint data shard is missing") from None
    return crc
