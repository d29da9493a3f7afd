"""Running a live Keras model (Keras 3 or tf_keras): the part both generations share."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from convkit.check.runners.base import DEFAULT_BATCH_SIZE, Runner, TensorSpec, in_batches, shape_tuple
from convkit.errors import ReadError, UnsafeModelError

# Layers whose saved config carries Python code that loading would run.
_CODE_LAYERS = ("Lambda", "TFOpLambda")


class KerasModelRunner(Runner):
    """Runs a Keras model object with ``model(inputs, training=...)`` in batches.

    Args:
        model: a built Keras 3 or tf_keras model with defined inputs.
        generation: 3 for Keras 3, 2 for tf_keras.
        path: the file it came from (for messages), or ``None``.
        format_name: registry name of that file's format.
        training: run layers in training mode (dropout on). Default ``False``;
            ``True`` exists to show that the check catches a model run that way.
        batch_size: samples per call. Default 256.
    """

    def __init__(
        self,
        model: Any,
        *,
        generation: int,
        path: Path | None = None,
        format_name: str = "keras",
        label: str | None = None,
        training: bool = False,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        super().__init__(path, format_name, label=label)
        self.model = model
        self.generation = generation
        self.training = training
        self.batch_size = batch_size
        self.runtime = _runtime_name(generation) + (" (training mode)" if training else "")

    def _load(self) -> None:
        model = self.model
        if not getattr(model, "inputs", None):
            raise ReadError(f"{self.label}: the Keras model has no defined inputs, so it cannot be checked")
        int_high = _embedding_vocabulary(model)
        self._inputs = [
            TensorSpec(
                name=_clean_name(getattr(tensor, "name", f"input_{i}")),
                shape=shape_tuple(tuple(tensor.shape)),
                dtype=_dtype_name(tensor.dtype),
                int_high=int_high,
            )
            for i, tensor in enumerate(model.inputs)
        ]
        names = _output_names(model)
        self._outputs = [
            TensorSpec(name=name, shape=shape_tuple(tuple(tensor.shape)), dtype=_dtype_name(tensor.dtype))
            for name, tensor in zip(names, model.outputs)
        ]

    def _infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        input_names = [spec.name for spec in self._inputs]
        output_names = [spec.name for spec in self._outputs]

        def run(part: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            arguments = [part[name] for name in input_names]
            result = self.model(arguments[0] if len(arguments) == 1 else arguments, training=self.training)
            if isinstance(result, dict):
                return {str(key): np.asarray(value) for key, value in result.items()}
            if not isinstance(result, (list, tuple)):
                result = [result]
            return {name: np.asarray(value) for name, value in zip(output_names, result)}

        return in_batches(feed, run, self.batch_size)


def _runtime_name(generation: int) -> str:
    if generation == 2:
        import tf_keras

        return f"tf_keras {tf_keras.__version__}"
    import keras

    return f"Keras {keras.__version__}"


def _clean_name(name: str) -> str:
    # tf_keras tensor names may carry the graph suffix (``dense_input:0``).
    return re.sub(r":\d+$", "", str(name))


def _dtype_name(dtype: Any) -> str:
    name = getattr(dtype, "name", dtype)
    return str(name)


def _output_names(model: Any) -> list[str]:
    names = getattr(model, "output_names", None)
    if names and len(names) == len(model.outputs):
        return [str(name) for name in names]
    result = []
    for i, tensor in enumerate(model.outputs):
        history = getattr(tensor, "_keras_history", None)
        layer = getattr(history, "operation", None) or getattr(history, "layer", None)
        if layer is None and history:
            layer = history[0]
        result.append(str(getattr(layer, "name", None) or f"output_{i}"))
    if len(set(result)) != len(result):
        result = [f"{name}_{i}" for i, name in enumerate(result)]
    return result


def _embedding_vocabulary(model: Any) -> int | None:
    sizes = []
    stack = list(getattr(model, "layers", []))
    while stack:
        layer = stack.pop()
        if type(layer).__name__ == "Embedding" and getattr(layer, "input_dim", None):
            sizes.append(int(layer.input_dim))
        stack.extend(getattr(layer, "layers", []) or [])
    return min(sizes) if sizes else None


def refuse_code_layers(path: Path, config_text: str | bytes | None) -> None:
    """Raises ``UnsafeModelError`` when a saved model config holds code layers.

    Loading a ``Lambda`` layer from an HDF5 file or a legacy SavedModel unmarshals
    Python bytecode from the file; the check refuses unless asked to allow it.
    """
    if not config_text:
        return
    if isinstance(config_text, bytes):
        config_text = config_text.decode("utf-8", "replace")
    for layer in _CODE_LAYERS:
        if re.search(r'"class_name":\s*"' + layer + '"', config_text):
            raise UnsafeModelError(
                f"{path}: the model holds a {layer} layer whose Python code would run when loaded; "
                "pass --unsafe (allow_unsafe=True) if you trust the file"
            )


def h5_keras_attributes(path: Path) -> dict[str, str]:
    """The root attributes of a Keras HDF5 file (``keras_version``, ``model_config``), as text."""
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            result = {}
            for key in ("keras_version", "backend", "model_config"):
                value = handle.attrs.get(key)
                if value is None:
                    continue
                result[key] = value.decode("utf-8") if isinstance(value, bytes) else str(value)
            return result
    except OSError as error:
        raise ReadError(f"{path}: not a readable HDF5 file ({error})") from None


def refuse_forged_h5(path: Path) -> None:
    """Raises ``ReadError`` when a dataset declares more bytes than the HDF5 file stores.

    Keras would allocate the declared size while loading (a forged header can
    declare terabytes), so the sizes are checked before any runtime sees the file.
    """
    import h5py

    from convkit.formats._h5 import check_stored

    datasets: list = []
    try:
        with h5py.File(path, "r") as handle:
            handle.visititems(lambda name, node: datasets.append(node) if isinstance(node, h5py.Dataset) else None)
            for dataset in datasets:
                check_stored(dataset, path)
    except ReadError:
        raise
    except (OSError, RuntimeError, KeyError, ValueError) as error:
        raise ReadError(f"{path}: not a readable HDF5 file ({' '.join(str(error).split())[:200]})") from None


def keras_archive_version(path: Path) -> str | None:
    """The ``keras_version`` in a ``.keras`` archive's metadata.json, if any."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            if "metadata.json" not in archive.namelist():
                return None
            info = archive.getinfo("metadata.json")
            if info.file_size > 1 << 20:
                return None
            return json.loads(archive.read("metadata.json")).get("keras_version")
    except (zipfile.BadZipFile, ValueError, OSError) as error:
        raise ReadError(f"{path}: not a readable .keras archive ({error})") from None


def load_error(path: Path, runtime: str, error: Exception) -> ReadError:
    first_line = (str(error).strip().splitlines() or [""])[0][:300]
    return ReadError(f"{path}: {runtime} could not load the model ({type(error).__name__}: {first_line})")
