"""A Keras model as data: a Keras 2 dialect config plus lazily read weights.

``.h5`` files of both Keras generations, ``.keras`` archives and TF.js layers
models are read into a :class:`PortableModel` without TensorFlow; the TF.js
layers and ``.h5`` writers stream its weights one tensor at a time, so a 1 GB
model never sits in memory whole.

Weights are grouped by top-level layer in the order ``.h5`` files keep them
(trainable first, then non-trainable), the order both Keras generations load
legacy weights by.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from convkit.convert import tfjs_layers
from convkit.errors import ReadError, UsageError

MAX_CONFIG_BYTES = 64 * 1024 * 1024


class NotPortable(Exception):
    """The file holds something only a live Keras model can translate (fallback to TensorFlow)."""


@dataclass
class Weight:
    """One weight tensor, read on demand.

    Attributes:
        name: Keras 2 style name without ``:0`` (``dense/kernel``, ``lstm/lstm_cell/kernel``).
        shape: tensor shape.
        dtype: numpy dtype name.
        read: returns the array.
        trainable: False for moving statistics and frozen layers.
        raw_span: (file, byte offset) when the tensor is stored as plain
            little-endian bytes in a file, so writers may copy it without
            decoding (``os.copy_file_range``); None otherwise.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str
    read: Callable[[], np.ndarray]
    trainable: bool = True
    raw_span: tuple[str, int] | None = None

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize


@dataclass
class PortableModel:
    """Architecture (Keras 2 dialect) and weights of a Keras model.

    Attributes:
        config: ``{"class_name", "config"}`` in the Keras 2 dialect.
        layer_weights: top-level layer name -> its weights, in ``.h5`` order.
        generation: Keras generation of the source (2 or 3).
        keras_version: version string written by the source.
        training_config: the source's compile settings, if any.
        optimizer_weights: names of optimizer tensors in the source (not carried by every target).
        raw_config: the source's own config (Keras 3 dialect for Keras 3 files).
    """

    config: dict[str, Any]
    layer_weights: dict[str, list[Weight]]
    generation: int
    keras_version: str
    training_config: dict[str, Any] | None = None
    optimizer_weights: list[str] = field(default_factory=list)
    raw_config: dict[str, Any] | None = None

    def weights(self) -> Iterator[Weight]:
        for items in self.layer_weights.values():
            yield from items

    def total_bytes(self) -> int:
        return sum(weight.nbytes for weight in self.weights())


# ---------------------------------------------------------------- h5 (legacy Keras)


def read_h5_model(path: Path, stack: contextlib.ExitStack) -> PortableModel:
    """A whole-model ``.h5`` file (tf_keras or Keras 3 ``model.save('x.h5')``)."""
    import h5py

    h5 = _open_h5(path, stack)
    raw = _attr_text(h5.attrs.get("model_config"))
    if raw is None:
        raise UsageError(f"{path}: holds weights only (no model_config); pass --like MODEL for the architecture")
    raw_config = _parse_json(raw, path, "model_config")
    version = _attr_text(h5.attrs.get("keras_version")) or "2"
    generation = 3 if version.startswith("3") else 2
    weights_group = h5["model_weights"] if "model_weights" in h5 else h5
    training = _attr_text(h5.attrs.get("training_config"))
    optimizer = []
    if "optimizer_weights" in h5:
        h5["optimizer_weights"].visit(lambda name: optimizer.append(name))
    config = tfjs_layers.to_keras2_config(raw_config)
    body = raw_config.get("config")
    model_name = body.get("name") if isinstance(body, dict) else None  # Keras 2.0: a bare list of layers
    return PortableModel(
        config=config,
        layer_weights=_named_by_layer(_legacy_layer_weights(weights_group, path, model_name, h5py), config),
        generation=generation,
        keras_version=version,
        training_config=_parse_json(training, path, "training_config") if training else None,
        optimizer_weights=optimizer,
        raw_config=raw_config,
    )


def read_h5_weights_like(path: Path, like: PortableModel, stack: contextlib.ExitStack) -> list[list[Weight]]:
    """Weights of a weights-only ``.h5``, one list per top-level layer of ``like`` that has weights.

    Legacy ``save_weights('x.h5')`` files list layers in order (``layer_names``);
    Keras 3 ``.weights.h5`` files key them by class (``layers/dense_1``), the
    keys Keras derives from the model's layer list, which ``like`` provides.
    """
    import h5py

    h5 = _open_h5(path, stack)
    if "layer_names" in h5.attrs or "model_weights" in h5:
        group = h5["model_weights"] if "model_weights" in h5 else h5
        return [items for items in _legacy_layer_weights(group, path, None, h5py).values() if items]
    if "layers" in h5:
        groups = []
        for layer, group in _keras3_children(like.raw_config or like.config, h5["layers"], h5py):
            items = _keras3_layer_weights(layer, group, h5py)
            items.sort(key=lambda weight: not weight.trainable)
            groups.append(items)
        return [items for items in groups if items]
    raise ReadError(f"{path}: an HDF5 file without Keras weights (no layer_names attribute or layers group)")


