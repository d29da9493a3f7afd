"""What a one-shot run of an ONNX or TFLite output costs: the runtime sized by the model, the file mapped, not read."""

from __future__ import annotations

import mmap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from convkit.formats import tflite as tflite_format
from convkit.registry import get_format
from convkit.runtimes.onnxruntime import OnnxRunner, open_onnx_once


@pytest.fixture(scope="module")
def outputs(trained_k3: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from convkit.convert import convert

    folder = tmp_path_factory.mktemp("smoke-runners")
    convert(trained_k3 / "my_model.keras", "onnx", folder / "m.onnx", smoke_run=False)
    convert(trained_k3 / "my_model.keras", "tflite", folder / "m.tflite", smoke_run=False)
    return {"onnx": folder / "m.onnx", "tflite": folder / "m.tflite"}


def _sessions(monkeypatch: pytest.MonkeyPatch) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    import onnxruntime

    made: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    real = onnxruntime.InferenceSession

    def recording(*args: Any, **kwargs: Any) -> Any:
        made.append((args, kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(onnxruntime, "InferenceSession", recording)
    return made


def _config(options: Any, key: str) -> str | None:
    try:
        return options.get_session_config_entry(key)
    except RuntimeError:  # onnxruntime's answer for a key never set
        return None


def test_the_onnx_smoke_run_has_no_arena_no_memory_patterns_and_no_prepacking(outputs, monkeypatch):
    sessions = _sessions(monkeypatch)
    assert get_format("onnx").resolve("smoke_runner") is open_onnx_once
    runner = open_onnx_once(outputs["onnx"], like=None, allow_unsafe=False, training=False)
    result = runner.infer({runner.inputs[0].name: np.zeros((2, 784), np.float32)})
    assert next(iter(result.values())).shape == (2, 10)
    (args, kwargs), = sessions
    assert args == (str(outputs["onnx"]),)  # from the path: onnxruntime reads the file itself
    options = runner._session.get_session_options()
    assert options.enable_cpu_mem_arena is False and options.enable_mem_pattern is False
    assert _config(options, "session.disable_prepacking") == "1"


def test_check_keeps_onnxruntime_defaults_for_its_many_batches(outputs, monkeypatch):
    sessions = _sessions(monkeypatch)
    runner = OnnxRunner(outputs["onnx"])
    runner.load()
    options = runner._session.get_session_options()
    assert options.enable_cpu_mem_arena is True and options.enable_mem_pattern is True
    assert _config(options, "session.disable_prepacking") is None
    assert sessions[0][0] == (str(outputs["onnx"]),)


def test_litert_and_convkit_map_the_tflite_file(outputs, monkeypatch):
    from ai_edge_litert import interpreter

    made: list[dict[str, Any]] = []
    real = interpreter.Interpreter

    def recording(*args: Any, **kwargs: Any) -> Any:
        made.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(interpreter, "Interpreter", recording)
    runner = get_format("tflite").resolve("runner")(outputs["tflite"], like=None, allow_unsafe=False, training=False)
    runner.infer({runner.inputs[0].name: np.zeros((2, 784), np.float32)})
    assert [sorted(kwargs) for kwargs in made] == [["model_path"]]  # LiteRT maps the file (no model_content)
    data, _model = tflite_format.read_model(outputs["tflite"])
    assert isinstance(data, mmap.mmap)  # convkit's own reading (Flex ops, quantization) maps it too
