"""Keras weights stored in HDF5, as lazily read :class:`~convkit.keras_model.data.Weight` records.

Two layouts, read through the one HDF5 walker of :mod:`convkit.containers.hdf5`
(size limits always on): Keras 2 groups per layer (``layer_names`` and
``weight_names`` attributes; ``.h5`` files of either generation) and Keras 3
``layers/<key>/vars/<i>`` datasets (``.keras`` archives, ``.weights.h5``), whose
keys Keras derives from the model's layer list.

Weights are grouped by top-level layer in the order ``.h5`` files keep them
(trainable first, then non-trainable), the order both Keras generations load
legacy weights by.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from convkit.containers import hdf5
from convkit.errors import ReadError
from convkit.keras_model.config import MODEL_CLASSES, is_cell_name
from convkit.keras_model.data import NeedsKeras, Weight
from convkit.policy.shipped import CLASS_OF_ALIAS


def _snake_case(class_name: str) -> str:
    name = re.sub(r"\W+", "", class_name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name)
    return name.lower()


def keras3_keys(model_config: dict[str, Any]) -> Iterator[tuple[dict[str, Any], str]]:
    """(layer config, its key) for each layer of a model: the names Keras 3 files its weights and assets under
    (``layers/<key>``), derived from the layer list."""
    layers = (model_config.get("config") or {}).get("layers", [])
    if model_config.get("class_name") == "Sequential":
        layers = [layer for layer in layers if layer.get("class_name") != "InputLayer"]
    used: dict[str, int] = {}
    for layer in layers:
        class_name = str(layer.get("class_name", ""))
        key = _snake_case(CLASS_OF_ALIAS.get(class_name, class_name))
        if key in used:
            used[key] += 1
            key = f"{key}_{used[key]}"
        else:
            used[key] = 0
        yield layer, key


def keras3_children(model_config: dict[str, Any], layers_group: Any) -> Iterator[tuple[dict[str, Any], Any]]:
    """(layer config, its weights group or None) for each layer of a model, by Keras 3's keys."""
    for layer, key in keras3_keys(model_config):
        yield layer, hdf5.member(layers_group, key)


def keras2_layer_weights(group: Any, path: Path, model_name: str | None) -> dict[str, list[Weight]]:
    """Every layer a Keras 2 weight group lists, with its weights (none for layers without), in order."""
    return {
        layer_name: [dataset_weight(dataset, _canonical_name(weight_name, model_name)) for weight_name, dataset in datasets]
        for layer_name, datasets in hdf5.keras2_layers(group, path)
    }


_WRAPPERS = frozenset({"Bidirectional", "TimeDistributed"})
_RECURRENT = frozenset({"LSTM", "GRU", "SimpleRNN"})


def named_by_layer(layer_weights: dict[str, list[Weight]], config: dict[str, Any]) -> dict[str, list[Weight]]:
    """Weights named after the layer whose group holds them, with the variable names the .keras format uses.

    An ``.h5`` stores each weight under its variable's path, which need not be the
    layer's name (``embedding_1_2/embeddings`` in layer ``embedding_1``; Keras 3 names
    a DepthwiseConv2D kernel ``kernel``, TF.js and Keras 2 ``depthwise_kernel``).
    Nested models and wrappers keep their stored paths.
    """
    classes = {(layer.get("config") or {}).get("name", layer.get("name")): layer
               for layer in (config.get("config") or {}).get("layers", [])}
    for layer_name, items in layer_weights.items():
        layer = classes.get(layer_name) or {}
        class_name = str(layer.get("class_name"))
        if not items or class_name in MODEL_CLASSES or class_name in _WRAPPERS:
            continue
        if class_name in _RECURRENT:
            for weight in items:
                parts = weight.name.split("/")
                cell = parts[-2] if len(parts) >= 3 and is_cell_name(parts[-2]) else f"{class_name.lower()}_cell"
                weight.name = f"{layer_name}/{cell}/{parts[-1]}"
            continue
        names = keras3_variable_names(class_name, layer.get("config") or {})
        if names is None or len(names) != len(items):
            names = [weight.name.split("/")[-1] for weight in items]
            if len(set(names)) < len(names):  # sub-layers' weights (MultiHeadAttention's query/kernel, key/kernel)
                names = [_below_layer(weight.name, layer_name) for weight in items]
        for weight, attribute in zip(items, names):
            weight.name = f"{layer_name}/{attribute}"
    return layer_weights


def _below_layer(name: str, layer_name: str) -> str:
    """A stored weight's path below its layer: ``query/kernel`` of ``multi_head_attention/query/kernel``."""
    parts = name.split("/")
    for start in range(len(parts) - 1):
        if "/".join(parts[:start + 1]).endswith(layer_name):
            return "/".join(parts[start + 1:])
    return "/".join(parts[-2:])


def _canonical_name(name: str, model_name: str | None) -> str:
    parts = name.split(":")[0].split("/")
    if model_name and len(parts) >= 3 and parts[0] == model_name:
        parts = parts[1:]
    return "/".join(parts)


