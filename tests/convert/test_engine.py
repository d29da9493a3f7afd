"""The route engine's one straight route: the source screened and read once, --no-verify the same for every target.

Spies wrap the real functions (counting calls, passing every call through), so
what is counted is what a real conversion does.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from convkit.convert import convert
from convkit.registry import formats

OUTPUT_NAMES = {"ckpt": "out_ckpt/ckpt", "savedmodel": "out_savedmodel", "h5": "out.h5", "keras": "out.keras",
                "tfjs": "out_tfjs", "pb": "out.pb", "onnx": "out.onnx", "tflite": "out.tflite"}


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small Keras 3 MLP with random weights, an optimizer and compile settings, as .keras and .h5."""
    import keras

    folder = tmp_path_factory.mktemp("small")
    model = keras.Sequential([keras.Input((6,), name="features"), keras.layers.Dense(5, activation="relu"),
                              keras.layers.Dense(3, name="scores")], name="small")
    rng = np.random.default_rng(4)
    for variable in model.weights:
        variable.assign(rng.normal(0.0, 0.5, size=tuple(variable.shape)).astype("float32"))
    model.compile(optimizer="adam", loss="mse")
    model.fit(rng.random((8, 6)).astype("float32"), rng.random((8, 3)).astype("float32"), epochs=1, verbose=0)
    model.save(folder / "small.keras")
    model.save(folder / "small.h5")
    return {"keras": folder / "small.keras", "h5": folder / "small.h5"}


def _counting(calls: list[Any], function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[0] if args else None)
        return function(*args, **kwargs)

    return counted


def _spy(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> list[Any]:
    calls: list[Any] = []
    monkeypatch.setattr(owner, name, _counting(calls, getattr(owner, name)))
    return calls


def _runtime_spies(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """Every way a written output could be run: the smoke run, any runner's load, onnxruntime and LiteRT sessions."""
    import ai_edge_litert.interpreter
    import onnxruntime
    import tensorflow as tf

    from convkit.runtimes import base, smoke

    return {
        "smoke_run": _spy(monkeypatch, smoke, "smoke_run"),
        "Runner.load": _spy(monkeypatch, base.Runner, "load"),
        "onnxruntime": _spy(monkeypatch, onnxruntime, "InferenceSession"),
        "LiteRT": _spy(monkeypatch, ai_edge_litert.interpreter, "Interpreter"),
        "tf.lite": _spy(monkeypatch, tf.lite, "Interpreter"),
    }


def test_every_writable_format_is_covered_below() -> None:
    assert {fmt.name for fmt in formats() if fmt.writer} == set(OUTPUT_NAMES)


@pytest.mark.parametrize("to", sorted(OUTPUT_NAMES))
def test_no_verify_skips_the_smoke_run_for_every_target(to: str, small: dict[str, Path], tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    spies = _runtime_spies(monkeypatch)
    out = tmp_path / OUTPUT_NAMES[to]
    result = convert(small["h5"], to, out, smoke_run=False)
    assert result.to == to
    assert out.exists() or out.with_name(out.name + ".index").exists()
    assert {name: len(calls) for name, calls in spies.items()} == dict.fromkeys(spies, 0)


@pytest.mark.parametrize("to", ["onnx", "tflite", "h5"])
def test_the_smoke_run_runs_the_output_in_its_runtime(to: str, small: dict[str, Path], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # The spies of the test above see a smoke run when there is one (ONNX and TFLite once ran their own).
    spies = _runtime_spies(monkeypatch)
    out = tmp_path / OUTPUT_NAMES[to]
    convert(small["h5"], to, out)
    assert len(spies["smoke_run"]) == 1 and len(spies["Runner.load"]) >= 1
    runtime = {"onnx": "onnxruntime", "tflite": "LiteRT"}.get(to)
    if runtime is not None:
        assert len(spies[runtime]) == 1


@pytest.mark.parametrize(("source", "to"), [("keras", "keras"), ("h5", "tfjs"), ("keras", "h5"), ("h5", "onnx")])
def test_the_source_is_screened_once_and_read_once(source: str, to: str, small: dict[str, Path], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from convkit.formats import hdf5, keras_archive
    from convkit.policy import screening
    from convkit.runtimes.keras import read

    src = small[source]
    screens = _spy(monkeypatch, screening, "screen")
    reads = _spy(monkeypatch, read, "read_model")
    readers = _spy(monkeypatch, {"keras": keras_archive, "h5": hdf5}[source], "read")
    convert(src, to, tmp_path / OUTPUT_NAMES[to])
    assert [Path(path) for path in screens if Path(path) == src] == [src]
    assert [Path(path) for path in reads] == [src]
    assert [Path(path) for path in readers] == [src]


def test_a_weights_only_source_reads_its_architecture_once(small: dict[str, Path], tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from convkit.policy import screening
    from convkit.runtimes.keras import read

    prefix = tmp_path / "ck" / "ckpt"
    convert(small["h5"], "ckpt", prefix, smoke_run=False)
    screens = _spy(monkeypatch, screening, "screen")
    reads = _spy(monkeypatch, read, "read_model")
    convert(prefix, "keras", tmp_path / "back.keras", like=small["keras"], smoke_run=False)
    assert sorted(map(str, screens)) == sorted(map(str, [prefix, small["keras"]]))
    assert sorted(map(str, reads)) == sorted(map(str, [prefix, small["keras"]]))