def _snake_case(class_name: str) -> str:
    name = re.sub(r"\W+", "", class_name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name)
    return name.lower()


def _keras3_children(model_config: dict[str, Any], layers_group: Any, h5py: Any) -> Iterator[tuple[dict[str, Any], Any]]:
    """(layer config, its weights group or None) for each layer of a model, by Keras 3's keys."""
    layers = (model_config.get("config") or {}).get("layers", [])
    if model_config.get("class_name") == "Sequential":
        layers = [layer for layer in layers if layer.get("class_name") != "InputLayer"]
    used: dict[str, int] = {}
    for layer in layers:
        key = _snake_case(layer.get("class_name", ""))
        if key in used:
            used[key] += 1
            key = f"{key}_{used[key]}"
        else:
            used[key] = 0
        group = layers_group[key] if layers_group is not None and key in layers_group else None
        yield layer, group


def _legacy_layer_weights(group: Any, path: Path, model_name: str | None, h5py: Any) -> dict[str, list[Weight]]:
    layer_names = [_attr_text(name) for name in group.attrs.get("layer_names", [])]
    result: dict[str, list[Weight]] = {}
    for layer_name in layer_names:
        if layer_name not in group:
            raise ReadError(f"{path}: layer {layer_name!r} is listed but has no weights group")
        layer_group = group[layer_name]
        items = []
        for raw_name in layer_group.attrs.get("weight_names", []):
            weight_name = _attr_text(raw_name)
            if weight_name not in layer_group:
                raise ReadError(f"{path}: weight {weight_name!r} of layer {layer_name!r} is missing")
            items.append(_dataset_weight(layer_group[weight_name], _canonical_name(weight_name, model_name)))
        result[layer_name] = items
    return result


_WRAPPERS = frozenset({"Bidirectional", "TimeDistributed"})
_RECURRENT = frozenset({"LSTM", "GRU", "SimpleRNN"})


def _named_by_layer(layer_weights: dict[str, list[Weight]], config: dict[str, Any]) -> dict[str, list[Weight]]:
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
        if not items or class_name in tfjs_layers.MODEL_CLASSES or class_name in _WRAPPERS:
            continue
        if class_name in _RECURRENT:
            for weight in items:
                parts = weight.name.split("/")
                cell = parts[-2] if len(parts) >= 3 and tfjs_layers.is_cell_name(parts[-2]) else f"{class_name.lower()}_cell"
                weight.name = f"{layer_name}/{cell}/{parts[-1]}"
            continue
        names = _keras3_variable_names(class_name, layer.get("config") or {})
        if names is None or len(names) != len(items):
            names = [weight.name.split("/")[-1] for weight in items]
        for weight, attribute in zip(items, names):
            weight.name = f"{layer_name}/{attribute}"
    return layer_weights


def _canonical_name(name: str, model_name: str | None) -> str:
    parts = name.split(":")[0].split("/")
    if model_name and len(parts) >= 3 and parts[0] == model_name:
        parts = parts[1:]
    return "/".join(parts)


def _read_dataset(dataset: Any) -> np.ndarray:
    from convkit.formats._h5 import check_stored

    check_stored(dataset, Path(dataset.file.filename))
    return np.asarray(dataset[()])


def _dataset_weight(dataset: Any, name: str) -> Weight:
    attribute = name.rsplit("/", 1)[-1]
    return Weight(
        name=name,
        shape=tuple(int(d) for d in dataset.shape),
        dtype=np.dtype(dataset.dtype).name,
        read=lambda ds=dataset: _read_dataset(ds),
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
        from convkit.formats._h5 import check_stored

        check_stored(dataset, Path(dataset.file.filename))
        return (dataset.file.filename, int(offset))
    except ReadError:
        raise
    except Exception:  # any doubt: decode through h5py instead
        return None


# ---------------------------------------------------------------- .keras archives


# Variable names of the layers a .keras archive stores as vars/0, vars/1, ...
def _keras3_variable_names(class_name: str, config: dict[str, Any]) -> list[str] | None:
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
    return None


def _check_archive_limits(archive: zipfile.ZipFile, path: Path) -> None:
    # Checked before anything is extracted: a zip bomb declares its size, or betrays it by its ratio.
    from convkit.formats import _limits

    total = 0
    for info in archive.infolist():
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > 1024 * 1024 and ratio > _limits.MAX_COMPRESSION_RATIO:
            raise ReadError(f"{path}: member {info.filename!r} expands {ratio:.0f}x, over convkit's limit of "
                            f"{_limits.MAX_COMPRESSION_RATIO}x (zip bomb?)")
    if total > _limits.MAX_ARCHIVE_BYTES:
        raise ReadError(f"{path}: archive expands to {total} bytes, over convkit's limit of {_limits.MAX_ARCHIVE_BYTES}")


def read_keras_archive(path: Path, stack: contextlib.ExitStack) -> PortableModel:
    """A Keras 3 ``.keras`` archive (``config.json`` + ``model.weights.h5``)."""
    import h5py

    try:
        archive = stack.enter_context(zipfile.ZipFile(path))
        _check_archive_limits(archive, path)
        info = archive.getinfo("config.json")
        if info.file_size > MAX_CONFIG_BYTES:
            raise ReadError(f"{path}: config.json is larger than {MAX_CONFIG_BYTES} bytes")
        raw_config = _parse_json(archive.read("config.json").decode("utf-8"), path, "config.json")
        metadata = {}
        if "metadata.json" in archive.namelist():
            metadata = _parse_json(archive.read("metadata.json").decode("utf-8"), path, "metadata.json")
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="convkit-keras-")))
        weights_path = scratch / "model.weights.h5"
        with archive.open("model.weights.h5") as source, open(weights_path, "wb") as target:
            shutil.copyfileobj(source, target, 16 * 1024 * 1024)
    except (zipfile.BadZipFile, KeyError, OSError) as error:
        raise ReadError(f"{path}: not a readable .keras archive ({error})") from None
    h5 = _open_h5(weights_path, stack)
    layer_weights: dict[str, list[Weight]] = {}
    layers_group = h5["layers"] if "layers" in h5 else None
    for layer, group in _keras3_children(raw_config, layers_group, h5py):
        name = (layer.get("config") or {}).get("name", layer.get("name"))
        items = _keras3_layer_weights(layer, group, h5py)
        items.sort(key=lambda weight: not weight.trainable)
        layer_weights[name] = items
    return PortableModel(
        config=tfjs_layers.to_keras2_config(raw_config),
        layer_weights=layer_weights,
        generation=3,
        keras_version=str(metadata.get("keras_version", "3")),
        training_config=raw_config.get("compile_config"),
        raw_config=raw_config,
    )


