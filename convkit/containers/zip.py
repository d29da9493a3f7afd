"""Zip archives (``.keras``), read in place and never extracted, under convkit's limits.

Members are listed and checked against the member-count, total-size and
compression-ratio limits before any is read; JSON members are size-capped and
parsed with depth limits; a member a reader seeks in (the HDF5 weights) is
opened by ``open_member``, in place where it is stored uncompressed.
"""

from __future__ import annotations

import io
import shutil
import struct
import tempfile
from pathlib import Path
from typing import IO, Any
from zipfile import ZIP_DEFLATED, ZIP_STORED, BadZipFile, ZipFile

from convkit.containers import limits
from convkit.errors import ReadError

__all__ = ["ZIP_MAGIC", "BadZipFile", "ZipFile", "check_members", "json_member", "open_member"]

ZIP_MAGIC = b"PK\x03\x04"
# A member's local header: signature, version, flags, method, time, date, CRC-32, sizes, name and extra lengths.
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")
_ENCRYPTED = 0x1


def check_members(archive: ZipFile, path: Path) -> list[dict[str, Any]]:
    """The archive's members, checked against the member-count, size and zip-bomb limits before any is read."""
    infos = archive.infolist()
    if len(infos) > limits.MAX_ARCHIVE_MEMBERS:
        raise ReadError(f"{path}: archive holds {len(infos)} members, over convkit's limit of {limits.MAX_ARCHIVE_MEMBERS}")
    names = [info.filename for info in infos]
    if len(set(names)) != len(names):
        twice = sorted({name for name in names if names.count(name) > 1})[0]
        raise ReadError(f"{path}: archive holds two members named {twice!r}; which one a reader takes is undefined")
    total = 0
    rows = []
    for info in infos:
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > 1024 * 1024 and ratio > limits.MAX_COMPRESSION_RATIO:
            raise ReadError(
                f"{path}: member {info.filename!r} expands {ratio:.0f}x, over convkit's limit of "
                f"{limits.MAX_COMPRESSION_RATIO}x (zip bomb?)"
            )
        rows.append({
            "name": info.filename,
            "bytes": info.file_size,
            "compressed_bytes": info.compress_size,
            "compression": {ZIP_STORED: "stored", ZIP_DEFLATED: "deflated"}.get(info.compress_type, str(info.compress_type)),
        })
    if total > limits.MAX_ARCHIVE_BYTES:
        raise ReadError(f"{path}: archive expands to {total} bytes, over convkit's limit of {limits.MAX_ARCHIVE_BYTES}")
    return rows


def json_member(archive: ZipFile, name: str, path: Path) -> Any:
    info = archive.getinfo(name)
    if info.file_size > limits.MAX_JSON_BYTES:
        raise ReadError(f"{path}: {name} is {info.file_size} bytes, over convkit's limit of {limits.MAX_JSON_BYTES}")
    try:
        data = archive.read(name)
    except (BadZipFile, OSError, EOFError) as error:
        raise ReadError(f"{path}: cannot read {name} from the archive ({error})") from None
    return limits.parse_json(data, path, name)


def text_member(archive: ZipFile, name: str, path: Path) -> str:
    """A UTF-8 text member (a vocabulary file), under the JSON size limit."""
    info = archive.getinfo(name)
    if info.file_size > limits.MAX_JSON_BYTES:
        raise ReadError(f"{path}: {name} is {info.file_size} bytes, over convkit's limit of {limits.MAX_JSON_BYTES}")
    try:
        return archive.read(name).decode("utf-8")
    except (BadZipFile, OSError, EOFError, UnicodeDecodeError) as error:
        raise ReadError(f"{path}: cannot read {name} from the archive ({error})") from None
def open_member(archive: ZipFile, name: str, path: Path) -> IO[bytes]:
    """Member ``name`` as a seekable binary file, for readers that seek back and forth (HDF5).

    zipfile's own member reader goes back to the member's start and reads (and checksums) it
    again on every backward seek, which made walking the HDF5 file inside a 100 MB ``.keras``
    archive take 10 s. A stored member is read in place instead, as a window onto the
    archive's bytes; a compressed one is inflated once into an anonymous temporary file (never
    next to the input). Call :func:`check_members` first: its limits bound what is inflated.

    Raises:
        ReadError: the member is missing, encrypted, or its header or data lie outside the archive.
    """
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise ReadError(f"{path}: the archive has no member {name!r}") from None
    if info.flag_bits & _ENCRYPTED:
        raise ReadError(f"{path}: member {name!r} is encrypted; convkit reads unencrypted archives only")
    if info.compress_type != ZIP_STORED:
        inflated = tempfile.TemporaryFile(prefix="convkit-member-")
        try:
            with archive.open(info) as source:
                shutil.copyfileobj(source, inflated, 16 * 1024 * 1024)
            inflated.seek(0)
        except (BadZipFile, OSError, EOFError, NotImplementedError) as error:
            inflated.close()
            raise ReadError(f"{path}: cannot read {name} from the archive ({error})") from None
        return inflated
    return io.BufferedReader(_StoredMember(path, info))


class _StoredMember(io.RawIOBase):
    """A stored (uncompressed) zip member read in place: every seek is free, no read leaves the member."""

    def __init__(self, path: Path, info: Any) -> None:
        super().__init__()
        self._file = open(path, "rb")  # noqa: SIM115 - closed by close()
        try:
            self._start = self._data_start(path, info)
        except BaseException:
            self._file.close()
            raise
        self._size = int(info.file_size)
        self._position = 0

    def _data_start(self, path: Path, info: Any) -> int:
        self._file.seek(info.header_offset)
        header = self._file.read(_LOCAL_HEADER.size)
        if len(header) != _LOCAL_HEADER.size or header[:4] != ZIP_MAGIC:
            raise ReadError(f"{path}: member {info.filename!r} has no local header where the directory says (damaged archive)")
        fields = _LOCAL_HEADER.unpack(header)
        name_length, extra_length = fields[-2], fields[-1]
        if self._file.read(name_length) != info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437"):
            raise ReadError(f"{path}: member {info.filename!r} is named differently in its local header (damaged archive)")
        start = info.header_offset + _LOCAL_HEADER.size + name_length + extra_length
        end = self._file.seek(0, io.SEEK_END)
        if info.compress_size != info.file_size or start + info.file_size > end:
            raise ReadError(f"{path}: member {info.filename!r} runs past the end of the archive (truncated?)")
        return start

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        wanted = max(0, min(len(view), self._size - self._position))
        if not wanted:
            return 0
        self._file.seek(self._start + self._position)
        got = self._file.readinto(view[:wanted]) or 0
        self._position += got
        return got

    def close(self) -> None:
        if not self.closed:
            self._file.close()
        super().close()
