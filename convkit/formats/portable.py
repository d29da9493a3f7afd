"""A Keras model as data: a Keras 2 dialect config plus lazily read weights.

``.h5`` files of both Keras generations, ``.keras`` archives and TF.js layers
models are read into a :class:`PortableModel` without TensorFlow; the TF.js
layers and ``.h5`` writers stream its weights one tensor at a time, so a 1 GB
model never sits in memory whole. Weights-only files (checkpoints, weights-only
``.h5``, Keras 3 ``export()`` SavedModels) are mapped into the architecture of
a template model. Each format's record names its reader here
(``read_h5``, ``read_keras``, ``read_tfjs``, ``read_checkpoint``,
``read_savedmodel``); :func:`read_portable` asks the registry which one to use.

Weights are grouped by top-level layer in the order ``.h5`` files keep them
(trainable first, then non-trainable), the order both Keras generations load
legacy weights by.
"""

from __future__ import annotations

import contextlib
import functools
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from convkit import registry
from convkit.formats import keras_dialect
from convkit.errors import ReadError, UsageError
from convkit.formats import _limits

MAX_CONFIG_BYTES = _limits.MAX_JSON_BYTES


class NotPortable(Exception):
    """The file holds something only a live Keras model can translate (the caller loads it in Keras).

    Attributes:
        generation: the Keras generation that reads it (2: tf_keras, 3: Keras 3).
    """

    def __init__(self, message: str, generation: int = 3, weights_only: bool = False) -> None:
        super().__init__(message)
        self.generation = generation
        self.weights_only = weights_only


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
    config = keras_dialect.to_keras2_config(raw_config)
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
    layer_names = [str(_attr_text(name)) for name in group.attrs.get("layer_names", [])]
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
            items.append(_dataset_weight(layer_group[weight_name], _canonical_name(str(weight_name), model_name)))
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
        if not items or class_name in keras_dialect.MODEL_CLASSES or class_name in _WRAPPERS:
            continue
        if class_name in _RECURRENT:
            for weight in items:
                parts = weight.name.split("/")
                cell = parts[-2] if len(parts) >= 3 and keras_dialect.is_cell_name(parts[-2]) else f"{class_name.lower()}_cell"
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
    if class_name == "Normalization":  # adapted statistics (none when mean and variance are in the config)
        return ["mean", "variance", "count"]
    if class_name == "LayerScale":  # ConvNeXt's; Keras 3 leaves the variable unnamed, tf_keras calls it gamma
        return ["gamma"]
    return None


