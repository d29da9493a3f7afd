"""Resource limits every reader enforces before it allocates or parses.

A hostile or corrupt file must fail with a ``ReadError`` naming the limit, not
exhaust memory. The values are generous for real models (a 1 GB SavedModel
fits) and small enough that a forged length field cannot take the machine down.
"""

from __future__ import annotations

import contextlib
import mmap
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from convkit.errors import ReadError

MiB = 1024 * 1024

# Serialised protobufs (saved_model.pb, keras_metadata.pb, fingerprint.pb, object graph).
MAX_PROTO_BYTES = 1024 * MiB
# A checkpoint `.index` file (LevelDB table) and any single block inside it.
MAX_INDEX_BYTES = 256 * MiB
MAX_INDEX_BLOCK_BYTES = 64 * MiB
# Tensors listed in one checkpoint index, and data shards it may name.
MAX_CHECKPOINT_ENTRIES = 1_000_000
MAX_CHECKPOINT_SHARDS = 100_000
# The text `checkpoint` state file next to a checkpoint.
MAX_STATE_FILE_BYTES = 1 * MiB
# JSON documents: model.json, config.json, metadata.json, HDF5 attributes.
MAX_JSON_BYTES = 64 * MiB
# Nesting of JSON arrays/objects; real Keras configs stay under 60 even with nested models.
MAX_JSON_DEPTH = 200
# HDF5: objects visited while walking the tree, bytes read from one attribute.
MAX_HDF5_OBJECTS = 200_000
MAX_HDF5_ATTR_BYTES = 64 * MiB
# .keras zip archive: members, total uncompressed size, and the ratio that marks a zip bomb.
MAX_ARCHIVE_MEMBERS = 10_000
MAX_ARCHIVE_BYTES = 16 * 1024 * MiB
MAX_COMPRESSION_RATIO = 200
# TF.js manifests: weight entries and shard files.
MAX_MANIFEST_WEIGHTS = 1_000_000
MAX_MANIFEST_SHARDS = 100_000
# One TF.js weight shard read whole by inspect --weights (converters write 4 MiB shards).
MAX_SHARD_BYTES = 4096 * MiB
# Layers in one model config, nested models included (the largest Keras applications have about 1,000).
MAX_LAYERS = 5_000
# TensorFlow graphs (GraphDef, MetaGraph, TF.js topologies): nodes counted over the graph and every
# function of its library, library functions, how deep function calls nest, and the bytes of one
# constant as TensorFlow would hold it (the largest real graphs have some 100,000 nodes).
MAX_GRAPH_NODES = 2_000_000
MAX_GRAPH_FUNCTIONS = 100_000
MAX_FUNCTION_NESTING = 64
MAX_CONST_BYTES = 4096 * MiB
# Tensor rank and element count accepted from any header.
MAX_TENSOR_RANK = 64
MAX_TENSOR_ELEMENTS = 1 << 40
# Data fed to models (check --inputs, convert --calibrate): an .npz/.npy/CSV file, the arrays made from all
# sources together, and the pixels of one image (checked from its header, before it is decoded).
MAX_INPUT_BYTES = 4096 * MiB
MAX_IMAGE_PIXELS = 89_478_485  # Pillow's own warning threshold

LIMITS = {
    "MAX_PROTO_BYTES": MAX_PROTO_BYTES,
    "MAX_INDEX_BYTES": MAX_INDEX_BYTES,
    "MAX_INDEX_BLOCK_BYTES": MAX_INDEX_BLOCK_BYTES,
    "MAX_CHECKPOINT_ENTRIES": MAX_CHECKPOINT_ENTRIES,
    "MAX_CHECKPOINT_SHARDS": MAX_CHECKPOINT_SHARDS,
    "MAX_STATE_FILE_BYTES": MAX_STATE_FILE_BYTES,
    "MAX_JSON_BYTES": MAX_JSON_BYTES,
    "MAX_JSON_DEPTH": MAX_JSON_DEPTH,
    "MAX_HDF5_OBJECTS": MAX_HDF5_OBJECTS,
    "MAX_HDF5_ATTR_BYTES": MAX_HDF5_ATTR_BYTES,
    "MAX_ARCHIVE_MEMBERS": MAX_ARCHIVE_MEMBERS,
    "MAX_ARCHIVE_BYTES": MAX_ARCHIVE_BYTES,
    "MAX_COMPRESSION_RATIO": MAX_COMPRESSION_RATIO,
    "MAX_MANIFEST_WEIGHTS": MAX_MANIFEST_WEIGHTS,
    "MAX_MANIFEST_SHARDS": MAX_MANIFEST_SHARDS,
    "MAX_SHARD_BYTES": MAX_SHARD_BYTES,
    "MAX_LAYERS": MAX_LAYERS,
    "MAX_GRAPH_NODES": MAX_GRAPH_NODES,
    "MAX_GRAPH_FUNCTIONS": MAX_GRAPH_FUNCTIONS,
    "MAX_FUNCTION_NESTING": MAX_FUNCTION_NESTING,
    "MAX_CONST_BYTES": MAX_CONST_BYTES,
    "MAX_TENSOR_RANK": MAX_TENSOR_RANK,
    "MAX_TENSOR_ELEMENTS": MAX_TENSOR_ELEMENTS,
    "MAX_INPUT_BYTES": MAX_INPUT_BYTES,
    "MAX_IMAGE_PIXELS": MAX_IMAGE_PIXELS,
}


