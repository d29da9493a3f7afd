"""What every runtime gives: a runner, a loaded model that maps named inputs to named outputs.

A runner is built lazily (``load`` does the heavy work), states its inputs and
outputs as ``TensorSpec`` records, and answers ``infer(feed)`` with one array
per output, always in inference mode unless it was built with ``training=True``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from convkit.containers.tensors import TensorSpec, shape_tuple  # noqa: F401  (every runner states its specs so)
from convkit.errors import MALFORMED
from convkit.runtimes.precision import Tolerance, default_tolerance

DEFAULT_BATCH_SIZE = 256


class Runner:
    """Base class: subclasses set ``runtime`` and implement ``_load`` and ``_infer``.

    Attributes:
        path: the model file or directory (``None`` for a live model object).
        format_name: registry name of the file format (``h5``, ``tfjs``, ...).
        runtime: what runs it (``Keras 3.15.1``, ``TF.js 4.22.0 (Node)``).
        quantization: the weight quantization dtype (``uint8``, ``float16``) or
            ``None``; looser default tolerances apply when set.
        notes: remarks the report shows (how inputs were matched, warnings).
        in_process: the runtime runs in this process (TensorFlow, Keras, LiteRT, ONNX Runtime),
            so its C++ log lines reach this process's stderr; False for TF.js in Node or a browser.
    """

    runtime = "unknown"
    in_process = True

    def __init__(self, path: Path | None, format_name: str, *, label: str | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.format_name = format_name
        self.label = label or (str(path) if path is not None else format_name)
        self.quantization: str | None = None
        self.notes: list[str] = []
        self._loaded = False
        self._released = False
        self._inputs: list[TensorSpec] = []
        self._outputs: list[TensorSpec] = []

    def load(self) -> None:
        """Loads the model once; later calls do nothing."""
        if not self._loaded:
            self._load()
            self._loaded = True

    @property
    def inputs(self) -> list[TensorSpec]:
        self.load()
        return list(self._inputs)

    @property
    def outputs(self) -> list[TensorSpec]:
        self.load()
        return list(self._outputs)

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Runs the model on ``feed`` (keyed by this runner's input names).

        Returns:
            One array per output, keyed by output name, in ``outputs`` order.
        """
        self.load()
        if self._released:
            raise RuntimeError(f"{self.label}: the model was released and cannot run again")
        missing = [spec.name for spec in self._inputs if spec.name not in feed]
        if missing:
            raise ValueError(f"feed lacks inputs {missing} of {self.label}")
        return self._infer(feed)

    def release(self) -> None:
        """Lets go of the loaded model (its weights), keeping what describes it (specs, runtime, notes).

        A check calls this once a model's outputs are in, so that the next model loads without it; the
        runner runs nothing afterwards.
        """
        if self._loaded:
            self._release()
            self._released = True

    def default_tolerance(self, dtype: str) -> Tolerance:
        """The tolerance an output of ``dtype`` gets unless the caller gives one (runtimes may loosen it)."""
        return default_tolerance(dtype, self.quantization)

    def describe(self) -> dict[str, object]:
        return {
            "path": str(self.path) if self.path is not None else None,
            "label": self.label,
            "format": self.format_name,
            "runtime": self.runtime,
            "quantization": self.quantization,
            "inputs": [spec.to_dict() for spec in self.inputs],
            "outputs": [spec.to_dict() for spec in self.outputs],
        }

    def _load(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _release(self) -> None:
        """Drops the runtime's hold on the model; runners that keep one in this process override it."""


def fixed_batch(specs: list[TensorSpec]) -> int | None:
    """The batch size every input of ``specs`` fixes, or None when the batch is open (or they differ)."""
    sizes = {spec.shape[0] if spec.shape else None for spec in specs}
    size = sizes.pop() if len(sizes) == 1 else None
    return size if isinstance(size, int) and size > 0 else None


def batch_count(feed: dict[str, np.ndarray]) -> int:
    """The number of samples in ``feed`` (its arrays' common first dimension)."""
    sizes = {len(array) for array in feed.values()}
    if len(sizes) != 1:
        raise ValueError(f"inputs have different batch sizes: {sorted(sizes)}")
    return sizes.pop()


def in_batches(
    feed: dict[str, np.ndarray], run, batch_size: int = DEFAULT_BATCH_SIZE, *, fixed: bool = False
) -> dict[str, np.ndarray]:
    """Calls ``run(batch_feed) -> {name: array}`` on slices of ``feed`` and joins the results.

    With ``fixed`` (a model whose batch dimension is ``batch_size``), the last slice is padded with
    zeros to that size and the padding is dropped from its outputs.
    """
    total = batch_count(feed)
    pieces: dict[str, list[np.ndarray]] = {}
    order: list[str] = []
    for start in range(0, max(total, 1), batch_size):
        part = {name: array[start : start + batch_size] for name, array in feed.items()}
        count = batch_count(part)
        if fixed and count < batch_size:
            part = {name: np.concatenate([array, np.zeros((batch_size - count, *array.shape[1:]), array.dtype)])
                    for name, array in part.items()}
        for name, value in run(part).items():
            if name not in pieces:
                pieces[name] = []
                order.append(name)
            pieces[name].append(np.asarray(value)[:count] if fixed else np.asarray(value))
    return {name: np.concatenate(pieces[name], axis=0) for name in order}


def load_failures() -> tuple[type[BaseException], ...]:
    """What a Keras runtime raises on a file it cannot load (as opposed to a bug in convkit)."""
    import tensorflow as tf

    return (*MALFORMED, tf.errors.OpError)
