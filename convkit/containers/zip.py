"""Zip archives (``.keras``), read in place and never extracted, under convkit's limits.

Members are listed and checked against the member-count, total-size and
compression-ratio limits before any is read; JSON members are size-capped and
parsed with depth limits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zipfile import ZIP_DEFLATED, ZIP_STORED, BadZipFile, ZipFile

from convkit.containers import limits
from convkit.errors import ReadError

__all__ = ["ZIP_MAGIC", "BadZipFile", "ZipFile", "check_members", "json_member"]

ZIP_MAGIC = b"PK\x03\x04"


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
