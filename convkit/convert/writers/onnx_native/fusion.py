"""Batch normalisation folded into the convolution before it, once the whole graph is built.

A ``Conv`` whose output only a ``BatchNormalization`` reads computes, with
``s = gamma / sqrt(variance + epsilon)``, the same as a ``Conv`` with kernel
``W * s`` (per output channel) and bias ``(b - mean) * s + beta``. Folding it
here, in the weights' producers, means onnxruntime has nothing left to fold
when it loads the model: no second copy of every folded kernel while it does,
and a smaller file. Whether a convolution's output has other readers is only
known once every layer is converted, hence a pass over the built graph.
"""

from __future__ import annotations

from collections import Counter
from typing import Callable

import numpy as np

from convkit.convert.writers.onnx_native.graph import GraphBuilder, Initializer


def _attribute(node: object, name: str, default: float) -> float:
    for attribute in node.attribute:  # type: ignore[attr-defined]
        if attribute.name == name:
            return float(attribute.f)
    return default


def _vector(init: Initializer) -> Callable[[], np.ndarray]:
    return lambda: np.asarray(init.array(), dtype="float64").reshape(-1)


def _folded(kernel: Initializer, bias: Initializer | None, stats: list[Initializer], epsilon: float
            ) -> tuple[Callable[[], np.ndarray], Callable[[], np.ndarray]]:
    """Producers of the folded kernel and bias (computed in float64, stored as float32)."""
    gamma, beta, mean, variance = (_vector(init) for init in stats)

    def scale() -> np.ndarray:
        return gamma() / np.sqrt(variance() + epsilon)

    def folded_kernel() -> np.ndarray:
        values = np.asarray(kernel.array(), dtype="float64")
        return (values * scale().reshape(-1, *(1,) * (values.ndim - 1))).astype("float32")

    def folded_bias() -> np.ndarray:
        base = np.zeros(kernel.shape[0]) if bias is None else np.asarray(bias.array(), dtype="float64")
        return ((base - mean()) * scale() + beta()).astype("float32")

    return folded_kernel, folded_bias


def fold_batch_norms(builder: GraphBuilder) -> int:
    """Folds every ``Conv -> BatchNormalization`` pair it can; returns how many."""
    readers: Counter[str] = Counter(name for node in builder.nodes for name in node.input)
    readers.update(tensor.name for tensor in builder.outputs)
    producers = {output: node for node in builder.nodes for output in node.output}
    initializers = {init.name: init for init in builder.initializers}
    folded = []
    for norm in builder.nodes:
        if norm.op_type != "BatchNormalization" or len(norm.input) != 5:
            continue
        conv = producers.get(norm.input[0])
        if conv is None or conv.op_type != "Conv" or readers[norm.input[0]] != 1:
            continue
        stats = [initializers.get(name) for name in norm.input[1:]]
        kernel = initializers.get(conv.input[1])
        bias = initializers.get(conv.input[2]) if len(conv.input) > 2 else None
        if any(init is None for init in stats) or kernel is None or readers[kernel.name] != 1 \
                or (bias is not None and readers[bias.name] != 1):
            continue
        make_kernel, make_bias = _folded(kernel, bias, [init for init in stats if init is not None],
                                         _attribute(norm, "epsilon", 1e-5))
        channels = kernel.shape[0]
        kernel_name = builder.weight(("folded", norm.name, "kernel"), f"{norm.name}/folded_kernel", kernel.shape,
                                     "float32", make_kernel)
        bias_name = builder.weight(("folded", norm.name, "bias"), f"{norm.name}/folded_bias", (channels,),
                                   "float32", make_bias)
        del conv.input[1:]
        conv.input.extend([kernel_name, bias_name])
        conv.output[0] = norm.output[0]
        folded.append(norm)
    for norm in folded:
        builder.nodes.remove(norm)
    used = {name for node in builder.nodes for name in node.input}
    builder.initializers = [init for init in builder.initializers if init.name in used]
    return len(folded)
