"""Running a live Keras model (Keras 3 or tf_keras): the part both generations share."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from convkit.errors import ReadError, RunError, error_text
from convkit.runtimes.base import DEFAULT_BATCH_SIZE, Runner, TensorSpec, in_batches, shape_tuple


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

    def _release(self) -> None:
        import gc

        self.model = None
        gc.collect()  # a Keras model's layers refer to each other: its variables go with the cycle collector


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


def load_error(path: Path, runtime: str, error: BaseException) -> RunError:
    """The file could not be loaded by ``runtime``: a bad file (exit 2), said in one line."""
    return RunError(f"{path}: {runtime} could not load the model ({error_text(error, with_type=True)})")
