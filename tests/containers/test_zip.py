"""Zip members read for seeking readers (the HDF5 file inside a .keras archive): same bytes, bounded, damage named."""

from __future__ import annotations

import random
import struct
import zipfile
from pathlib import Path

import pytest

from convkit.containers.zip import ZipFile, check_members, open_member
from convkit.errors import ReadError

MEMBER = "model.weights.h5"


def _archive(path: Path, data: bytes, compression: int) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        archive.writestr("config.json", b"{}")
        archive.writestr(MEMBER, data)
        archive.writestr("after.txt", b"the member ends before this")
    return path


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_a_member_reads_the_same_bytes_at_every_seek(tmp_path: Path, compression: int) -> None:
    chooser = random.Random(5)
    data = bytes(chooser.getrandbits(8) for _ in range(300_000))
    path = _archive(tmp_path / "model.keras", data, compression)
    with ZipFile(path) as archive:
        check_members(archive, path)
        with open_member(archive, MEMBER, path) as member:
            for _ in range(200):  # back and forth, as libhdf5 reads
                start = chooser.randrange(len(data) + 10)
                length = chooser.randrange(1, 5000)
                member.seek(start)
                assert member.read(length) == data[start:start + length]
                assert member.tell() == min(start + length, max(start, len(data)))
            member.seek(-10, 2)
            assert member.read() == data[-10:]  # the end of the member, nothing of the next one


def test_a_stored_member_running_past_the_archive_is_one_read_error(tmp_path: Path) -> None:
    path = _archive(tmp_path / "model.keras", b"x" * 1000, zipfile.ZIP_STORED)
    raw = bytearray(path.read_bytes())
    # The central directory entry of the member claims 1 MB more than the archive holds.
    entry = raw.index(b"PK\x01\x02")
    while raw[entry + 46:entry + 46 + len(MEMBER)] != MEMBER.encode():
        entry = raw.index(b"PK\x01\x02", entry + 4)
    for field in (20, 24):  # compressed and uncompressed sizes
        raw[entry + field:entry + field + 4] = struct.pack("<L", 1000 + 2**20)
    path.write_bytes(bytes(raw))
    with ZipFile(path) as archive:
        with pytest.raises(ReadError, match="runs past the end of the archive"):
            open_member(archive, MEMBER, path)


def test_a_member_named_otherwise_in_its_local_header_is_refused(tmp_path: Path) -> None:
    path = _archive(tmp_path / "model.keras", b"x" * 1000, zipfile.ZIP_STORED)
    raw = bytearray(path.read_bytes())
    at = raw.index(MEMBER.encode())  # the local header's copy of the name comes first
    raw[at:at + 5] = b"other"
    path.write_bytes(bytes(raw))
    with ZipFile(path) as archive:
        with pytest.raises(ReadError, match="named differently in its local header"):
            open_member(archive, MEMBER, path)
