"""Reading any Keras-bearing file, of either Keras generation.

:func:`read_portable` gives a :class:`PortableModel` (config + lazily read
weights) for ``.h5``, ``.keras``, TF.js layers models and weights-only files
with ``like``, without TensorFlow where the file allows; legacy Keras
SavedModels go through tf_keras. :func:`load_keras_model` gives a live Keras
model (Keras 3 or tf_keras) for running it.

Nothing here deserializes a model before :func:`check_safe` has read its
config: Lambda layers carry Python bytecode and run it when loaded.
"""

from __future__ import annotations

import contextlib
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from convkit import registry
from convkit._tf import quiet_tensorflow
from convkit.formats._isolate import preflight
from convkit.convert import tfjs_layers
from convkit.convert.portable import (
    NotPortable,
    PortableModel,
    Weight,
    read_h5_model,
    read_h5_weights_like,
    read_keras_archive,
)
from convkit.errors import ReadError, UnsafeModelError, UsageError

_CODE_CLASSES = frozenset({"Lambda", "__lambda__", "function"})


@dataclass
class LoadedModel:
    """A live Keras model and where it came from.

    Attributes:
        model: a Keras 3 ``keras.Model`` or a tf_keras model.
        generation: 3 for Keras 3, 2 for tf_keras.
        format: the registry name of the source file's format.
    """

    model: Any
    generation: int
    format: str


# ---------------------------------------------------------------- safety


def check_safe(config: Any, path: Path, allow_unsafe: bool) -> None:
    """Refuses configs that would run code from the file (Lambda layers, custom functions).

    Raises:
        UnsafeModelError: unless ``allow_unsafe``.
    """
    if allow_unsafe:
        return
    found = _code_objects(config)
    if found:
        raise UnsafeModelError(
            f"{path}: the model contains {found[0]}, which runs Python code stored in the file; "
            "pass --unsafe only if you trust the file"
        )


