"""Runners, one per runtime: each loads a model and answers ``infer(feed) -> {output: array}``.

``open_runner(path)`` asks the file's format record for its runner: Keras 3 for
``.keras`` and HDF5 files written by Keras 3, tf_keras for files written by
Keras 2 (HDF5 ``keras_version`` 2.x, SavedModels with ``keras_metadata.pb``),
TensorFlow signatures for other SavedModels, TF.js under Node for
``model.json``, onnxruntime for ``.onnx``, LiteRT for ``.tflite``, and the
architecture of ``like`` for weights-only files. The
code policy (``formats/_policy.py``) judges every file before a runtime sees it.
"""

from __future__ import annotations

from pathlib import Path

from convkit.check.runners._keras_common import KerasModelRunner
from convkit.check.runners.base import Runner, TensorSpec
from convkit.errors import ReadError, UsageError
from convkit.formats import _policy
from convkit.registry import detect

__all__ = ["KerasModelRunner", "Runner", "TensorSpec", "open_runner", "is_weights_only"]


def is_weights_only(path: Path) -> bool:
    """Whether ``path`` holds weights without an architecture (checkpoints, weights-only HDF5)."""
    from convkit.formats.portable import is_weights_only_h5

    name = detect(path).name
    return name == "ckpt" or (name == "h5" and is_weights_only_h5(Path(path)))


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
        ReadError, UnsafeModelError: the file cannot be loaded, or holds code.
    """
    path = Path(path)
    fmt = detect(path)
    _policy.screen(path, fmt.name, allow_unsafe)
    opener = fmt.resolve("runner")
    if opener is None:
        raise UsageError(f"{path}: convkit check has no runtime for {fmt.name} files")
    runner: Runner = opener(path, like=Path(like) if like is not None else None, allow_unsafe=allow_unsafe,
                            training=training)
    if training and not isinstance(runner, KerasModelRunner):
        raise UsageError(f"{path}: training mode applies to Keras models only, not to {fmt.name} files")
    return runner


# ------------------------------------------------------------------ the runners format records name


def open_tfjs(path: Path, *, like: Path | None, allow_unsafe: bool, training: bool) -> Runner:
    """TF.js under Node."""
    from convkit.check.runners.tfjs import TfjsRunner

    return TfjsRunner(path)


def open_onnx(path: Path, *, like: Path | None, allow_unsafe: bool, training: bool) -> Runner:
    """onnxruntime on the CPU."""
    from convkit.check.runners.onnx import OnnxRunner

    return OnnxRunner(path)


def open_tflite(path: Path, *, like: Path | None, allow_unsafe: bool, training: bool) -> Runner:
    """The standalone LiteRT interpreter (TensorFlow's ``tf.lite.Interpreter`` for Flex ops)."""
    from convkit.check.runners.tflite import TfliteRunner

    return TfliteRunner(path)


def open_graph(path: Path, *, like: Path | None, allow_unsafe: bool, training: bool) -> Runner:
    """A graph-level model (frozen ``.pb``, TF1 checkpoint with its ``.meta``, TF.js 0.x) in TensorFlow."""
    from convkit.check.runners.graph import GraphRunner

    return GraphRunner(path, detect(path).name)


def open_savedmodel(path: Path, *, like: Path | None, allow_unsafe: bool, training: bool) -> Runner:
    """tf_keras for Keras SavedModels, else (or when tf_keras cannot) the serving signature in TensorFlow."""
    from convkit.check.runners.savedmodel import SavedModelRunner
    from convkit.formats.savedmodel import has_keras_metadata, is_tf1_saved_model

    if is_tf1_saved_model(path):
        # Its graph runs, whatever its tags and signatures (a TF1 SavedModel may have neither serve nor a signature).
        from convkit.check.runners.graph import GraphRunner

        return GraphRunner(path, "savedmodel")
    if has_keras_metadata(path):
        from convkit.check.runners.tf_keras import load_tf_keras

        try:
            return load_tf_keras(path, "savedmodel", allow_unsafe=allow_unsafe, training=training)
        except ReadError as error:
            if training:
                raise
            # The Keras metadata may be beyond tf_keras; the serving signature still runs in TensorFlow.
            runner = SavedModelRunner(path)
            runner.notes.append(f"ran its serving signature because {error}")
            return runner
    return SavedModelRunner(path)


def open_keras(path: Path, *, like: Path | None, allow_unsafe: bool, training: bool) -> Runner:
    """A ``.keras`` archive in the Keras generation that wrote it."""
    from convkit.formats.keras_archive import keras_version

    return _keras(path, "keras", keras_version(path) or "3", allow_unsafe=allow_unsafe, training=training)


def open_h5(path: Path, *, like: Path | None, allow_unsafe: bool, training: bool) -> Runner:
    """A whole-model ``.h5`` in the Keras generation that wrote it; a weights-only one in ``like``."""
    from convkit.formats.hdf5 import keras_attributes

    attributes = keras_attributes(path)
    if "model_config" not in attributes:
        return open_checkpoint(path, like=like, allow_unsafe=allow_unsafe, training=training, format_name="h5")
    version = attributes.get("keras_version", "3")
    return _keras(path, "h5", version, allow_unsafe=allow_unsafe, training=training)


def open_checkpoint(path: Path, *, like: Path | None, allow_unsafe: bool, training: bool,
                    format_name: str = "ckpt") -> Runner:
    """Weights-only files in the architecture of ``like``."""
    from convkit.check.runners.checkpoint import load_weights_runner

    return load_weights_runner(path, format_name, like=like, allow_unsafe=allow_unsafe, training=training)


def _keras(path: Path, name: str, version: str, *, allow_unsafe: bool, training: bool) -> Runner:
    if version.startswith("2."):
        from convkit.check.runners.tf_keras import load_tf_keras

        return load_tf_keras(path, name, allow_unsafe=allow_unsafe, training=training)
    from convkit.check.runners.keras3 import load_keras3

    return load_keras3(path, name, allow_unsafe=allow_unsafe, training=training)
