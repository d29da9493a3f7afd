"""LSTM, GRU, SimpleRNN and Bidirectional as ONNX's LSTM, GRU and RNN operators.

Keras keeps a cell's gates side by side in one kernel ``(features, gates *
units)``; ONNX wants ``W[direction]`` as ``(gates * units, features)`` with
its own gate order: an LSTM's Keras ``i, f, c, o`` become ONNX ``i, o, f, c``;
a GRU's ``z, r, h`` stay in place, and Keras' ``reset_after=True`` (two
biases, the recurrent one applied before the reset gate) is ONNX's
``linear_before_reset=1``, its ``reset_after=False`` ``linear_before_reset=0``
with a zero recurrent bias. ``go_backwards`` reverses the sequence before the
layer, as Keras does, so ``return_sequences`` keeps Keras' reversed order;
Bidirectional is one ``direction="bidirectional"`` node, whose backward half
ONNX returns in input order, as Keras' Bidirectional re-reverses it.

Masks are refused before any recurrent layer sees one (``Embedding(mask_zero=
True)`` and ``Masking`` have no converter), since ONNX's ``sequence_lens``
covers only masks that end each sequence.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from convkit.convert.writers.onnx_native.converters import Call, LayerWeights, attribute, converts
from convkit.convert.writers.onnx_native.graph import Tensor, identity
from convkit.convert.writers.onnx_native.reshaping import INT64_MAX
from convkit.keras_model.data import Weight

GATES = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1}
ONNX_OPS = {"LSTM": "LSTM", "GRU": "GRU", "SimpleRNN": "RNN"}
# Keras gate block feeding each ONNX gate block, in ONNX's order.
GATE_ORDER = {"LSTM": (0, 3, 1, 2), "GRU": (0, 1, 2), "SimpleRNN": (0,)}


def _onnx_activation(call: Call, value: Any) -> tuple[str, float | None, float | None]:
    name = value if isinstance(value, str) else None
    simple = {"sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "Relu", "softsign": "Softsign", "softplus": "Softplus"}
    if name in simple:
        return simple[name], None, None
    if name == "hard_sigmoid":
        return "HardSigmoid", (1.0 / 6.0 if call.generation >= 3 else 0.2), 0.5
    if value is None or name == "linear":
        return "Affine", 1.0, 0.0
    if name == "elu":
        return "Elu", 1.0, None
    raise call.refuse(f"the recurrent activation {value!r}")


def _activations(call: Call, config: dict[str, Any], class_name: str, directions: int) -> dict[str, Any]:
    main = _onnx_activation(call, config.get("activation", "tanh"))
    if class_name == "SimpleRNN":
        chosen = [main]
    else:
        gate = _onnx_activation(call, config.get("recurrent_activation", "sigmoid"))
        chosen = [gate, main] if class_name == "GRU" else [gate, main, main]
    chosen = chosen * directions
    attributes: dict[str, Any] = {"activations": [name for name, _, _ in chosen]}
    if any(alpha is not None for _, alpha, _ in chosen):
        attributes["activation_alpha"] = [alpha for _, alpha, _ in chosen if alpha is not None]
    if any(beta is not None for _, _, beta in chosen):
        attributes["activation_beta"] = [beta for _, _, beta in chosen if beta is not None]
    return attributes


def _reordered(matrix: np.ndarray, class_name: str, units: int) -> np.ndarray:
    """Keras' ``(..., gates * units)`` with its gate blocks in ONNX's order, as ``(gates * units, ...)``."""
    blocks = [matrix[..., index * units:(index + 1) * units] for index in GATE_ORDER[class_name]]
    return np.concatenate(blocks, axis=-1).T


def _cell_weights(call: Call, weights: list[Weight], class_name: str
                  ) -> tuple[Weight, Weight, Weight | None]:
    by_name = {attribute(w): w for w in weights}
    kernel, recurrent = by_name.get("kernel"), by_name.get("recurrent_kernel")
    if kernel is None or recurrent is None:
        raise call.refuse(f"no kernel and recurrent_kernel among {sorted(by_name)}")
    return kernel, recurrent, by_name.get("bias")


def _stacked(parts: list[Callable[[], np.ndarray]]) -> Callable[[], np.ndarray]:
    return lambda: np.stack([part() for part in parts]).astype("float32")


def recurrent_node(call: Call, x: Tensor, config: dict[str, Any], class_name: str,
                   cells: list[tuple[Weight, Weight, Weight | None]], direction: str,
                   initial: list[Tensor]) -> tuple[str, str, str | None, int]:
    """One ONNX LSTM/GRU/RNN over ``x`` (batch-major, plain); returns (Y, Y_h, Y_c, units)."""
    g = call.builder
    gates = GATES[class_name]
    kernel = cells[0][0]
    if len(kernel.shape) != 2 or kernel.shape[1] % gates:
        raise call.refuse(f"a kernel of shape {list(kernel.shape)}")
    units = int(kernel.shape[1]) // gates
    features = int(kernel.shape[0])
    if x.shape[-1] is not None and x.shape[-1] != features:
        raise call.refuse(f"inputs of {x.shape[-1]} features for a kernel of {features}")
    reset_after = class_name == "GRU" and bool(config.get("reset_after", True))
    for kernel_, recurrent, bias in cells:
        if tuple(kernel_.shape) != (features, gates * units) or tuple(recurrent.shape) != (units, gates * units):
            raise call.refuse("kernels of unequal shapes")
        if bias is not None:
            expected = (2, gates * units) if reset_after else (gates * units,)
            if tuple(bias.shape) != expected:
                raise call.refuse(f"a bias of shape {list(bias.shape)} (expected {list(expected)})")
    directions = len(cells)
    key = tuple(id(cell[0]) for cell in cells)
    def gates_first(weight: Weight) -> Callable[[], np.ndarray]:
        return lambda: _reordered(weight.read(), class_name, units)

    w = g.weight((key, "W"), call.hint("W"), (directions, gates * units, features), "float32",
                 _stacked([gates_first(kernel_) for kernel_, _, _ in cells]))
    r = g.weight((key, "R"), call.hint("R"), (directions, gates * units, units), "float32",
                 _stacked([gates_first(recurrent) for _, recurrent, _ in cells]))

    def bias_of(bias: Weight | None) -> Callable[[], np.ndarray]:
        def make() -> np.ndarray:
            if bias is None:
                return np.zeros(2 * gates * units, dtype="float32")
            values = np.asarray(bias.read(), dtype="float32")
            if reset_after:
                return np.concatenate([_reordered(values[0], class_name, units), _reordered(values[1], class_name, units)])
            return np.concatenate([_reordered(values, class_name, units), np.zeros(gates * units, "float32")])

        return make

    has_bias = any(bias is not None for _, _, bias in cells)
    b = g.weight((key, "B"), call.hint("B"), (directions, 2 * gates * units), "float32",
                 _stacked([bias_of(bias) for _, _, bias in cells])) if has_bias else ""
    time_major = g.op("Transpose", [x.name], call.hint("time_major"), perm=[1, 0, 2])
    inputs = [time_major, w, r, b, ""]
    for state in initial:
        state = g.plain(state)
        inputs.append(g.unsqueeze(state.name, [0], call.hint("initial_state")))
    while inputs[-1] == "":
        inputs.pop()
    attributes = _activations(call, config, class_name, directions)
    if class_name == "GRU":
        attributes["linear_before_reset"] = int(reset_after)
    outputs = 3 if class_name == "LSTM" else 2
    names = g.op(ONNX_OPS[class_name], inputs, call.hint(class_name.lower()), outputs=outputs,
                 hidden_size=units, direction=direction, **attributes)
    return names[0], names[1], names[2] if class_name == "LSTM" else None, units


def _refuse_settings(call: Call, config: dict[str, Any]) -> None:
    if config.get("time_major"):
        raise call.refuse("time_major=True")
    if config.get("stateful"):
        raise call.refuse("stateful=True (its state lives between calls)")


@converts("LSTM", "GRU", "SimpleRNN")
def recurrent(call: Call, inputs: list[Tensor]) -> list[Tensor]:
    g = call.builder
    config = call.config
    _refuse_settings(call, config)
    x = g.plain(inputs[0])
    if x.rank != 3:
        raise call.refuse(f"inputs of rank {x.rank}")
    states = 2 if call.class_name == "LSTM" else 1
    initial = inputs[1:]
    if initial and len(initial) != states:
        raise call.refuse(f"{len(initial)} initial states where the layer keeps {states}")
    if config.get("go_backwards"):
        x = Tensor(g.slice(x.name, [-1], [-INT64_MAX], [1], call.hint("reversed"), steps=[-1]), x.shape, x.dtype,
                   x.layout)
    cell = _cell_weights(call, call.weights.all(), call.class_name)
    y, y_h, y_c, units = recurrent_node(call, x, config, call.class_name, [cell], "forward", initial)
    batch, steps = x.shape[0], x.shape[1]
    if config.get("return_sequences"):
        sequence = g.op("Transpose", [g.squeeze(y, [1], call.hint("Y"))], call.hint(), perm=[1, 0, 2])
        outputs = [Tensor(sequence, (batch, steps, units), "float32", identity(3))]
    else:
        outputs = [Tensor(g.squeeze(y_h, [0], call.hint()), (batch, units), "float32", identity(2))]
    if config.get("return_state"):
        for name, what in ((y_h, "h"), (y_c, "c")):
            if name is not None:
                outputs.append(Tensor(g.squeeze(name, [0], call.hint(f"state_{what}")), (batch, units), "float32",
                                      identity(2)))
    return outputs


def _halves(call: Call, weights: LayerWeights) -> tuple[list[Weight], list[Weight]]:
    items = weights.all()
    forward = [w for w in items if any(part.startswith("forward") for part in w.name.split("/")[:-1])]
    backward = [w for w in items if any(part.startswith("backward") for part in w.name.split("/")[:-1])]
    if len(forward) + len(backward) != len(items) or len(forward) != len(backward):
        if len(items) % 2:
            raise call.refuse(f"{len(items)} weights, not two equal halves")
        forward, backward = items[: len(items) // 2], items[len(items) // 2:]
    return forward, backward


@converts("Bidirectional")
def bidirectional(call: Call, inputs: list[Tensor]) -> list[Tensor]:
    g = call.builder
    inner = call.config.get("layer")
    if not isinstance(inner, dict) or inner.get("class_name") not in GATES:
        raise call.refuse(f"a wrapped {inner.get('class_name') if isinstance(inner, dict) else None}")
    class_name = str(inner["class_name"])
    config = dict(inner.get("config") or {})
    backward_config = (call.config.get("backward_layer") or {}).get("config") if isinstance(
        call.config.get("backward_layer"), dict) else None
    _refuse_settings(call, config)
    if config.get("go_backwards"):
        raise call.refuse("a wrapped layer that itself goes backwards")
    if backward_config is not None:
        settings = ("units", "activation", "recurrent_activation", "use_bias", "reset_after", "return_sequences",
                    "return_state")
        if (call.config["backward_layer"].get("class_name") != class_name
                or any(backward_config.get(k) != config.get(k) for k in settings)):
            raise call.refuse("a backward layer unlike the forward one")
    if len(inputs) > 1:
        raise call.refuse("initial states")
    x = g.plain(inputs[0])
    if x.rank != 3:
        raise call.refuse(f"inputs of rank {x.rank}")
    forward, backward = _halves(call, call.weights)
    cells = [_cell_weights(call, forward, class_name), _cell_weights(call, backward, class_name)]
    y, y_h, y_c, units = recurrent_node(call, x, config, class_name, cells, "bidirectional", [])
    batch, steps = x.shape[0], x.shape[1]
    merge_mode = call.config.get("merge_mode", "concat")
    if config.get("return_sequences"):
        both = g.op("Transpose", [y], call.hint("batch_major"), perm=[2, 0, 1, 3])  # (batch, steps, 2, units)
        axis, shape = 2, (batch, steps, units)  # type: tuple[int, tuple[int | None, ...]]
    else:
        both = g.op("Transpose", [y_h], call.hint("batch_major"), perm=[1, 0, 2])  # (batch, 2, units)
        axis, shape = 1, (batch, units)
    rank = len(shape)
    if merge_mode == "concat":
        out = g.reshape(both, [0] * (rank - 1) + [2 * units], call.hint())
        outputs = [Tensor(out, (*shape[:-1], 2 * units), "float32", identity(rank))]
    elif merge_mode in ("sum", "ave"):
        op_type = "ReduceSum" if merge_mode == "sum" else "ReduceMean"
        outputs = [Tensor(g.reduce(op_type, both, [axis], call.hint(), keepdims=False), shape, "float32",
                          identity(rank))]
    elif merge_mode in ("mul", None):
        halves = [g.squeeze(half, [axis], call.hint(f"half_{i}"))
                  for i, half in enumerate(g.split(both, axis, [1, 1], call.hint("halves")))]
        if merge_mode == "mul":
            outputs = [Tensor(g.op("Mul", halves, call.hint()), shape, "float32", identity(rank))]
        else:
            outputs = [Tensor(half, shape, "float32", identity(rank)) for half in halves]
    else:
        raise call.refuse(f"merge_mode={merge_mode!r}")
    if config.get("return_state"):
        states = [(y_h, "h")] + ([(y_c, "c")] if y_c is not None else [])
        per_direction: list[list[Tensor]] = [[], []]
        for name, what in states:
            for index, half in enumerate(g.split(name, 0, [1, 1], call.hint(f"state_{what}_split"))):
                per_direction[index].append(Tensor(g.squeeze(half, [0], call.hint(f"state_{what}_{index}")),
                                                   (batch, units), "float32", identity(2)))
        outputs += per_direction[0] + per_direction[1]
    return outputs