def map_capped(path: Path, limit: int, what: str) -> bytes | mmap.mmap:
    """The bytes of ``path`` mapped read-only (only the pages read are loaded), refusing files over ``limit``.

    For formats read by offset (flatbuffers): parsing touches the structure's pages, never the weights'.

    Raises:
        ReadError: the file is missing, unreadable or larger than ``limit``.
    """
    with _capped_file(path, limit, what) as (handle, size):
        if size == 0:
            return b""
        return mmap.mmap(handle.fileno(), size, access=mmap.ACCESS_READ)


def read_capped(path: Path, limit: int, what: str) -> bytes:
    """The bytes of ``path``, refusing files over ``limit``.

    Raises:
        ReadError: the file is missing, unreadable or larger than ``limit``.
    """
    with _capped_file(path, limit, what) as (handle, _size):
        return handle.read(limit + 1)


@contextlib.contextmanager
def _capped_file(path: Path, limit: int, what: str) -> Iterator[tuple[BinaryIO, int]]:
    """``path`` open for reading with its size, refused over ``limit``; every failure, of the opening or of
    the block, one ReadError naming the file."""
    from convkit.containers.files import open_regular

    try:
        with open_regular(path) as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > limit:
                raise ReadError(f"{path}: {what} is {size} bytes, over convkit's limit of {limit} bytes")
            yield handle, size
    except FileNotFoundError:
        raise ReadError(f"{path}: {what} is missing") from None
    except IsADirectoryError:
        raise ReadError(f"{path}: expected a {what} file, found a directory") from None
    except OSError as error:
        raise ReadError(f"{path}: cannot read {what} ({error.strerror or error})") from None


def read_json(path: Path, what: str) -> object:
    """Parses the JSON document at ``path`` under ``MAX_JSON_BYTES``.

    Raises:
        ReadError: missing, too large, not UTF-8 or not JSON.
    """
    return parse_json(read_capped(path, MAX_JSON_BYTES, what), path, what)


def parse_json(data: bytes | str, path: Path, what: str) -> object:
    """Parses ``data`` (from ``path``) as JSON, with a one-line error on failure."""
    import json

    if len(data) > MAX_JSON_BYTES:
        raise ReadError(f"{path}: {what} is {len(data)} bytes, over convkit's limit of {MAX_JSON_BYTES} bytes")
    try:
        if isinstance(data, bytes):
            data = data.decode("utf-8")
        document = json.loads(data)
    except UnicodeDecodeError:
        raise ReadError(f"{path}: {what} is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise ReadError(f"{path}: {what} is not valid JSON ({error.msg} at line {error.lineno})") from None
    except ValueError as error:  # e.g. an integer over Python's 4300-digit limit
        raise ReadError(f"{path}: {what} cannot be read as JSON ({error})") from None
    except RecursionError:
        raise ReadError(f"{path}: {what} is nested too deeply to parse") from None
    check_json_depth(document, path, what)
    return document


def check_json_depth(document: object, path: Path, what: str) -> None:
    """Refuses JSON nested deeper than ``MAX_JSON_DEPTH`` (later code walks configs recursively)."""
    level = [document]
    for _depth in range(MAX_JSON_DEPTH + 1):
        level = [child for node in level if isinstance(node, (dict, list))
                 for child in (node.values() if isinstance(node, dict) else node) if isinstance(child, (dict, list))]
        if not level:
            return
    raise ReadError(f"{path}: {what} nests JSON deeper than convkit's limit of {MAX_JSON_DEPTH} levels")


def check_shape(shape: tuple[int, ...], path: Path, what: str) -> tuple[int, ...]:
    """Validates a tensor shape read from a header."""
    if len(shape) > MAX_TENSOR_RANK:
        raise ReadError(f"{path}: {what} has rank {len(shape)}, over convkit's limit of {MAX_TENSOR_RANK}")
    count = 1
    for dim in shape:
        if dim < 0:
            raise ReadError(f"{path}: {what} has a negative dimension in shape {list(shape)}")
        count *= dim
    if count > MAX_TENSOR_ELEMENTS:
        raise ReadError(f"{path}: {what} has {count} elements, over convkit's limit of {MAX_TENSOR_ELEMENTS}")
    return shape
