"""How tensors cross to TF.js and back: raw little-endian bytes, one tensor after another, and a small
JSON header (names, dtypes, shapes, offsets), never JSON arrays of numbers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from convkit.errors import UsageError

_FEED_DTYPES = {"float16": "float32", "float32": "float32", "float64": "float32", "int8": "int32", "int16": "int32",
                "int32": "int32", "int64": "int32", "uint8": "int32", "uint16": "int32", "bool": "bool"}


def pack_tensors(tensors: list[tuple[str, np.ndarray]]) -> tuple[list[dict[str, Any]], bytes]:
    """Tensors as raw little-endian bytes, one after another, and a header entry for each."""
    entries = []
    payloads = []
    offset = 0
    for name, array in tensors:
        dtype = _FEED_DTYPES.get(str(np.asarray(array).dtype))
        if dtype is None:
            raise UsageError(f"input {name!r} has dtype {np.asarray(array).dtype}, which TF.js cannot take")
        raw = np.ascontiguousarray(array, dtype=np.dtype(dtype if dtype != "bool" else "uint8").newbyteorder("<"))
        payload = raw.tobytes()
        payloads.append(payload)
        entries.append({"name": name, "dtype": dtype, "shape": list(raw.shape), "offset": offset,
                        "byteLength": len(payload)})
        offset += len(payload)
    return entries, b"".join(payloads)


def unpack_tensors(entries: list[dict[str, Any]], data: bytes) -> dict[str, np.ndarray]:
    """The opposite of ``pack_tensors``: ``{name: array}`` from header entries and the bytes they describe."""
    numpy_dtypes = {"float32": "<f4", "int32": "<i4", "bool": "u1"}
    arrays = {}
    for entry in entries:
        chunk = data[entry["offset"] : entry["offset"] + entry["byteLength"]]
        array = np.frombuffer(chunk, dtype=numpy_dtypes[entry["dtype"]]).reshape(entry["shape"])
        arrays[entry["name"]] = array.astype(bool) if entry["dtype"] == "bool" else array.copy()
    return arrays


def write_tensors(header_path: Path, tensors: list[tuple[str, np.ndarray]]) -> None:
    """Writes tensors as one raw little-endian file plus a JSON header beside it."""
    entries, data = pack_tensors(tensors)
    data_path = header_path.with_name(header_path.name + ".bin")
    data_path.write_bytes(data)
    header_path.write_text(json.dumps({"data": data_path.name, "tensors": entries}))


def read_tensors(header_path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Reads what ``write_tensors`` (or the Node script) wrote: the header and ``{name: array}``."""
    header = json.loads(header_path.read_text())
    data = (header_path.parent / header["data"]).read_bytes()
    return header, unpack_tensors(header["tensors"], data)
