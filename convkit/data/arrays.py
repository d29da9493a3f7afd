"""NumPy files as model inputs: an ``.npz`` holds one array per input name, an ``.npy`` one array.

Both are read without pickles, only as regular files (no link followed), and
under :data:`~convkit.containers.limits.MAX_INPUT_BYTES`; an ``.npz``'s members
are checked against the archive limits (a zip bomb) before one is read.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from convkit.containers import limits
from convkit.containers.files import open_regular
from convkit.containers.zip import ZIP_MAGIC, BadZipFile, ZipFile, check_members
from convkit.errors import ReadError

NPY_MAGIC = b"\x93NUMPY"
ZIP_EMPTY = b"PK\x05\x06"


def is_npz(head: bytes) -> bool:
    """Whether a file starting with ``head`` is a zip archive (``np.savez``; an empty one starts with its end)."""
    return head.startswith((ZIP_MAGIC, ZIP_EMPTY))


def is_npy(head: bytes) -> bool:
    """Whether a file starting with ``head`` is an ``.npy`` array."""
    return head.startswith(NPY_MAGIC)


def _check_size(handle: object, path: Path) -> None:
    size = os.fstat(handle.fileno()).st_size  # type: ignore[attr-defined]
    if size > limits.MAX_INPUT_BYTES:
        raise ReadError(f"{path}: the inputs file is {size} bytes, over convkit's limit of {limits.MAX_INPUT_BYTES}")


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of the ``.npz`` at ``path``, by name.

    Raises:
        ReadError: missing, a link, over the limits, not an ``.npz``, holding pickled objects or no array.
    """
    try:
        with open_regular(path) as handle:
            _check_size(handle, path)
            with ZipFile(handle) as archive:
                members = check_members(archive, path)
                declared = sum(int(member["bytes"]) for member in members)
                if declared > limits.MAX_INPUT_BYTES:
                    raise ReadError(f"{path}: the arrays expand to {declared} bytes, over convkit's limit of "
                                    f"{limits.MAX_INPUT_BYTES}")
            handle.seek(0)
            with np.load(handle, allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in npz.files}
    except ReadError:
        raise
    except (OSError, ValueError, BadZipFile, EOFError, KeyError) as error:
        raise ReadError(f"{path}: not a readable .npz file ({error})") from None
    if not arrays:
        raise ReadError(f"{path}: the .npz file holds no arrays")
    return arrays


def read_npy(path: Path) -> np.ndarray:
    """The array of the ``.npy`` at ``path``.

    Raises:
        ReadError: missing, a link, over the limit, not an ``.npy`` or holding pickled objects.
    """
    try:
        with open_regular(path) as handle:
            _check_size(handle, path)
            array = np.load(handle, allow_pickle=False)
    except ReadError:
        raise
    except (OSError, ValueError, EOFError) as error:
        raise ReadError(f"{path}: not a readable .npy file ({error})") from None
    if not isinstance(array, np.ndarray):
        raise ReadError(f"{path}: not an .npy array")
    return array
