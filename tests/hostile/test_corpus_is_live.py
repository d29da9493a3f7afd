"""The corpus is what it claims: its Lambda layers really run code, and the generator is deterministic.

Without these, "no marker file appeared" could pass because the marker code never
worked. Keras and tf_keras load the files here in a child process, with code
execution allowed on purpose, and the marker must appear.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hostile._corpus import CORPUS, MARKER_ENV, ROOT

LOAD_UNSAFELY = """
import sys
import keras, tf_keras
keras.models.load_model(sys.argv[1], safe_mode=False)
tf_keras.models.load_model(sys.argv[2])
"""


def test_lambda_files_run_their_code_when_keras_is_told_to_trust_them(tmp_path: Path) -> None:
    marker = tmp_path / "marker.txt"
    env = dict(os.environ, **{MARKER_ENV: str(marker)}, TF_CPP_MIN_LOG_LEVEL="3")
    completed = subprocess.run(
        [sys.executable, "-c", LOAD_UNSAFELY, str(CORPUS / "cases" / "lambda.keras"), str(CORPUS / "cases" / "lambda_k2.h5")],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert marker.read_text().count("code from a model file ran") >= 2


@pytest.mark.slow
def test_make_corpus_rewrites_the_same_bytes(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, str(CORPUS / "make_corpus.py"), "--out", str(tmp_path)],
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"), capture_output=True, text=True, timeout=600, cwd=ROOT,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    for name in ("good", "cases", "cases.json", "known_hangs.json", "README.md"):
        committed, rewritten = _contents(CORPUS / name), _contents(tmp_path / name)
        assert committed.keys() == rewritten.keys(), name
        # Keras 3 export() lists _all_variables in object-identity order, so SavedModel bytes vary
        # between runs; their files must still match in name and size.
        differing = [key for key in committed if committed[key] != rewritten[key]
                     and not ("savedmodel" in f"{name}/{key}" and len(committed[key]) == len(rewritten[key]))]
        assert not differing, differing


def _contents(root: Path) -> dict[str, object]:
    """Relative path -> bytes (link target for links, which are never followed: one points at /dev/zero)."""
    paths = [root] if root.is_file() else sorted(root.rglob("*"))
    found: dict[str, object] = {}
    for path in paths:
        key = str(path.relative_to(root)) if path != root else "."
        if path.is_symlink():
            found[key] = ("link", os.readlink(path))
        elif path.is_file():
            found[key] = path.read_bytes()
    return found


LOAD_ESCAPED_LAMBDA = """
import sys
import numpy as np
import tf_keras
model = tf_keras.models.load_model(sys.argv[1])
model(np.zeros((1, 4), np.float32))
"""

RUN_WRITE_FILE_GRAPH = """
import sys
import tensorflow as tf
loaded = tf.saved_model.load(sys.argv[1])
loaded.signatures["serving_default"](x=tf.zeros((1, 4)))
"""


@pytest.mark.slow  # the corpus is live; make test keeps the Lambda files' case
def test_the_escaped_lambda_runs_when_tf_keras_loads_it(tmp_path: Path) -> None:
    marker = tmp_path / "marker.txt"
    env = dict(os.environ, **{MARKER_ENV: str(marker)}, TF_CPP_MIN_LOG_LEVEL="3")
    completed = subprocess.run(
        [sys.executable, "-c", LOAD_ESCAPED_LAMBDA, str(CORPUS / "cases" / "code_metadata_escape_savedmodel")],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "code from a model file ran" in marker.read_text()


@pytest.mark.slow  # the corpus is live; make test keeps the Lambda files' case
def test_the_write_file_graph_writes_when_tensorflow_runs_it() -> None:
    from tests.hostile._corpus import ESCAPE_NAME

    escape = Path("/tmp") / ESCAPE_NAME
    existed = escape.exists()
    completed = subprocess.run(
        [sys.executable, "-c", RUN_WRITE_FILE_GRAPH, str(CORPUS / "cases" / "savedmodel_write_file_op")],
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"), capture_output=True, text=True, timeout=300,
    )
    try:
        assert completed.returncode == 0, completed.stderr[-2000:]
        assert escape.read_text() == "written by a model's graph\n"
    finally:
        if not existed:
            escape.unlink(missing_ok=True)