def _keras3_layer_weights(layer: dict[str, Any], group: Any, h5py: Any) -> list[Weight]:
    class_name = layer.get("class_name")
    config = layer.get("config") or {}
    name = config.get("name", layer.get("name"))
    frozen = config.get("trainable") is False
    if group is None:
        return []
    items: list[Weight] = []
    if class_name in tfjs_layers.MODEL_CLASSES:
        inner = group["layers"] if "layers" in group else None
        for sub, sub_group in _keras3_children(layer, inner, h5py):
            items.extend(_keras3_layer_weights(sub, sub_group, h5py))
    elif class_name in ("LSTM", "GRU", "SimpleRNN"):
        cell = group["cell"] if "cell" in group else None
        if cell is not None:
            cell_name = _attr_text(cell["vars"].attrs.get("name", f"{class_name.lower()}_cell"))
            items.extend(_named_vars(cell["vars"], f"{class_name}Cell", config, f"{name}/{cell_name}"))
    else:
        items.extend(_named_vars(group["vars"], class_name, config, name))
        for child in ("cell", "layer", "forward_layer", "backward_layer", "layers"):
            if child in group:
                raise NotPortable(f"layer {name!r} ({class_name}) nests variables convkit reads through Keras")
    if frozen:
        for weight in items:
            weight.trainable = False
    return items


def _named_vars(vars_group: Any, class_name: str, config: dict[str, Any], owner: str) -> list[Weight]:
    count = len(vars_group)
    if count == 0:
        return []
    names = _keras3_variable_names(class_name, config)
    if names is None or len(names) != count:
        raise NotPortable(f"layer {owner!r} ({class_name}) has variables convkit names through Keras")
    return [_dataset_weight(vars_group[str(index)], f"{owner}/{names[index]}") for index in range(count)]


# ---------------------------------------------------------------- shared helpers


def _open_h5(path: Path, stack: contextlib.ExitStack) -> Any:
    import h5py

    try:
        return stack.enter_context(h5py.File(path, "r"))
    except OSError as error:
        raise ReadError(f"{path}: not a readable HDF5 file ({error})") from None


def _attr_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray) and value.shape == ():
        return _attr_text(value.item())
    return str(value)


def _parse_json(text: str, path: Path, what: str) -> dict[str, Any]:
    if len(text) > MAX_CONFIG_BYTES:
        raise ReadError(f"{path}: {what} is larger than {MAX_CONFIG_BYTES} bytes")
    try:
        value = json.loads(text)
    except ValueError as error:
        raise ReadError(f"{path}: {what} is not valid JSON ({error})") from None
    if not isinstance(value, dict):
        raise ReadError(f"{path}: {what} is not a JSON object")
    return value


def top_level_owners(config: dict[str, Any]) -> dict[str, str]:
    """Maps every layer name that owns weights to its top-level layer (nested models flattened)."""
    owners: dict[str, str] = {}
    for layer in (config.get("config") or {}).get("layers", []):
        top = (layer.get("config") or {}).get("name", layer.get("name"))
        owners[top] = top
        if layer.get("class_name") in tfjs_layers.MODEL_CLASSES:
            for inner in tfjs_layers.iter_layers(layer):
                owners[(inner.get("config") or {}).get("name", inner.get("name"))] = top
    return owners
