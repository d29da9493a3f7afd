"""Graph runner: a graph-level model (frozen ``.pb``, TF1 checkpoint with ``.meta``, TF.js 0.x) run in TensorFlow.

The file is rebuilt into a :class:`~convkit.graphdef.model.GraphModel` by its
format's ``graph_reader`` (without TensorFlow: variables frozen, TF.js weights
dequantized), imported as data and called as one TensorFlow function.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from convkit.check.runners.base import DEFAULT_BATCH_SIZE, Runner, TensorSpec, in_batches, shape_tuple


class GraphRunner(Runner):
    """Runs the graph of ``path`` (read by the format record's ``graph_reader``) in TensorFlow.

    Args:
        path: the model file or folder.
        format_name: its registry name.
        batch_size: samples per call. Default 256.
    """

    def __init__(self, path: Path, format_name: str, *, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        super().__init__(path, format_name)
        self.batch_size = batch_size
        self._graph: Any = None

    def _load(self) -> None:
        import tensorflow as tf

        from convkit.graphdef.live import GraphFunction
        from convkit.registry import get_format

        reader = get_format(self.format_name).resolve("graph_reader")
        assert reader is not None and self.path is not None
        model = reader(self.path)
        self._graph = GraphFunction(model)
        self.runtime = f"TF {tf.__version__} graph"
        if "inferred" in model.io_from:
            self.notes.append("inputs and outputs inferred from the graph")
        self._inputs = [TensorSpec(name, shape_tuple(shape), dtype) for name, shape, dtype
                        in zip(self._graph.input_names, self._graph.input_shapes, self._graph.input_dtypes)]
        self._outputs = [TensorSpec(info.name, shape_tuple(info.shape), dtype) for info, dtype
                         in zip(model.outputs, self._graph.output_dtypes)]

    def _infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import tensorflow as tf

        names = [spec.name for spec in self._inputs]
        dtypes = [spec.dtype for spec in self._inputs]
        output_names = [spec.name for spec in self._outputs]

        def run(part: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            tensors = [tf.constant(part[name], dtype=dtype) for name, dtype in zip(names, dtypes)]
            return {name: value.numpy() for name, value in zip(output_names, self._graph(tensors))}

        return in_batches(feed, run, self.batch_size)