def _code_objects(value: Any) -> list[str]:
    found: list[str] = []
    if isinstance(value, dict):
        class_name = value.get("class_name")
        if class_name in _CODE_CLASSES:
            name = (value.get("config") or {}).get("name") if isinstance(value.get("config"), dict) else None
            found.append(f"a {class_name} layer {name!r}" if name else f"a {class_name} object")
        registered = value.get("registered_name")
        if isinstance(registered, str) and ">" in registered:
            found.append(f"the custom object {registered!r}")
        for item in value.values():
            found.extend(_code_objects(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(_code_objects(item))
    return found


def check_known_classes(config: dict[str, Any], path: Path, generation: int) -> None:
    """Refuses layer classes the installed Keras does not know (custom objects without their code)."""
    if generation == 2:
        import tf_keras

        module = tf_keras.layers
    else:
        import keras

        module = keras.layers
    for layer in tfjs_layers.iter_layers(config):
        class_name = layer.get("class_name", "")
        if class_name in tfjs_layers.MODEL_CLASSES or hasattr(module, class_name):
            continue
        if generation == 2 and class_name in ("TFOpLambda", "SlicingOpLambda"):
            continue
        raise UnsafeModelError(
            f"{path}: layer {(layer.get('config') or {}).get('name', '?')!r} is of the custom class "
            f"{class_name!r}, which convkit cannot build without its code"
        )


# ---------------------------------------------------------------- portable reading


def format_of(path: Path) -> str:
    """The registry name of the format at ``path``."""
    return registry.detect(path).name


# What parsers raise on a damaged or hostile file (h5py, zipfile, json, walking a malformed config).
_MALFORMED = (KeyError, TypeError, AttributeError, ValueError, IndexError, RecursionError, OSError, RuntimeError,
              OverflowError, EOFError, MemoryError, zipfile.BadZipFile)


def read_portable(
    path: Path,
    stack: contextlib.ExitStack,
    *,
    like: Path | None = None,
    allow_unsafe: bool = False,
    fmt: str | None = None,
) -> PortableModel:
    """Architecture and weights of ``path`` (with ``like`` for weights-only files).

    Raises:
        UsageError: a weights-only source without ``like``, or a source with no Keras model.
        UnsafeModelError: Lambda layers or custom functions without ``allow_unsafe``.
        ReadError: the file is damaged or malformed, now or when a weight is read later.
    """
    fmt = fmt or format_of(path)
    preflight(path, fmt)
    try:
        model = _read_portable(path, stack, like=like, allow_unsafe=allow_unsafe, fmt=fmt)
    except _MALFORMED as error:
        raise ReadError(
            f"{path}: malformed or damaged {fmt or 'model'} file ({type(error).__name__}: {_first_line(error)})"
        ) from None
    for weight in model.weights():
        weight.read = _guarded_read(weight, path)
    return model


def _guarded_read(weight: Weight, path: Path) -> Any:
    read = weight.read

    def guarded() -> Any:
        try:
            return read()
        except ReadError as error:
            if str(path) in str(error):
                raise
            raise ReadError(f"{path}: weight {weight.name!r}: {error}") from None
        except _MALFORMED as error:
            raise ReadError(
                f"{path}: cannot read weight {weight.name!r} ({type(error).__name__}: {_first_line(error)})"
            ) from None

    return guarded


def _read_portable(
    path: Path,
    stack: contextlib.ExitStack,
    *,
    like: Path | None = None,
    allow_unsafe: bool = False,
    fmt: str | None = None,
) -> PortableModel:
    fmt = fmt or format_of(path)
    if fmt == "tfjs":
        from convkit.convert.streaming import read_tfjs_layers

        model = read_tfjs_layers(path)
    elif fmt == "keras":
        try:
            model = read_keras_archive(path, stack)
        except NotPortable:
            return _keras_archive_through_keras(path, allow_unsafe)
    elif fmt == "h5":
        if is_weights_only_h5(path):
            return _weights_into_like(path, stack, like, allow_unsafe, fmt)
        model = read_h5_model(path, stack)
    elif fmt == "ckpt":
        return _weights_into_like(path, stack, like, allow_unsafe, fmt)
    elif fmt == "savedmodel":
        if has_keras_metadata(path):
            check_safe_saved_model(path, allow_unsafe)
            return portable_from_live(_load_legacy_saved_model(path), path)
        return _weights_into_like(path, stack, like, allow_unsafe, fmt)
    else:  # a format registered later: let its hooks speak for it
        raise UsageError(f"{path}: convkit cannot read Keras models from {fmt} files yet")
    check_safe(model.raw_config, path, allow_unsafe)
    return model


def _keras_archive_through_keras(path: Path, allow_unsafe: bool) -> PortableModel:
    """A .keras archive with layers whose variables only Keras can name: load it (safely) in Keras 3."""
    with zipfile.ZipFile(path) as archive:
        raw_config = json.loads(archive.read("config.json").decode("utf-8"))
    check_safe(raw_config, path, allow_unsafe)
    check_known_classes(raw_config, path, 3)
    quiet_tensorflow()
    import keras

    try:
        live = keras.models.load_model(path, compile=False, safe_mode=not allow_unsafe)
    except (ValueError, TypeError, KeyError) as error:
        raise ReadError(f"{path}: Keras 3 cannot load this archive ({_first_line(error)})") from None
    return portable_from_live(live, path)


def _weights_through_keras(path: Path, template: PortableModel, like: Path, allow_unsafe: bool) -> PortableModel:
    """Keras 3 ``.weights.h5`` for layers convkit cannot name: let Keras 3 load them into ``like``."""
    live = live_from_portable(template, 3, like, allow_unsafe)
    try:
        live.load_weights(path)
    except (ValueError, TypeError, KeyError) as error:
        raise UsageError(f"{path}: does not fit the architecture of {like} ({_first_line(error)})") from None
    return portable_from_live(live, path)


def is_weights_only_h5(path: Path) -> bool:
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            return "model_config" not in h5.attrs
    except OSError as error:
        raise ReadError(f"{path}: not a readable HDF5 file ({error})") from None


def has_keras_metadata(path: Path) -> bool:
    return (Path(path) / "keras_metadata.pb").is_file()


def check_safe_saved_model(path: Path, allow_unsafe: bool) -> None:
    # keras_metadata.pb holds each layer's JSON config as text; a Lambda shows there by name.
    data = (Path(path) / "keras_metadata.pb").read_bytes()
    if not allow_unsafe and re.search(rb'"class_name":\s*"Lambda"', data):
        raise UnsafeModelError(
            f"{path}: the model contains a Lambda layer, which runs Python code stored in the file; "
            "pass --unsafe only if you trust the file"
        )


def _weights_into_like(
    path: Path, stack: contextlib.ExitStack, like: Path | None, allow_unsafe: bool, fmt: str
) -> PortableModel:
    if like is None:
        what = {"ckpt": "a checkpoint", "h5": "a weights-only .h5 file", "savedmodel": "a SavedModel without a Keras config"}
        raise UsageError(
            f"{path}: is {what.get(fmt, 'weights only')} and holds no architecture; "
            "pass --like MODEL with a model file of the same architecture"
        )
    template = read_portable(Path(like), stack, allow_unsafe=allow_unsafe)
    if fmt == "h5":
        try:
            groups = read_h5_weights_like(path, template, stack)
        except NotPortable:
            return _weights_through_keras(path, template, Path(like), allow_unsafe)
        return map_weights_by_structure(template, groups, path, Path(like))
    if fmt == "ckpt":
        return map_checkpoint(template, path, Path(like))
    return map_saved_model_variables(template, path, Path(like))


def map_weights_by_structure(
    template: PortableModel, groups: list[list[Weight]], path: Path, like: Path
) -> PortableModel:
    """``template``'s architecture with the weights of ``groups`` (one list per layer with weights, in order).

    Raises:
        UsageError: the counts differ or a tensor's shape does not fit; the
            message names the first tensor that does not fit.
    """
    targets = [(name, items) for name, items in template.layer_weights.items() if items]
    if len(groups) != len(targets):
        raise UsageError(
            f"{path}: holds weights for {len(groups)} layers but {like} has {len(targets)} layers with weights; "
            "--like must name a model of the same architecture"
        )
    layer_weights = {name: [] for name in template.layer_weights}
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


_LAYER_KEY = re.compile(r"^layer_with_weights-(\d+)/(.*)/\.ATTRIBUTES/VARIABLE_VALUE$")


def _checkpoint_entries(prefix: Path) -> list[tuple[str, tuple[int, ...], str, Any]]:
    from convkit.formats import checkpoint

    index = checkpoint.read_index(prefix)
    return [
        (entry.key, tuple(entry.shape), entry.dtype, lambda key=entry.key: checkpoint.read_tensor(prefix, key))
        for entry in index.entries
    ]


def map_checkpoint(template: PortableModel, path: Path, like: Path) -> PortableModel:
    """Weights of a Keras object-graph checkpoint (``layer_with_weights-N/...``) in ``template``'s architecture."""
    from convkit.formats import checkpoint

    prefix = checkpoint.resolve_prefix(Path(path))
    by_layer: dict[int, list[tuple[str, Weight]]] = {}
    for key, shape, dtype, read in _checkpoint_entries(prefix):
        match = _LAYER_KEY.match(key)
        if not match or ".OPTIMIZER_SLOT" in key:
            continue
        rel = match.group(2)
        by_layer.setdefault(int(match.group(1)), []).append((rel, Weight(key, shape, dtype, read)))
    if not by_layer:
        raise UsageError(f"{path}: holds no Keras layer weights (no layer_with_weights-N entries)")
    targets = [(name, items) for name, items in template.layer_weights.items() if items]
    if len(by_layer) != len(targets):
        raise UsageError(
            f"{path}: holds weights for {len(by_layer)} layers but {like} has {len(targets)} layers with weights; "
            "--like must name a model of the same architecture"
        )
    layer_weights = {name: [] for name in template.layer_weights}
    for (layer_name, expected), number in zip(targets, sorted(by_layer)):
        found = dict(by_layer[number])
        owners = list(dict.fromkeys(tfjs_layers.tfjs_weight_name(w.name).split("/")[0] for w in expected))
        for want in expected:
            attribute = want.name.split("/")[-1]
            owner = tfjs_layers.tfjs_weight_name(want.name).split("/")[0]
            candidates = [rel for rel in found if rel == attribute or rel.endswith("/" + attribute)]
            if len(owners) > 1:
                inner = f"layer_with_weights-{owners.index(owner)}/"
                candidates = [rel for rel in candidates if rel.startswith(inner)]
            if not candidates:
                raise UsageError(
                    f"{path}: layer_with_weights-{number} has no tensor for {want.name!r} of layer {layer_name!r} in {like}; "
                    "--like must name a model of the same architecture"
                )
            got = found.pop(candidates[0])
            _fit(want, got, layer_name, path, like)
            layer_weights[layer_name].append(Weight(want.name, want.shape, got.dtype, got.read, want.trainable))
        if found:
            extra = next(iter(found.values()))
            raise UsageError(f"{path}: tensor {extra.name!r} has no counterpart in layer {layer_name!r} of {like}")
    return _with_weights(template, layer_weights)


def map_saved_model_variables(template: PortableModel, path: Path, like: Path) -> PortableModel:
    """Weights of a Keras 3 ``export()`` SavedModel (``variables/N``, model variable order) in ``template``."""
    prefix = Path(path) / "variables" / "variables"
    if not prefix.with_name("variables.index").is_file():
        raise ReadError(f"{path}: SavedModel has no variables/variables.index")
    numbered = {}
    for key, shape, dtype, read in _checkpoint_entries(prefix):
        match = re.match(r"^variables/(\d+)/\.ATTRIBUTES/VARIABLE_VALUE$", key)
        # integer variables are seed-generator states (Dropout), not weights
        if match and not np.issubdtype(np.dtype(dtype), np.integer):
            numbered[int(match.group(1))] = Weight(key, shape, dtype, read)
    found = [numbered[number] for number in sorted(numbered)]
    expected = [weight for items in template.layer_weights.values() for weight in items]
    if not found:
        raise UsageError(f"{path}: SavedModel lists no model variables (variables/N) convkit can map")
    if len(found) != len(expected):
        raise UsageError(
            f"{path}: holds {len(found)} variables but {like} has {len(expected)} weights; "
            "--like must name a model of the same architecture"
        )
    layer_weights = {name: [] for name in template.layer_weights}
    position = 0
    for layer_name, items in template.layer_weights.items():
        for want in items:
            got = found[position]
            position += 1
            _fit(want, got, layer_name, path, like)
            layer_weights[layer_name].append(Weight(want.name, want.shape, got.dtype, got.read, want.trainable))
    return _with_weights(template, layer_weights)


# ---------------------------------------------------------------- live models


def _load_legacy_saved_model(path: Path) -> Any:
    quiet_tensorflow()
    import tf_keras

    try:
        return tf_keras.models.load_model(str(path), compile=False)
    except (ValueError, TypeError, OSError, KeyError) as error:
        raise ReadError(f"{path}: tf_keras cannot load this Keras SavedModel ({_first_line(error)})") from None


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def portable_from_live(model: Any, path: Path) -> PortableModel:
    """A live Keras model (either generation) as a PortableModel."""
    if _is_tf_keras(model):
        raw = json.loads(model.to_json())
        generation = 2
        import tf_keras

        version = tf_keras.__version__
    else:
        import keras

        raw = keras.saving.serialize_keras_object(model)
        generation = 3
        version = keras.__version__
    layer_weights: dict[str, list[Weight]] = {}
    model_name = raw.get("config", {}).get("name")
    for layer in model.layers:
        items = []
        for variable, trainable in [(v, True) for v in layer.trainable_weights] + [
            (v, False) for v in layer.non_trainable_weights
        ]:
            name = getattr(variable, "path", None) if generation == 3 else variable.name
            name = str(name or variable.name).split(":")[0]
            parts = name.split("/")
            if model_name and len(parts) >= 3 and parts[0] == model_name:
                name = "/".join(parts[1:])
            items.append(Weight(name, tuple(int(d) for d in variable.shape), _dtype_name(variable.dtype),
                                lambda v=variable: np.asarray(v.numpy()), trainable))
        layer_weights[layer.name] = items
    return PortableModel(
        config=tfjs_layers.to_keras2_config(raw),
        layer_weights=layer_weights,
        generation=generation,
        keras_version=version,
        raw_config=raw,
    )


def _dtype_name(dtype: Any) -> str:
    name = getattr(dtype, "name", None) or str(dtype)
    return np.dtype(name).name


def _is_tf_keras(model: Any) -> bool:
    return type(model).__module__.startswith("tf_keras")


def live_from_portable(model: PortableModel, generation: int, path: Path, allow_unsafe: bool = False) -> Any:
    """Builds a live Keras model of ``generation`` (2: tf_keras, 3: Keras 3) with ``model``'s weights.

    Raises:
        ReadError: that Keras generation cannot build the architecture.
    """
    quiet_tensorflow()
    if generation == 2:
        import tf_keras

        config = model.config
        check_known_classes(config, path, 2)
        try:
            live = tf_keras.models.model_from_json(json.dumps(config))
        except (ValueError, TypeError, KeyError) as error:
            raise ReadError(f"{path}: tf_keras cannot build this architecture ({_first_line(error)})") from None
    else:
        import keras

        if model.generation == 3 and model.raw_config:
            config = model.raw_config
        else:
            config = tfjs_layers.keras3_dialect(model.config)
        check_known_classes(config, path, 3)
        try:
            with _unsafe_scope(allow_unsafe):
                builder = keras.Sequential if config.get("class_name") == "Sequential" else keras.Model
                live = builder.from_config(config.get("config") or {})
        except (ValueError, TypeError, KeyError) as error:
            raise ReadError(f"{path}: Keras 3 cannot build this architecture ({_first_line(error)})") from None
    assign_weights(live, model, path)
    return live


@contextlib.contextmanager
def _unsafe_scope(allow_unsafe: bool):
    # Keras 3 refuses Lambda bytecode unless unsafe deserialization is on; only the
    # user's explicit --unsafe turns it on, for this process.
    if allow_unsafe:
        import keras

        keras.config.enable_unsafe_deserialization()
    yield


def assign_weights(live: Any, model: PortableModel, path: Path) -> None:
    """Sets every variable of ``live`` from ``model``'s weights, matched by TF.js-style name."""
    source = {tfjs_layers.tfjs_weight_name(weight.name): weight for weight in model.weights()}
    generation = 2 if _is_tf_keras(live) else 3
    seen = set()
    for variable in live.weights:
        raw_name = getattr(variable, "path", None) if generation == 3 else variable.name
        key = tfjs_layers.tfjs_weight_name(str(raw_name or variable.name))
        if key in seen:
            raise ReadError(f"{path}: two weights of the model are both named {key!r}; convkit cannot map them")
        seen.add(key)
        weight = source.pop(key, None)
        if weight is None:
            raise ReadError(f"{path}: no stored value for weight {key!r} of the model")
        values = weight.read()
        if tuple(values.shape) != tuple(variable.shape):
            raise ReadError(
                f"{path}: weight {key!r} is stored with shape {list(values.shape)} but the model expects "
                f"{list(variable.shape)}"
            )
        variable.assign(values.astype(_dtype_name(variable.dtype), copy=False))
    if source:
        raise ReadError(f"{path}: stored weight {next(iter(source))!r} matches no weight of the model")


def load_keras_model(path: str | Path, like: str | Path | None = None, allow_unsafe: bool = False) -> LoadedModel:
    """Loads any Keras-bearing file into a live Keras model.

    ``.keras`` and Keras 3 ``.h5`` files load in Keras 3; tf_keras ``.h5``
    files, legacy Keras SavedModels and TF.js layers models load in tf_keras;
    weights-only files (checkpoints, ``.weights.h5``, legacy weights ``.h5``,
    Keras 3 ``export()`` SavedModels) take the architecture of ``like``.

    Args:
        path: the model file.
        like: a model file of the same architecture, for weights-only files.
        allow_unsafe: allow Lambda layers and custom functions (runs code from the file).

    Raises:
        ConvkitError: the file cannot be read or is refused as unsafe.
    """
    path = Path(path)
    fmt = format_of(path)
    quiet_tensorflow()
    if fmt == "keras":
        with contextlib.ExitStack() as stack:
            portable = read_keras_archive(path, stack)
            check_safe(portable.raw_config, path, allow_unsafe)
        import keras

        check_known_classes(portable.raw_config or {}, path, 3)
        try:
            model = keras.models.load_model(path, compile=False, safe_mode=not allow_unsafe)
        except (ValueError, TypeError, KeyError) as error:
            raise ReadError(f"{path}: Keras 3 cannot load this archive ({_first_line(error)})") from None
        return LoadedModel(model, 3, fmt)
    if fmt == "savedmodel" and has_keras_metadata(path):
        check_safe_saved_model(path, allow_unsafe)
        return LoadedModel(_load_legacy_saved_model(path), 2, fmt)
    with contextlib.ExitStack() as stack:
        portable = read_portable(path, stack, like=Path(like) if like else None, allow_unsafe=allow_unsafe, fmt=fmt)
        generation = 3 if portable.generation == 3 else 2
        try:
            model = live_from_portable(portable, generation, path, allow_unsafe)
        except ReadError:
            if generation == 3:
                raise
            model = live_from_portable(portable, 3, path, allow_unsafe)
            generation = 3
    return LoadedModel(model, generation, fmt)
