"""Special files git cannot hold (FIFOs, sockets, links to devices), full disks and checkpoint folders.

Made at run time in a temporary folder; each must end in exit 2 with one
``Error:`` line naming the entry, without a hang and without output left behind.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from convkit.cli.main import app
from tests.hostile._corpus import CORPUS, deadline

GOOD = CORPUS / "good"
SECONDS = 120


def _run(args: list[str]):
    with deadline(SECONDS):
        return CliRunner().invoke(app, args)


def _assert_refused(result, name: str) -> None:
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert len(errors) == 1 and name in errors[0], result.stderr


def _tfjs_with(tmp_path: Path, entry: str, make) -> Path:
    model = tmp_path / "model_tfjs"
    shutil.copytree(GOOD / "tiny_tfjs", model)
    target = model / entry
    target.unlink(missing_ok=True)
    make(target)
    return model


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _socket(path: Path) -> None:
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.close()


def _zero_link(path: Path) -> None:
    path.symlink_to("/dev/zero")


SPECIAL = [("model.json", _fifo, "FIFO"), ("group1-shard1of1.bin", _fifo, "FIFO"),
           ("group1-shard1of1.bin", _socket, "socket"), ("group1-shard1of1.bin", _zero_link, "symbolic link"),
           ("extra.bin", _socket, "socket")]


@pytest.mark.parametrize("entry, make, kind", SPECIAL, ids=[f"{e}-{k}" for e, _, k in SPECIAL])
def test_special_entries_are_refused_by_every_command(tmp_path: Path, entry: str, make, kind: str) -> None:
    model = _tfjs_with(tmp_path, entry, make)
    out = tmp_path / "out"
    for args in (["convert", str(model), "--to", "tfjs", "-o", str(out / "copy")],
                 ["convert", str(model), "--to", "h5", "-o", str(out / "copy.h5")],
                 ["check", str(GOOD / "tiny_k2.h5"), str(model)]):
        result = _run(args)
        if args[0] == "check":
            assert result.exit_code == 1 or result.exit_code == 2, result.output  # an ERROR row is a failed check
            assert entry in result.output + result.stderr and kind in result.output + result.stderr
        else:
            _assert_refused(result, entry)
            assert kind in result.stderr
        assert not out.exists() or not any(out.iterdir())
    if entry == "model.json":
        _assert_refused(_run(["inspect", str(model), "--format", "tfjs"]), entry)


def test_a_link_as_the_model_file_is_refused(tmp_path: Path) -> None:
    link = tmp_path / "model.h5"
    link.symlink_to(GOOD / "tiny_k2.h5")
    for args in (["convert", str(link), "--to", "keras", "-o", str(tmp_path / "x.keras")],):
        _assert_refused(_run(args), "model.h5")
    assert not (tmp_path / "x.keras").exists()


def test_a_graph_copy_never_copies_through_a_link(tmp_path: Path) -> None:
    saved_model = tmp_path / "sm"
    shutil.copytree(GOOD / "tiny_savedmodel", saved_model)
    secret = tmp_path / "secret.txt"
    secret.write_text("not part of any model\n")
    (saved_model / "assets").mkdir(exist_ok=True)
    (saved_model / "assets" / "leak.txt").symlink_to(secret)
    result = _run(["convert", str(saved_model), "--to", "savedmodel", "-o", str(tmp_path / "copy")])
    _assert_refused(result, "leak.txt")
    assert not (tmp_path / "copy").exists()


def test_no_space_left_is_one_line_and_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = os.write
    written = {"bytes": 0}

    def full_disk(fd: int, data) -> int:
        written["bytes"] += len(data)
        if written["bytes"] > 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    def full_disk_copy(*_args: object) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    # The shard writer moves weight bytes with os.write and os.copy_file_range: the disk fills there.
    monkeypatch.setattr(os, "write", full_disk)
    monkeypatch.setattr(os, "copy_file_range", full_disk_copy)
    out = tmp_path / "out" / "model_tfjs"
    result = _run(["convert", str(GOOD / "tiny_k2.h5"), "--to", "tfjs", "-o", str(out)])
    monkeypatch.undo()
    _assert_refused(result, "model_tfjs")
    assert "no space left on device writing" in result.stderr
    assert not out.exists() and list((tmp_path / "out").iterdir()) == []


def test_a_checkpoint_into_an_existing_folder_is_one_rename(tmp_path: Path) -> None:
    folder = tmp_path / "ckpts"
    folder.mkdir()
    (folder / "notes.txt").write_text("kept\n")
    first = _run(["convert", str(GOOD / "tiny_k2.h5"), "--to", "ckpt", "-o", str(folder / "a")])
    assert first.exit_code == 0, first.output
    second = _run(["convert", str(GOOD / "tiny_k2.h5"), "--to", "ckpt", "-o", str(folder / "b")])
    assert second.exit_code == 0, second.output
    names = sorted(p.name for p in folder.iterdir())
    assert "notes.txt" in names and "a.index" in names and "b.index" in names and "checkpoint" in names
    assert not [p for p in tmp_path.iterdir() if p.name != "ckpts"], "something was left beside the folder"
    state = (folder / "checkpoint").read_text()
    assert 'model_checkpoint_path: "b"' in state and 'all_model_checkpoint_paths: "a"' in state
    before = (folder / "a.index").read_bytes()
    again = _run(["convert", str(GOOD / "tiny_k2.h5"), "--to", "ckpt", "-o", str(folder / "a")])
    _assert_refused(again, "a")
    assert "--overwrite" in again.stderr and (folder / "a.index").read_bytes() == before
    import tensorflow as tf

    assert tf.train.latest_checkpoint(str(folder)) == str(folder / "b")
