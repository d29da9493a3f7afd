"""Weights by name and by structure: the ``<layer>/<attribute>`` key every reader and writer matches on,
and weights-only files mapped into the architecture of a template model."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from convkit.errors import UsageError
from convkit.keras_model.config import is_cell_name
from convkit.keras_model.data import ModelData, Weight


def tfjs_weight_name(weight_name: str, layers: frozenset[str] | set[str] = frozenset()) -> str:
    """The name TF.js layers gives a weight: ``<owning layer>/<attribute>``.

    Keras names carry the model (``sequential/dense/kernel``) or the RNN cell
    (``lstm/lstm_cell/kernel``) in the path; TF.js scopes weights by the layer
    that owns them only. Layer names may hold ``/`` themselves (MobileNetV3's
    ``Conv/BatchNorm``): given the model's ``layers``, the longest layer name the
    path holds right before the attribute (or its cell) is the owner.
    """
    parts = weight_name.split(":")[0].split("/")
    if layers:
        for end in (len(parts) - 1, len(parts) - 2):
            if end < 1 or (end == len(parts) - 2 and not is_cell_name(parts[end])):
                continue
            for start in range(end):
                owner = "/".join(parts[start:end])
                if owner in layers:
                    return f"{owner}/{parts[-1]}"
        # A layer built of layers the config does not list (MultiHeadAttention's query, key, value and
        # attention_output): the owning layer, then the sub-layer's path. Not an RNN's cell, nor a
        # Bidirectional's sides, whose weights are named by the side (forward_lstm/kernel).
        if not any(is_cell_name(part) or part.startswith(("forward_", "backward_")) for part in parts):
            for end in range(len(parts) - 2, 0, -1):
                for start in range(end):
                    owner = "/".join(parts[start:end])
                    if owner in layers:
                        return "/".join([owner, *parts[end:]])
    if len(parts) >= 3 and is_cell_name(parts[-2]):
        return f"{parts[-3]}/{parts[-1]}"
    if len(parts) >= 2:
        return f"{parts[-2]}/{parts[-1]}"
    return parts[-1]


def map_weights_by_structure(
    template: ModelData, groups: list[list[Weight]], path: Path, like: Path
) -> ModelData:
    """``template``'s architecture with the weights of ``groups`` (one list per layer with weights, in order).

    Raises:
        UsageError: the counts differ or a tensor's shape does not fit; the
            message names the first tensor that does not fit.
    """
    targets = [(name, items) for name, items in template.layer_weights.items() if items]
    check_same_count(len(groups), len(targets), "layers", "layers with weights", path, like)
    layer_weights: dict[str, list[Weight]] = {name: [] for name in template.layer_weights}
    for (layer_name, expected), found in zip(targets, groups):
        if len(found) != len(expected):
            raise UsageError(
                f"{path}: tensor {found[0].name!r} starts a group of {len(found)} weights but layer "
                f"{layer_name!r} of {like} has {len(expected)}"
            )
        for want, got in zip(expected, found):
            check_fit(want, got, layer_name, path, like)
            layer_weights[layer_name].append(Weight(want.name, want.shape, got.dtype, got.read, want.trainable))
    return with_weights(template, layer_weights)


def check_same_count(found: int, expected: int, found_what: str, expected_what: str, path: Path, like: Path) -> None:
    if found != expected:
        held = f"weights for {found} layers" if found_what == "layers" else f"{found} {found_what}"
        raise UsageError(
            f"{path}: holds {held} but {like} has {expected} {expected_what}; "
            "--like must name a model of the same architecture"
        )


def check_fit(want: Weight, got: Weight, layer_name: str, path: Path, like: Path) -> None:
    if tuple(want.shape) != tuple(got.shape):
        raise UsageError(
            f"{path}: tensor {got.name!r} has shape {list(got.shape)} but {want.name!r} of layer "
            f"{layer_name!r} in {like} has shape {list(want.shape)}; --like must name a model of the same architecture"
        )


def with_weights(template: ModelData, layer_weights: dict[str, list[Weight]]) -> ModelData:
    return ModelData(
        config=template.config,
        layer_weights=layer_weights,
        generation=template.generation,
        keras_version=template.keras_version,
        training_config=None,
        raw_config=template.raw_config,
    )


def without_seed_states(variables: list[Weight], expected: list[Weight]) -> list[Weight]:
    """``variables`` less the integer ones the model's weights do not list (Dropout's seed-generator
    states); an integer weight the model has (Normalization's ``count``) stays, in its place."""
    def integer(weight: Weight) -> bool:
        return bool(np.issubdtype(np.dtype(weight.dtype), np.integer))

    kept: list[Weight] = []
    wanted = iter(expected)
    want = next(wanted, None)
    for variable in variables:
        if integer(variable) and not (want is not None and integer(want) and tuple(want.shape) == variable.shape):
            continue
        kept.append(variable)
        want = next(wanted, None)
    return kept


def needs_like(path: Path, what: str) -> UsageError:
    return UsageError(
        f"{path}: is {what} and holds no architecture; pass --like MODEL with a model file of the same architecture"
    )
