"""Runners, one per runtime: each loads a model and answers ``infer(feed) -> {output: array}``.

``open_runner(path)`` picks the runtime a file belongs to: Keras 3 for ``.keras``
and HDF5 files written by Keras 3, tf_keras for files written by Keras 2
(HDF5 ``keras_version`` 2.x, SavedModels with ``keras_metadata.pb``),
TensorFlow signatures for other SavedModels, TF.js under Node for ``model.json``,
onnxruntime for ``.onnx``, LiteRT for ``.tflite``, and the architecture of ``like`` for weights-only files.
"""

from __future__ import annotations

from pathlib import Path

from convkit.check.runners._keras_common import KerasModelRunner, h5_keras_attributes, keras_archive_version
from convkit.check.runners.base import Runner, TensorSpec
from convkit.errors import ReadError, UsageError
from convkit.formats._isolate import preflight
from convkit.registry import detect

__all__ = ["KerasModelRunner", "Runner", "TensorSpec", "open_runner", "is_weights_only"]


def is_weights_only(path: Path) -> bool:
    """Whether ``path`` holds weights without an architecture (checkpoints, weights-only HDF5)."""
    name = detect(path).name
    if name == "ckpt":
        return True
    if name == "h5":
        return "model_config" not in h5_keras_attributes(Path(path))
    return False


def open_runner(
    path: str | Path,
    *,
    like: str | Path | None = None,
    allow_unsafe: bool = False,
    training: bool = False,
) -> Runner:
    """The runner for the model file at ``path`` (not yet loaded for TF/TF.js runners).

    Args:
        path: any model file convkit detects.
        like: a model file giving the architecture for weights-only files.
        allow_unsafe: load models whose Lambda layers run code from the file. Default ``False``.
        training: run Keras models in training mode (dropout on). Default ``False``.

    Raises:
        DetectionError: the path is not a model file.
        UsageError: weights-only file without ``like``; ``training`` for a non-Keras runtime.
        ReadError, UnsafeModelError: the runtime refuses the file.
    """
    path = Path(path)
    name = detect(path).name
    preflight(path, name)
    like_path = Path(like) if like is not None else None
    if name == "tfjs":
        runner: Runner = _tfjs(path)
    elif name == "savedmodel":
        from convkit.check.runners.savedmodel import SavedModelRunner

        if (path / "keras_metadata.pb").is_file():
            from convkit.check.runners.tf_keras import load_tf_keras

            try:
                return load_tf_keras(path, name, allow_unsafe=allow_unsafe, training=training)
            except ReadError as error:
                if training:
                    raise
                # The Keras metadata may be beyond tf_keras; the serving signature still runs in TensorFlow.
                runner = SavedModelRunner(path)
                runner.notes.append(f"ran its serving signature because {error}")
        else:
            runner = SavedModelRunner(path)
    elif name == "keras":
        version = keras_archive_version(path) or "3"
        return _keras(path, name, version, allow_unsafe=allow_unsafe, training=training)
    elif name == "h5" and not is_weights_only(path):
        version = h5_keras_attributes(path).get("keras_version", "3")
        return _keras(path, name, version, allow_unsafe=allow_unsafe, training=training)
    elif name in ("h5", "ckpt"):
        from convkit.check.runners.checkpoint import load_weights_runner

        return load_weights_runner(path, name, like=like_path, allow_unsafe=allow_unsafe, training=training)
    elif name in ("onnx", "tflite"):
        runner = _inference_format(path, name)
    else:
        raise UsageError(f"{path}: convkit check has no runtime for {name} files")
    if training:
        raise UsageError(f"{path}: training mode applies to Keras models only, not to {name} files")
    return runner


def _tfjs(path: Path) -> Runner:
    from convkit.check.runners.tfjs import TfjsRunner

    return TfjsRunner(path)


def _inference_format(path: Path, name: str) -> Runner:
    if name == "onnx":
        from convkit.check.runners.onnx import OnnxRunner

        return OnnxRunner(path)
    from convkit.check.runners.tflite import TfliteRunner

    return TfliteRunner(path)


def _keras(path: Path, name: str, version: str, *, allow_unsafe: bool, training: bool) -> Runner:
    if version.startswith("2."):
        from convkit.check.runners.tf_keras import load_tf_keras

        return load_tf_keras(path, name, allow_unsafe=allow_unsafe, training=training)
    from convkit.check.runners.keras3 import load_keras3

    return load_keras3(path, name, allow_unsafe=allow_unsafe, training=training)
