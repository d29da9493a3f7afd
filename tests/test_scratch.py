"""A process's temporary folder lives as long as the process holding its lock, and not longer."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from convkit import scratch

ROOT = Path(__file__).resolve().parents[1]
HOLDER = "from convkit import scratch; print(scratch.claim(), flush=True); import sys; sys.stdin.read()"


def test_a_live_process_keeps_its_folder_and_a_dead_ones_goes(tmp_path):
    env = {**os.environ, "TMPDIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    holder = subprocess.Popen([sys.executable, "-c", HOLDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, env=env)
    folder = Path(holder.stdout.readline().strip())
    assert folder.parent == tmp_path and folder.name.startswith(scratch.PREFIX)
    assert sorted(p.name for p in folder.iterdir()) == [scratch.LOCK]  # locked before it bore the lock's name
    (folder / "staged.bin").write_bytes(b"x" * 1024)
    try:
        assert scratch.remove_abandoned(tmp_path) == [] and folder.is_dir()
    finally:
        holder.kill()
        holder.wait()
    assert scratch.remove_abandoned(tmp_path) == [folder] and not folder.exists()


def test_a_folder_without_its_lock_goes_only_once_it_is_no_longer_new(tmp_path):
    being_made = tmp_path / f"{scratch.PREFIX}new"
    left = tmp_path / f"{scratch.PREFIX}old"
    other = tmp_path / "convkit-export-unrelated"
    for folder in (being_made, left, other):
        folder.mkdir()
    an_hour_ago = time.time() - 3600
    os.utime(left, (an_hour_ago, an_hour_ago))
    os.utime(other, (an_hour_ago, an_hour_ago))
    assert scratch.remove_abandoned(tmp_path) == [left]
    assert being_made.is_dir() and other.is_dir()


def test_a_link_named_like_a_folder_is_not_followed(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep").write_text("mine")
    base = tmp_path / "tmp"
    base.mkdir()
    (base / f"{scratch.PREFIX}link").symlink_to(elsewhere)
    assert scratch.remove_abandoned(base) == []
    assert (elsewhere / "keep").read_text() == "mine"