def read_keras_archive(path: Path, stack: contextlib.ExitStack) -> PortableModel:
    """A Keras 3 ``.keras`` archive (``config.json`` + ``model.weights.h5``)."""
    import h5py

    try:
        from convkit.formats import keras_archive

        archive = stack.enter_context(zipfile.ZipFile(path))
        keras_archive.check_members(archive, path)
        raw_config = keras_archive.json_member(archive, "config.json", path)
        if not isinstance(raw_config, dict):
            raise ReadError(f"{path}: config.json is not a JSON object")
        metadata = {}
        if "metadata.json" in archive.namelist():
            metadata = keras_archive.json_member(archive, "metadata.json", path)
            metadata = metadata if isinstance(metadata, dict) else {}
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="convkit-keras-")))
        weights_path = scratch / "model.weights.h5"
        with archive.open("model.weights.h5") as source, open(weights_path, "wb") as target:
            shutil.copyfileobj(source, target, 16 * 1024 * 1024)
    except (zipfile.BadZipFile, KeyError, OSError) as error:
        raise ReadError(f"{path}: not a readable .keras archive ({error})") from None
    # tf_keras writes .keras archives too; its activations and TFOpLambda layers are its own
    generation = 2 if str(metadata.get("keras_version", "3")).startswith("2.") else 3
    h5 = _open_h5(weights_path, stack)
    layer_weights: dict[str, list[Weight]] = {}
    layers_group = h5["layers"] if "layers" in h5 else None
    try:
        for layer, group in _keras3_children(raw_config, layers_group, h5py):
            name = (layer.get("config") or {}).get("name", layer.get("name"))
            items = _keras3_layer_weights(layer, group, h5py)
            items.sort(key=lambda weight: not weight.trainable)
            layer_weights[name] = items
    except NotPortable as error:  # the Keras that wrote the archive reads it
        raise NotPortable(str(error), generation) from None
    return PortableModel(
        config=keras_dialect.to_keras2_config(raw_config),
        layer_weights=layer_weights,
        generation=generation,
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
    if class_name in keras_dialect.MODEL_CLASSES:
        inner = group["layers"] if "layers" in group else None
        for sub, sub_group in _keras3_children(layer, inner, h5py):
            items.extend(_keras3_layer_weights(sub, sub_group, h5py))
    elif class_name in ("LSTM", "GRU", "SimpleRNN"):
        cell = group["cell"] if "cell" in group else None
        if cell is not None:
            cell_name = _attr_text(cell["vars"].attrs.get("name", f"{class_name.lower()}_cell"))
            items.extend(_named_vars(cell["vars"], f"{class_name}Cell", config, f"{name}/{cell_name}"))
    else:
        items.extend(_named_vars(group["vars"], str(class_name), config, str(name)))
        # wrappers and layers made of layers (MultiHeadAttention's query_dense, ...) keep variables in sub-groups
        for child in group:
            if child != "vars" and (child in _NESTING_GROUPS or _holds_datasets(group[child], h5py)):
                raise NotPortable(f"layer {name!r} ({class_name}) nests variables convkit reads through Keras")
    if frozen:
        for weight in items:
            weight.trainable = False
    return items


_NESTING_GROUPS = frozenset({"cell", "layer", "forward_layer", "backward_layer", "layers"})


def _holds_datasets(node: Any, h5py: Any) -> bool:
    if isinstance(node, h5py.Dataset):
        return True
    return isinstance(node, h5py.Group) and any(_holds_datasets(node[key], h5py) for key in node)


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
    value = _limits.parse_json(text, path, what)
    if not isinstance(value, dict):
        raise ReadError(f"{path}: {what} is not a JSON object")
    return value


def top_level_owners(config: dict[str, Any]) -> dict[str, str]:
    """Maps every layer name that owns weights to its top-level layer (nested models flattened)."""
    owners: dict[str, str] = {}
    for layer in (config.get("config") or {}).get("layers", []):
        top = (layer.get("config") or {}).get("name", layer.get("name"))
        owners[top] = top
        if layer.get("class_name") in keras_dialect.MODEL_CLASSES:
            for inner in keras_dialect.iter_layers(layer):
                owners[(inner.get("config") or {}).get("name", inner.get("name"))] = top
    return owners


# ---------------------------------------------------------------- TF.js layers models


def read_tfjs_layers(path: Path) -> PortableModel:
    """A TF.js layers model (``model.json`` or its folder) as a PortableModel."""
    from convkit.formats import tfjs

    model_json = path / "model.json" if path.is_dir() else path
    document = tfjs.read_model_json(model_json)  # size-capped; shard paths checked to stay in the folder
    if document.get("format") == "graph-model":
        raise UsageError(f"{path}: is a TF.js graph model, which holds no Keras architecture")
    topology = document.get("modelTopology")
    if not isinstance(topology, dict):
        raise ReadError(f"{model_json}: has no modelTopology object")
    config = topology.get("model_config", topology)
    if not isinstance(config, dict) or "class_name" not in config:
        raise ReadError(f"{model_json}: modelTopology has no class_name")
    config = keras_dialect.to_keras2_config({"class_name": config["class_name"], "config": config.get("config", {})})
    owners = top_level_owners(config)
    layer_weights: dict[str, list[Weight]] = {
        (layer.get("config") or {}).get("name", layer.get("name")): [] for layer in config["config"].get("layers", [])
    }
    cells = _cell_owners(config, document)
    known = keras_dialect.layer_names(config)
    for weight in _manifest_weights(model_json, document):
        owner = keras_dialect.tfjs_weight_name(weight.name, known).rpartition("/")[0]
        top = owners.get(owner)
        if top is None and owner in cells:  # TF.js names a recurrent layer's weights by its cell
            weight.name = f"{cells[owner]}/{owner}/{weight.name.split('/')[-1]}"
            top = owners.get(cells[owner])
        if top is None:
            raise ReadError(f"{model_json}: weight {weight.name!r} belongs to no layer of the topology")
        if any(other.name == weight.name for other in layer_weights.setdefault(top, [])):
            raise ReadError(f"{model_json}: the manifest lists weight {weight.name!r} twice")
        layer_weights[top].append(weight)
    version = str(topology.get("keras_version", "2"))
    return PortableModel(
        config=config,
        layer_weights=layer_weights,
        generation=2,
        keras_version=version if version[:1].isdigit() else "2.19.0",
        training_config=document.get("trainingConfig") or topology.get("training_config"),
        raw_config=config,
    )


def _cell_owners(config: dict[str, Any], document: dict[str, Any]) -> dict[str, str]:
    """Cell names (``lstm_cell_1``) in the manifest -> the recurrent layers they belong to, in order."""
    layers = {(layer.get("config") or {}).get("name") for layer in keras_dialect.iter_layers(config)}
    recurrent = [str((layer.get("config") or {}).get("name")) for layer in keras_dialect.iter_layers(config)
                 if layer.get("class_name") in ("LSTM", "GRU", "SimpleRNN")]
    cells: list[str] = []
    for group in document.get("weightsManifest", []):
        for spec in group.get("weights", []) if isinstance(group, dict) else []:
            owner = str(spec.get("name", "")).split("/")[0] if isinstance(spec, dict) else ""
            if owner not in layers and "cell" in owner and owner not in cells:
                cells.append(owner)
    if len(cells) != len(recurrent):
        return {}
    return dict(zip(cells, recurrent))


def _manifest_weights(model_json: Path, document: dict[str, Any]) -> list[Weight]:
    from convkit.formats import tfjs

    weights: list[Weight] = []
    for group in document.get("weightsManifest", []):
        shard_paths = tfjs.group_shards(model_json, group)
        sizes = [shard.stat().st_size for shard in shard_paths]
        offset = 0
        for spec in group.get("weights", []):
            nbytes = tfjs.weight_bytes(spec)
            if nbytes is None:
                raise ReadError(f"{model_json}: weight {spec.get('name')!r} is a string tensor, which no Keras layer holds")
            if offset + nbytes > sum(sizes):
                raise ReadError(f"{model_json}: weight {spec.get('name')!r} runs past the end of its shards")
            weights.append(Weight(
                name=str(spec["name"]),
                shape=tuple(int(d) for d in spec.get("shape", [])),
                dtype=str(spec.get("dtype", "float32")),
                read=functools.partial(_read_manifest_weight, model_json, spec, shard_paths, sizes, offset, nbytes),
                trainable=not str(spec["name"]).endswith(("moving_mean", "moving_variance")),
            ))
            offset += nbytes
    return weights


def _read_manifest_weight(model_json: Path, spec: dict[str, Any], paths: list[Path], sizes: list[int], offset: int,
                          nbytes: int) -> np.ndarray:
    from convkit.formats import tfjs

    array: np.ndarray = tfjs.decode_weight(spec, _read_span(paths, sizes, offset, nbytes), 0, model_json)[0]
    return array


def _read_span(paths: list[Path], sizes: list[int], offset: int, nbytes: int) -> bytes:
    from convkit.formats._files import open_regular

    chunks = []
    start = 0
    for path, size in zip(paths, sizes):
        end = start + size
        if offset < end and offset + nbytes > start:
            low = max(offset, start) - start
            high = min(offset + nbytes, end) - start
            with open_regular(path) as handle:
                handle.seek(low)
                chunks.append(handle.read(high - low))
        start = end
    return b"".join(chunks)


# ---------------------------------------------------------------- weights into a template


def map_weights_by_structure(
    template: PortableModel, groups: list[list[Weight]], path: Path, like: Path
) -> PortableModel:
    """``template``'s architecture with the weights of ``groups`` (one list per layer with weights, in order).

    Raises:
        UsageError: the counts differ or a tensor's shape does not fit; the
            message names the first tensor that does not fit.
    """
    targets = [(name, items) for name, items in template.layer_weights.items() if items]
    _same_count(len(groups), len(targets), "layers", "layers with weights", path, like)
    layer_weights: dict[str, list[Weight]] = {name: [] for name in template.layer_weights}
    for (layer_name, expected), found in zip(targets, groups):
        if len(found) != len(expected):
            raise UsageError(
                f"{path}: tensor {found[0].name!r} starts a group of {len(found)} weights but layer "
                f"{layer_name!r} of {like} has {len(expected)}"
            )
        for want, got in zip(expected, found):
            _fit(want, got, layer_name, path, like)
            layer_weights[layer_name].append(Weight(want.name, want.shape, got.dtype, got.read, want.trainable))
    return _with_weights(template, layer_weights)


def _same_count(found: int, expected: int, found_what: str, expected_what: str, path: Path, like: Path) -> None:
    if found != expected:
        held = f"weights for {found} layers" if found_what == "layers" else f"{found} {found_what}"
        raise UsageError(
            f"{path}: holds {held} but {like} has {expected} {expected_what}; "
            "--like must name a model of the same architecture"
        )


def _fit(want: Weight, got: Weight, layer_name: str, path: Path, like: Path) -> None:
    if tuple(want.shape) != tuple(got.shape):
        raise UsageError(
            f"{path}: tensor {got.name!r} has shape {list(got.shape)} but {want.name!r} of layer "
            f"{layer_name!r} in {like} has shape {list(want.shape)}; --like must name a model of the same architecture"
        )


def _with_weights(template: PortableModel, layer_weights: dict[str, list[Weight]]) -> PortableModel:
    return PortableModel(
        config=template.config,
        layer_weights=layer_weights,
        generation=template.generation,
        keras_version=template.keras_version,
        training_config=None,
        raw_config=template.raw_config,
    )


def map_checkpoint(template: PortableModel, path: Path, like: Path) -> PortableModel:
    """Weights of a Keras object-graph checkpoint (``layer_with_weights-N/...``) in ``template``'s architecture."""
    from convkit.formats import checkpoint
    from convkit.train import checkpoints as layout

    prefix = checkpoint.resolve_prefix(Path(path))
    index = checkpoint.read_index(prefix)
    targets = [(name, items) for name, items in template.layer_weights.items() if items]
    by_layer = layout.layer_entries(entry.key for entry in index.entries)
    if not by_layer:
        raise UsageError(f"{path}: holds no Keras layer weights (no layer_with_weights-N entries)")
    _same_count(len(by_layer), len(targets), "layers", "layers with weights", path, like)
    entries = {entry.key: entry for entry in index.entries}
    known = keras_dialect.layer_names(template.config)
    layer_weights: dict[str, list[Weight]] = {name: [] for name in template.layer_weights}
    for (layer_name, expected), number in zip(targets, sorted(by_layer)):
        keys = layout.match_layer(by_layer[number], [keras_dialect.tfjs_weight_name(w.name, known) for w in expected])
        for want, key in zip(expected, keys):
            if key is None:
                raise UsageError(
                    f"{path}: layer_with_weights-{number} has no tensor for {want.name!r} of layer {layer_name!r} "
                    f"in {like}; --like must name a model of the same architecture"
                )
            entry = entries[key]
            got = Weight(key, tuple(entry.shape), entry.dtype, functools.partial(checkpoint.read_tensor, prefix, key))
            _fit(want, got, layer_name, path, like)
            layer_weights[layer_name].append(Weight(want.name, want.shape, got.dtype, got.read, want.trainable))
        extra = sorted(set(by_layer[number].values()) - set(keys))
        if extra:
            raise UsageError(f"{path}: tensor {extra[0]!r} has no counterpart in layer {layer_name!r} of {like}")
    return _with_weights(template, layer_weights)


def map_saved_model_variables(template: PortableModel, path: Path, like: Path) -> PortableModel:
    """Weights of a Keras 3 ``export()`` SavedModel (``variables/N``, model variable order) in ``template``."""
    from convkit.formats import checkpoint

    prefix = Path(path) / "variables" / "variables"
    if not prefix.with_name("variables.index").is_file():
        raise ReadError(f"{path}: SavedModel has no variables/variables.index")
    numbered = {}
    for entry in checkpoint.read_index(prefix).entries:
        match = re.match(r"^variables/(\d+)/\.ATTRIBUTES/VARIABLE_VALUE$", entry.key)
        if match:
            numbered[int(match.group(1))] = Weight(entry.key, tuple(entry.shape), entry.dtype,
                                                   functools.partial(checkpoint.read_tensor, prefix, entry.key))
    expected = [weight for items in template.layer_weights.values() for weight in items]
    found = _without_seed_states([numbered[number] for number in sorted(numbered)], expected)
    if not found:
        raise UsageError(f"{path}: SavedModel lists no model variables (variables/N) convkit can map")
    _same_count(len(found), len(expected), "variables", "weights", path, like)
    layer_weights: dict[str, list[Weight]] = {name: [] for name in template.layer_weights}
    position = 0
    for layer_name, items in template.layer_weights.items():
        for want in items:
            got = found[position]
            position += 1
            _fit(want, got, layer_name, path, like)
            layer_weights[layer_name].append(Weight(want.name, want.shape, got.dtype, got.read, want.trainable))
    return _with_weights(template, layer_weights)


def _without_seed_states(variables: list[Weight], expected: list[Weight]) -> list[Weight]:
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


# ---------------------------------------------------------------- the readers the registry names

Template = Callable[[], PortableModel]


def _needs_like(path: Path, what: str) -> UsageError:
    return UsageError(
        f"{path}: is {what} and holds no architecture; pass --like MODEL with a model file of the same architecture"
    )


def is_weights_only_h5(path: Path) -> bool:
    """Whether an ``.h5`` file holds weights without a model config."""
    from convkit.formats import _h5

    with _h5.open_hdf5(path, path) as h5:
        return "model_config" not in h5.attrs


def read_h5(path: Path, stack: contextlib.ExitStack, *, like: Path | None, template: Template | None) -> PortableModel:
    """A whole-model ``.h5``, or a weights-only one in the architecture of ``template``."""
    if not is_weights_only_h5(path):
        return read_h5_model(path, stack)
    if template is None or like is None:
        raise _needs_like(path, "a weights-only .h5 file")
    model = template()
    try:
        groups = read_h5_weights_like(path, model, stack)
    except NotPortable as error:
        raise NotPortable(str(error), 3, weights_only=True) from None
    return map_weights_by_structure(model, groups, path, like)


def read_keras(path: Path, stack: contextlib.ExitStack, *, like: Path | None, template: Template | None) -> PortableModel:
    """A Keras 3 ``.keras`` archive."""
    return read_keras_archive(path, stack)


def read_tfjs(path: Path, stack: contextlib.ExitStack, *, like: Path | None, template: Template | None) -> PortableModel:
    """A TF.js layers model."""
    return read_tfjs_layers(path)


def read_checkpoint(path: Path, stack: contextlib.ExitStack, *, like: Path | None,
                    template: Template | None) -> PortableModel:
    """A TF checkpoint in the architecture of ``template``."""
    if template is None or like is None:
        raise _needs_like(path, "a checkpoint")
    return map_checkpoint(template(), path, like)


def read_savedmodel(path: Path, stack: contextlib.ExitStack, *, like: Path | None,
                    template: Template | None) -> PortableModel:
    """A Keras 3 ``export()`` SavedModel in the architecture of ``template``; tf_keras ones load in tf_keras."""
    from convkit.formats.savedmodel import has_keras_metadata

    if has_keras_metadata(path):
        raise NotPortable(f"{path}: a tf_keras SavedModel loads in tf_keras", generation=2)
    if template is None or like is None:
        raise _needs_like(path, "a SavedModel without a Keras config")
    return map_saved_model_variables(template(), path, like)


def read_portable(path: Path, stack: contextlib.ExitStack, fmt: str, *, like: Path | None = None,
                  template: Template | None = None) -> PortableModel:
    """The model at ``path`` read by its format's reader (the registry names it).

    Raises:
        UsageError: the format holds no Keras model, or a weights-only file without ``like``.
        NotPortable: only a live Keras model can read this file.
        ReadError: the file is damaged.
    """
    record = registry.get_format(fmt)
    reader = record.resolve("reader")
    if reader is None and record.no_reader:
        raise UsageError(f"{path}: convkit does not read Keras models back from {fmt} files ({record.no_reader}); "
                         "keep the Keras source and convert that")
    if reader is None:
        raise UsageError(f"{path}: convkit cannot read Keras models from {fmt} files")
    model: PortableModel = reader(path, stack, like=like, template=template)
    return model
