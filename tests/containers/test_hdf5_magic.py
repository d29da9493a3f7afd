"""Telling HDF5 from a ZIP archive by their first bytes."""

from __future__ import annotations

import zipfile
from pathlib import Path

from convkit.containers.hdf5 import HDF5_MAGIC, is_hdf5_file


def test_a_keras_archive_whose_weights_start_at_a_user_block_offset_is_no_hdf5(tmp_path: Path) -> None:
    """tf_keras stores model.weights.h5 uncompressed in a .keras: with a config of the right length its HDF5
    signature lands at offset 2048, where an HDF5 superblock may follow a user block. Such a .keras was read as a
    weights-only .h5 ("holds no architecture")."""
    path = tmp_path / "m.keras"
    header = 30  # a ZIP local file header before each member's name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("config.json", "x" * (2048 - 2 * header - len("config.json") - len("model.weights.h5")))
        archive.writestr("model.weights.h5", HDF5_MAGIC + bytes(64))
    assert path.read_bytes()[2048:2056] == HDF5_MAGIC
    assert not is_hdf5_file(path)
    plain = tmp_path / "m.h5"
    plain.write_bytes(bytes(512) + HDF5_MAGIC + bytes(64))  # a real user block
    assert is_hdf5_file(plain)
