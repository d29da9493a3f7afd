"""MultiHeadAttention over sequences (``(batch, steps, features)``, the default attention axes).

Each projection's Keras kernel ``(features, heads, size)`` is one ``MatMul``
with the kernel seen as ``(features, heads * size)``; the heads are split off
with a ``Reshape`` and moved before the steps. As Keras does, the projected
query is scaled by ``1 / sqrt(key_dim)`` before the scores; a causal mask
adds Keras' large negative number where a step would see a later one.
"""

from __future__ import annotations

import math

import numpy as np

from convkit.convert.writers.onnx_native.converters import Call, converts
from convkit.convert.writers.onnx_native.graph import Tensor, identity
from convkit.keras_model.data import Weight

PROJECTIONS = ("query", "key", "value", "attention_output")
LARGE_NEGATIVE = -1e9  # what Keras' Softmax adds where the mask is 0, for float32


def _projections(call: Call) -> dict[str, tuple[Weight, Weight | None]]:
    items = call.weights.all()
    use_bias = bool(call.option("use_bias", True))
    found: dict[str, list[Weight]] = {}
    for weight in items:
        parts = weight.name.split(":")[0].split("/")[:-1]
        owner = next((p for p in reversed(parts) if p in PROJECTIONS), None)
        if owner is not None:
            found.setdefault(owner, []).append(weight)
    if set(found) != set(PROJECTIONS):  # unnamed: tf_keras stores them in this order
        per = 2 if use_bias else 1
        if len(items) != per * len(PROJECTIONS):
            raise call.refuse(f"{len(items)} weights where MultiHeadAttention has {per * len(PROJECTIONS)}")
        found = {name: items[index * per:(index + 1) * per] for index, name in enumerate(PROJECTIONS)}
    result = {}
    for name in PROJECTIONS:
        weights = sorted(found[name], key=lambda w: w.name.rsplit("/", 1)[-1] != "kernel")
        result[name] = (weights[0], weights[1] if len(weights) > 1 else None)
    return result


@converts("MultiHeadAttention")
def multi_head_attention(call: Call, inputs: list[Tensor]) -> list[Tensor]:
    g = call.builder
    if call.config.get("attention_axes") not in (None, [1], (1,)):
        raise call.refuse(f"attention_axes={call.config.get('attention_axes')}")
    if call.kwargs.get("return_attention_scores"):
        raise call.refuse("return_attention_scores=True")
    if "attention_mask" in call.tensor_kwargs or "query_mask" in call.tensor_kwargs:
        raise call.refuse("an attention mask")
    query = inputs[0]
    value = inputs[1] if len(inputs) > 1 else call.tensor_kwargs.get("value")
    key = inputs[2] if len(inputs) > 2 else call.tensor_kwargs.get("key") or value
    if value is None or key is None:
        raise call.refuse("no value input")
    query, value, key = g.plain(query), g.plain(value), g.plain(key)
    if query.rank != 3 or value.rank != 3 or key.rank != 3:
        raise call.refuse("inputs that are not (batch, steps, features)")
    heads = int(call.option("num_heads"))
    key_dim = int(call.option("key_dim"))
    value_dim = int(call.option("value_dim", key_dim))
    weights = _projections(call)

    def project(x: Tensor, what: str, size: int) -> str:
        kernel, bias = weights[what]
        if tuple(kernel.shape) != (x.shape[-1] if x.shape[-1] is not None else kernel.shape[0], heads, size):
            raise call.refuse(f"a {what} kernel of shape {list(kernel.shape)}")
        flat = call.stored(kernel, lambda k: k.reshape(k.shape[0], -1), (int(kernel.shape[0]), heads * size),
                           tag="flat")
        out = g.op("MatMul", [x.name, flat], call.hint(f"{what}_matmul"))
        if bias is not None:
            out = g.op("Add", [out, call.stored(bias, lambda b: b.reshape(-1), (heads * size,), tag="flat")],
                       call.hint(f"{what}_bias"))
        return g.reshape(out, [0, 0, heads, size], call.hint(what))

    q = g.op("Transpose", [project(query, "query", key_dim)], call.hint("query_heads"), perm=[0, 2, 1, 3])
    q = g.op("Mul", [q, g.scalar(1.0 / math.sqrt(key_dim))], call.hint("query_scaled"))
    k = g.op("Transpose", [project(key, "key", key_dim)], call.hint("key_heads"), perm=[0, 2, 3, 1])
    v = g.op("Transpose", [project(value, "value", value_dim)], call.hint("value_heads"), perm=[0, 2, 1, 3])
    scores = g.op("MatMul", [q, k], call.hint("scores"))
    if call.kwargs.get("use_causal_mask"):
        steps, source = query.shape[1], value.shape[1]
        if steps is None or source is None:
            raise call.refuse("a causal mask over steps of open length")
        allowed = np.tril(np.ones((steps, source), dtype=bool))
        scores = g.op("Add", [scores, g.constant(np.where(allowed, 0.0, LARGE_NEGATIVE).astype("float32"),
                                                  call.hint("causal_mask"))], call.hint("masked_scores"))
    weights_ = g.op("Softmax", [scores], call.hint("attention"), axis=-1)
    attended = g.op("Transpose", [g.op("MatMul", [weights_, v], call.hint("attended"))], call.hint("steps_first"),
                    perm=[0, 2, 1, 3])
    merged = g.reshape(attended, [0, 0, heads * value_dim], call.hint("merged"))
    kernel, bias = weights["attention_output"]
    if len(kernel.shape) != 3 or tuple(kernel.shape[:2]) != (heads, value_dim):
        raise call.refuse(f"an output kernel of shape {list(kernel.shape)}")
    features = int(kernel.shape[2])
    flat = call.stored(kernel, lambda k: k.reshape(heads * value_dim, -1), (heads * value_dim, features), tag="flat")
    out = g.op("MatMul", [merged, flat], call.hint("output_matmul") if bias is not None else call.hint())
    if bias is not None:
        out = g.op("Add", [out, call.stored(bias)], call.hint())
    return [Tensor(out, (query.shape[0], query.shape[1], features), "float32", identity(3))]