def _read_dataset(dataset: Any) -> np.ndarray:
    hdf5.check_stored(dataset, Path(dataset.file.filename))
    return np.asarray(dataset[()])


def dataset_weight(dataset: Any, name: str) -> Weight:
    attribute = name.rsplit("/", 1)[-1]
    return Weight(
        name=name,
        shape=tuple(int(d) for d in dataset.shape),
        dtype=np.dtype(dataset.dtype).name,
        read=functools.partial(_read_dataset, dataset),
        trainable=attribute not in ("moving_mean", "moving_variance"),
        raw_span=_raw_span(dataset),
    )


def _raw_span(dataset: Any) -> tuple[str, int] | None:
    # Contiguous, unfiltered, little-endian numeric data sits in the file as TF.js wants it.
    try:
        offset = dataset.id.get_offset()
        dtype = np.dtype(dataset.dtype)
        if offset is None or dataset.chunks is not None or dtype.kind not in "fiu":
            return None
        if dtype.byteorder == ">" or (dtype.byteorder == "=" and np.little_endian is False):
            return None
        hdf5.check_stored(dataset, Path(dataset.file.filename))
        return (dataset.file.filename, int(offset))
    except ReadError:
        raise
    except Exception:  # any doubt: decode through h5py instead
        return None


# Variable names of the layers a .keras archive stores as vars/0, vars/1, ...
def keras3_variable_names(class_name: str, config: dict[str, Any]) -> list[str] | None:
    bias = ["bias"] if config.get("use_bias", True) else []
    if class_name in ("Dense", "Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"):
        return ["kernel", *bias]
    if class_name == "DepthwiseConv2D" or class_name == "DepthwiseConv1D":
        return ["depthwise_kernel", *bias]
    if class_name in ("SeparableConv1D", "SeparableConv2D"):
        return ["depthwise_kernel", "pointwise_kernel", *bias]
    if class_name == "BatchNormalization":
        return [*(["gamma"] if config.get("scale", True) else []), *(["beta"] if config.get("center", True) else []),
                "moving_mean", "moving_variance"]
    if class_name == "LayerNormalization":
        return [*(["gamma"] if config.get("scale", True) else []), *(["beta"] if config.get("center", True) else [])]
    if class_name == "Embedding":
        return ["embeddings"]
    if class_name in ("LSTMCell", "GRUCell", "SimpleRNNCell"):
        return ["kernel", "recurrent_kernel", *bias]
    if class_name == "PReLU":
        return ["alpha"]
    if class_name == "Normalization":  # adapted statistics (none when mean and variance are in the config)
        return ["mean", "variance", "count"]
    if class_name == "LayerScale":  # ConvNeXt's; Keras 3 leaves the variable unnamed, tf_keras calls it gamma
        return ["gamma"]
    return None


def keras3_layer_weights(layer: dict[str, Any], group: Any) -> list[Weight]:
    """The weights of one layer in the Keras 3 layout (its ``vars``, nested models' layers, a recurrent cell's).

    Raises:
        NeedsKeras: the layer keeps variables convkit cannot name (the Keras that wrote the file reads them).
    """
    class_name = layer.get("class_name")
    config = layer.get("config") or {}
    name = config.get("name", layer.get("name"))
    frozen = config.get("trainable") is False
    if group is None:
        return []
    items: list[Weight] = []
    path = Path(group.file.filename)
    if class_name in MODEL_CLASSES:
        for sub, sub_group in keras3_children(layer, hdf5.member(group, "layers")):
            items.extend(keras3_layer_weights(sub, sub_group))
    elif class_name in _RECURRENT:
        cell = hdf5.member(group, "cell")
        if cell is not None:
            cell_vars = cell["vars"]
            cell_name = hdf5.text_attr(cell_vars, "name", path) or f"{class_name.lower()}_cell"
            items.extend(_named_vars(cell_vars, f"{class_name}Cell", config, f"{name}/{cell_name}", path))
    else:
        items.extend(_named_vars(group["vars"], str(class_name), config, str(name), path))
        # wrappers and layers made of layers (MultiHeadAttention's query_dense, ...) keep variables in sub-groups
        for child in group:
            if child != "vars" and (child in _NESTING_GROUPS or hdf5.holds_datasets(group[child], path)):
                raise NeedsKeras(f"layer {name!r} ({class_name}) nests variables convkit reads through Keras")
    if frozen:
        for weight in items:
            weight.trainable = False
    return items


_NESTING_GROUPS = frozenset({"cell", "layer", "forward_layer", "backward_layer", "layers"})


def _named_vars(vars_group: Any, class_name: str, config: dict[str, Any], owner: str, path: Path) -> list[Weight]:
    datasets = hdf5.numbered_datasets(vars_group, path)
    if not datasets:
        return []
    names = keras3_variable_names(class_name, config)
    if names is None or len(names) != len(datasets):
        raise NeedsKeras(f"layer {owner!r} ({class_name}) has variables convkit names through Keras")
    return [dataset_weight(dataset, f"{owner}/{name}") for dataset, name in zip(datasets, names)]
