"""NumPy files as model inputs: an ``.npz`` holds one array per input name, an ``.npy`` one array.

Both are read as data, never with pickles, only as regular files (no link
followed), and under :data:`~convkit.containers.limits.MAX_INPUT_BYTES`. Each
array's header (dtype, shape) is parsed first and must account for exactly
the bytes that follow it, so a forged shape never makes convkit allocate what
the file does not hold; an ``.npz``'s members are checked against the archive
limits (a zip bomb) before one is read.
"""

from __future__ import annotations

import os
import tokenize
from pathlib import Path
from typing import IO

import numpy as np

from convkit.containers import limits
from convkit.containers.files import open_regular
from convkit.containers.zip import ZIP_MAGIC, BadZipFile, ZipFile, check_members
from convkit.errors import MALFORMED, ReadError

NPY_MAGIC = b"\x93NUMPY"
ZIP_EMPTY = b"PK\x05\x06"
# What numpy's header parser raises on a damaged header (it tokenizes a Python literal).
_BAD_HEADER: tuple[type[BaseException], ...] = (*MALFORMED, SyntaxError, tokenize.TokenError)
_BAD_ARCHIVE: tuple[type[BaseException], ...] = (*MALFORMED, BadZipFile)


def is_npz(head: bytes) -> bool:
    """Whether a file starting with ``head`` is a zip archive (``np.savez``; an empty one starts with its end)."""
    return head.startswith((ZIP_MAGIC, ZIP_EMPTY))


def is_npy(head: bytes) -> bool:
    """Whether a file starting with ``head`` is an ``.npy`` array."""
    return head.startswith(NPY_MAGIC)


def _array(stream: IO[bytes], size: int, path: Path, what: str) -> np.ndarray:
    """The ``.npy`` array in ``stream`` (``size`` bytes in all), its header checked against its data."""
    from numpy.lib import format as npy

    try:
        version = npy.read_magic(stream)
        if version == (1, 0):
            shape, fortran_order, dtype = npy.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, fortran_order, dtype = npy.read_array_header_2_0(stream)
        else:
            raise ReadError(f"{path}: {what} is an .npy of version {version}, which convkit does not read")
    except ReadError:
        raise
    except _BAD_HEADER as error:
        raise ReadError(f"{path}: {what} has no readable .npy header ({error})") from None
    if dtype.hasobject:
        raise ReadError(f"{path}: {what} holds Python objects, which convkit does not unpickle")
    declared = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize if all(dim >= 0 for dim in shape) else -1
    header = stream.tell()
    if declared != size - header:
        raise ReadError(f"{path}: {what} declares {list(shape)} {dtype} ({declared} bytes), but holds "
                        f"{size - header} bytes of data")
    data = stream.read(declared)
    if len(data) != declared:
        raise ReadError(f"{path}: {what} ends after {len(data)} of its {declared} bytes")
    return np.frombuffer(data, dtype).reshape(shape, order="F" if fortran_order else "C")


def _checked_size(handle: IO[bytes], path: Path) -> int:
    size = os.fstat(handle.fileno()).st_size
    if size > limits.MAX_INPUT_BYTES:
        raise ReadError(f"{path}: the inputs file is {size} bytes, over convkit's limit of {limits.MAX_INPUT_BYTES}")
    return size


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of the ``.npz`` at ``path``, by name.

    Raises:
        ReadError: missing, a link, over the limits, not an ``.npz``, a member that is not an array
            or whose header does not match its data, Python objects, or no array.
    """
    arrays = {}
    try:
        with open_regular(path) as handle:
            _checked_size(handle, path)
            with ZipFile(handle) as archive:
                members = check_members(archive, path)
                declared = sum(int(member["bytes"]) for member in members)
                if declared > limits.MAX_INPUT_BYTES:
                    raise ReadError(f"{path}: the arrays expand to {declared} bytes, over convkit's limit of "
                                    f"{limits.MAX_INPUT_BYTES}")
                for info in archive.infolist():
                    name = info.filename.removesuffix(".npy")
                    with archive.open(info) as stream:
                        arrays[name] = _array(stream, info.file_size, path, f"member {info.filename!r}")
    except ReadError:
        raise
    except _BAD_ARCHIVE as error:
        raise ReadError(f"{path}: not a readable .npz file ({error})") from None
    if not arrays:
        raise ReadError(f"{path}: the .npz file holds no arrays")
    return arrays


def read_npy(path: Path) -> np.ndarray:
    """The array of the ``.npy`` at ``path``.

    Raises:
        ReadError: missing, a link, over the limit, a header that does not match the data, or Python objects.
    """
    try:
        with open_regular(path) as handle:
            return _array(handle, _checked_size(handle, path), path, "the array")
    except ReadError:
        raise
    except MALFORMED as error:
        raise ReadError(f"{path}: not a readable .npy file ({error})") from None
