"""TensorFlow's C++ log lines never reach the terminal; ``--verbose`` shows them.

Real subprocesses with stderr captured, and without the TF_CPP_MIN_LOG_LEVEL
the test session sets, so only convkit's own silencing is measured.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

# Three TensorFlow start-ups and a check of nine copies: with the real-model tier (make test-models, CI).
pytestmark = pytest.mark.models

ROOT = Path(__file__).resolve().parents[2]
# Lines TensorFlow and XLA write from C++: absl's "I0000 00:00:..." / "W0000 ..." prefixes,
# TF's "2026-01-01 12:00:00.000000: I tensorflow/...", and absl's pre-initialisation warning.
TF_CPP_LINE = re.compile(r"^([IWEF]\d{4} \d\d:\d\d:\d\d|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] )|absl::InitializeLog",
                         re.MULTILINE)


def convkit(*args: object, timeout: int = 900) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "CONVKIT_VERBOSE")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "convkit", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=ROOT)


def test_convert_h5_to_savedmodel_prints_no_tensorflow_line(trained_k2: Path, tmp_path: Path) -> None:
    done = convkit("convert", trained_k2 / "my_model.h5", "--to", "savedmodel", "-o", tmp_path / "quiet")
    assert done.returncode == 0, done.stderr
    assert not TF_CPP_LINE.search(done.stderr), done.stderr
    assert (tmp_path / "quiet" / "saved_model.pb").is_file()

    loud = convkit("convert", trained_k2 / "my_model.h5", "--to", "savedmodel", "-o", tmp_path / "loud", "--verbose")
    assert loud.returncode == 0, loud.stderr
    assert TF_CPP_LINE.search(loud.stderr), "--verbose should show TensorFlow's own lines (else this test proves nothing)"


@pytest.mark.node
def test_check_all_formats_prints_no_tensorflow_line(trained_k3: Path, tmp_path: Path) -> None:
    # Also the Keras 3 case of tests/cli/test_check.py::test_all_formats_of_the_tutorial_model_pass.
    junit = tmp_path / "check.xml"
    done = convkit("check", "--all-formats", trained_k3 / "my_model.keras", "--json", "--junit-xml", junit)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not TF_CPP_LINE.search(done.stderr), done.stderr
    report = json.loads(done.stdout)
    assert report["status"] == "PASS" and report["inputs"]["count"] == 1000
    labels = [pair["model"]["label"] for pair in report["pairs"]]
    assert labels == ["ckpt", "savedmodel", "h5", "keras", "tfjs_layers", "tfjs_graph", "pb", "onnx", "tflite"]
    for pair in report["pairs"]:
        (output,) = pair["outputs"]
        assert output["passed"] and output["top1_agreement"] == 1.0 and output["max_abs"] < 1e-4
    suite = ElementTree.parse(junit).getroot().find("testsuite")
    assert suite.get("tests") == "9" and suite.get("failures") == "0" and suite.get("errors") == "0"


def test_a_failed_import_shows_what_was_captured(tmp_path: Path) -> None:
    # A module named tensorflow that writes to file descriptor 2 from below Python, then fails to import.
    fake = tmp_path / "tensorflow"
    fake.mkdir()
    (fake / "__init__.py").write_text("import os\nos.write(2, b'native line\\n')\nraise ImportError('broken build')\n")
    code = ("from convkit._tf import quiet_tensorflow\nquiet_tensorflow()\n"
            "try:\n    import tensorflow\nexcept ImportError as e:\n    print('caught', e)\n")
    env = dict(os.environ, PYTHONPATH=f"{tmp_path}{os.pathsep}{ROOT}")
    env.pop("CONVKIT_VERBOSE", None)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.stdout.strip() == "caught broken build"
    assert "native line" in done.stderr


def test_a_successful_import_keeps_its_native_lines_to_itself(tmp_path: Path) -> None:
    fake = tmp_path / "tensorflow"
    fake.mkdir()
    (fake / "__init__.py").write_text("import os\nos.write(2, b'native line\\n')\n")
    code = "from convkit._tf import quiet_tensorflow\nquiet_tensorflow()\nimport tensorflow\nimport sys\nprint('after', file=sys.stderr)\n"
    env = dict(os.environ, PYTHONPATH=f"{tmp_path}{os.pathsep}{ROOT}")
    env.pop("CONVKIT_VERBOSE", None)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "after\n"
    verbose = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=dict(env, CONVKIT_VERBOSE="1"), timeout=120)
    assert verbose.stderr == "native line\nafter\n"


@pytest.mark.parametrize("args, said", [
    (("convert", "my_model.h5", "--to", "nope"), "convkit convert: Invalid value for '--to'"),
    (("check", "a.keras", "--backend", "wasm"), "convkit check: No such option: --backend"),
    (("inspect",), "convkit inspect: Missing argument 'PATH'"),
])
def test_usage_error_is_one_error_line(args: tuple[str, ...], said: str) -> None:
    done = convkit(*args, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("Error: ") and said in done.stderr and done.stderr.count("\n") == 1, done.stderr
