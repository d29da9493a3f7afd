"""Live Keras models (Keras 3 or tf_keras) built from the in-memory model, and the way back.

:func:`build_model` builds a live model of either generation from a
:class:`~convkit.keras_model.data.ModelData` (its config in the dialect that
generation reads) and assigns its weights by name; :func:`model_data_of` turns
a live model into ModelData; :func:`load_whole` loads a file only Keras can
read whole. Nothing here deserializes a model the code policy
(:mod:`convkit.policy`) has not judged: Lambda layers carry Python bytecode and
run it when loaded.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np

from convkit import registry
from convkit._tf import quiet_tensorflow
from convkit.errors import ReadError, RunError, UnsafeModelError, error_text
from convkit.keras_model.config import MODEL_CLASSES, is_cell_name, iter_layers, layer_names
from convkit.keras_model.data import ModelData, Weight
from convkit.keras_model.dialect import (
    generations_differ, keras3_dialect, redefined_recurrent_gates, tf_keras_dialect, to_keras2_config,
    with_shipped_modules,
)
from convkit.keras_model.operations import is_operation_record, with_operation_modules
from convkit.keras_model.renames import keras3_renamed_layers
from convkit.keras_model.weights import tfjs_weight_name
from convkit.policy.code import TF_OP_LAYER
from convkit.policy.graph_ops import tf_op_layer_op
from convkit.policy.safe_mode import unsafe_scope
from convkit.policy.shipped import (
    is_keras3_layer,
    is_keras_operation,
    is_keras_shipped_class,
    keras_shipped_layer,
    keras_shipped_layers,
    tf_keras_builtin_layer,
)


def check_known_classes(config: dict[str, Any], path: Path, generation: int) -> None:
    """Refuses layer classes the installed Keras does not know (custom objects without their code)."""
    if generation == 2:
        import tf_keras

        module = tf_keras.layers
    else:
        import keras

        module = keras.layers
    for layer in [config, *iter_layers(config)] if config.get("class_name") not in MODEL_CLASSES else iter_layers(config):
        class_name = layer.get("class_name", "")
        if class_name in MODEL_CLASSES or hasattr(module, class_name):
            continue
        if generation == 2 and class_name in ("TFOpLambda", "SlicingOpLambda"):
            continue
        if keras_shipped_layer(class_name, generation) is not None:
            continue  # Keras' own class (ConvNeXt's LayerScale): see keras_shipped_layers
        # An operation (x + 3.0): Keras 3 builds it, tf_keras gets it as a TFOpLambda where one exists.
        if is_operation_record(layer) and (generation == 2 or is_keras_operation(layer)):
            continue
        if class_name == TF_OP_LAYER:  # one to_keras2_config could not write as a TFOpLambda
            raise ReadError(f"{path}: layer {layer.get('name') or '?'!r} wraps the TensorFlow op "
                            f"{tf_op_layer_op(layer.get('config'))!r} in a TensorFlowOpLayer, which convkit cannot "
                            "rebuild as a TensorFlow function call")
        if is_keras_shipped_class(layer):
            if generation == 3:
                continue
            raise ReadError(f"{path}: tf_keras has no layer class {class_name!r} (Keras 3 ships it in {layer['module']})")
        if generation == 2 and is_keras3_layer(layer):  # RMSNormalization, GroupQueryAttention: Keras 3 builds them
            raise ReadError(f"{path}: tf_keras has no layer class {class_name!r} (a Keras 3 layer)")
        if generation == 3 and tf_keras_builtin_layer(class_name) is not None:  # LocallyConnected2D: Keras 3 dropped it
            raise ReadError(f"{path}: Keras 3 has no layer class {class_name!r} (a tf_keras layer it dropped), "
                            "so no Keras 3 model can hold this one")
        name = (layer.get("config") or {}).get("name") or layer.get("name") or "?"
        raise UnsafeModelError(
            f"{path}: layer {name!r} is of the custom class {class_name!r}, which convkit cannot build without its code"
        )


# What Keras raises when it cannot build or load what a config describes (a 10,000-layer model
# exceeds its recursion depth): a property of the file, not a bug in convkit.
# NotImplementedError: a layer Keras revived from a SavedModel's graph has no config to give.
KERAS_REFUSALS: tuple[type[Exception], ...] = (ValueError, TypeError, KeyError, RecursionError, NotImplementedError)


KERAS_LOAD_REFUSALS: tuple[type[Exception], ...] = (*KERAS_REFUSALS, OSError)


def load_whole(path: Path, fmt: str, generation: int, allow_unsafe: bool) -> Any:
    """A file only Keras can read whole: a tf_keras SavedModel, a .keras archive with unusual layers."""
    quiet_tensorflow()
    read_configs = registry.get_format(fmt).configs
    model_configs = read_configs(path) if read_configs is not None else []
    if generation == 2:
        import tf_keras

        # tf_keras revives a layer of a class it does not know from the SavedModel's graph, as an object
        # without a config that no other Keras can build: refused here, by name (every node of a SavedModel)
        for config in model_configs:
            if isinstance(config, dict) and isinstance(config.get("class_name"), str):
                check_known_classes(config, path, 2)
        with unsafe_scope(allow_unsafe, (2,)):
            try:
                return tf_keras.models.load_model(str(path), compile=False,
                                                  custom_objects=keras_shipped_layers(2))
            except KERAS_LOAD_REFUSALS as error:
                what = registry.get_format(fmt).description
                raise RunError(f"{path}: tf_keras cannot load this {what} ({error_text(error)})") from None
    import keras

    if model_configs and isinstance(model_configs[0], dict):
        check_known_classes(model_configs[0], path, 3)
    with unsafe_scope(allow_unsafe, (3,)):
        try:
            return keras.models.load_model(path, compile=False, safe_mode=not allow_unsafe)
        except KERAS_REFUSALS as error:
            raise RunError(f"{path}: Keras 3 cannot load this archive ({error_text(error)})") from None


def model_data_of(model: Any, path: Path) -> ModelData:
    """A live Keras model (either generation) as a ModelData."""
    try:
        return _model_data_of(model, path)
    except NotImplementedError:  # get_config of a layer revived from a graph
        raise ReadError(f"{path}: the model holds layers Keras could only revive from the saved graph, without a "
                        "config (custom layers without get_config), so convkit cannot rebuild it") from None


def _model_data_of(model: Any, path: Path) -> ModelData:
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
                                functools.partial(_variable_value, variable), trainable))
        layer_weights[layer.name] = items
    return ModelData(
        config=to_keras2_config(raw),
        layer_weights=layer_weights,
        generation=generation,
        keras_version=version,
        raw_config=raw,
    )


def _variable_value(variable: Any) -> np.ndarray:
    return np.asarray(variable.numpy())


def _dtype_name(dtype: Any) -> str:
    name = getattr(dtype, "name", None) or str(dtype)
    return np.dtype(name).name


def _is_tf_keras(model: Any) -> bool:
    return type(model).__module__.startswith("tf_keras")


def build_model(model: ModelData, generation: int, path: Path, allow_unsafe: bool = False) -> Any:
    """Builds a live Keras model of ``generation`` (2: tf_keras, 3: Keras 3) with ``model``'s weights.

    Raises:
        ReadError: that Keras generation cannot build the architecture.
    """
    quiet_tensorflow()
    renamed: dict[str, str] = {}
    if generation == 2:
        import tf_keras

        config = tf_keras_dialect(model.config, model.generation)
        redefined = redefined_recurrent_gates(config) if model.generation == 3 else []
        if redefined:
            raise ReadError(f"{path}: tf_keras cannot build this architecture as Keras 3 computes it: {redefined[0]} "
                            "is Keras 3's relu6(x + 3) / 6, which tf_keras computes as clip(0.2 x + 0.5, 0, 1)")
        for layer in iter_layers(config):
            if is_operation_record(layer):  # left a Keras 3 record: no TFOpLambda stands for it
                raise ReadError(f"{path}: tf_keras cannot build this architecture: layer {layer.get('name')!r} is "
                                f"the Keras 3 operation {layer.get('class_name')}, which has no TFOpLambda counterpart")
        # Keras 3's own config still names each class's module (a Keras-shipped class is no custom one).
        check_known_classes(model.raw_config if model.generation == 3 and model.raw_config else config, path, 2)
        from convkit.runtimes.keras.tf_keras import zero_initial_values

        try:
            # Zeros, not the initializers' random values: assign_weights below sets every variable or fails.
            with unsafe_scope(allow_unsafe, (2,)), zero_initial_values():
                live = tf_keras.models.model_from_json(json.dumps(config),
                                                       custom_objects=keras_shipped_layers(2))
        except KERAS_REFUSALS as error:
            raise ReadError(f"{path}: tf_keras cannot build this architecture ({error_text(error)})") from None
    else:
        import keras

        if model.generation == 3 and model.raw_config:
            config = with_operation_modules(with_shipped_modules(model.raw_config))
        else:
            redefined = generations_differ(model.config)
            if redefined:  # a Keras 3 build would compute another function under the same name
                raise ReadError(f"{path}: Keras 3 cannot build this architecture as Keras 2 computes it: "
                                f"{redefined[0]} is Keras 2's clip(0.2 x + 0.5, 0, 1), which Keras 3 computes as "
                                "relu6(x + 3) / 6")
            try:
                config = keras3_dialect(model.config)
            except ValueError as error:  # a TFOpLambda without a Keras 3 operation
                raise ReadError(f"{path}: Keras 3 cannot build this architecture: {error}") from None
            renamed = keras3_renamed_layers(model.config)
        check_known_classes(config, path, 3)
        try:
            with unsafe_scope(allow_unsafe, (3,)):
                builder = keras.Sequential if config.get("class_name") == "Sequential" else keras.Model
                live = builder.from_config(config.get("config") or {})
        except KERAS_REFUSALS as error:
            raise ReadError(f"{path}: Keras 3 cannot build this architecture ({error_text(error)})") from None
    assign_weights(live, model, path, renamed)
    finalize_states(live)
    return live


def finalize_states(live: Any) -> None:
    """Layers that compute tensors from their variables when built (Normalization's mean and variance) compute
    them again from the values just assigned, as Keras' own loading does; else a traced function would hold
    those of the initial values (zeros in tf_keras: a division by sqrt(0))."""
    for layer in live._flatten_layers():
        finalize = getattr(layer, "finalize_state", None)
        if callable(finalize):
            finalize()


def assign_weights(live: Any, model: ModelData, path: Path, renamed: dict[str, str] | None = None) -> None:
    """Sets every variable of ``live`` from ``model``'s weights, matched by TF.js-style name.

    ``renamed``: layers ``live`` holds under another name than ``model`` (old -> new).
    """
    known = layer_names(model.config)
    source = {tfjs_weight_name(weight.name, known): weight for weight in model.weights()}
    if renamed:
        source = {_renamed_key(key, renamed): weight for key, weight in source.items()}
        known = known | set(renamed.values())
    generation = 2 if _is_tf_keras(live) else 3
    seen = set()
    unnamed: list[tuple[Any, str]] = []
    for variable in live.weights:
        raw_name = getattr(variable, "path", None) if generation == 3 else variable.name
        key = tfjs_weight_name(str(raw_name or variable.name), known)
        if key in seen:
            raise ReadError(f"{path}: two weights of the model are both named {key!r}; convkit cannot map them")
        seen.add(key)
        weight = source.pop(key, None)
        if weight is None and key.endswith("/kernel"):  # Keras 3 names DepthwiseConv2D's depthwise_kernel "kernel"
            weight = source.pop(key[: -len("kernel")] + "depthwise_kernel", None)
        parts = str(raw_name or variable.name).split(":")[0].split("/")
        if weight is None and len(parts) >= 3:
            # Keras 3 scopes a TimeDistributed's weights by the wrapped layer too (td/dense/kernel, and
            # td/lstm/lstm_cell/kernel for an RNN); tf_keras, TF.js and .h5 files by the wrapper alone (td/kernel)
            weight = source.pop(f"{parts[-3]}/{parts[-1]}", None)
            if weight is None and len(parts) >= 4 and is_cell_name(parts[-2]):
                weight = source.pop(f"{parts[-4]}/{parts[-1]}", None)
        if weight is None:
            unnamed.append((variable, key))
            continue
        _assign(variable, weight, key, path)
    # Unnamed variables last, so that they never take a weight a named variable of the model matches.
    for variable, key in unnamed:
        weight = _unnamed_match(source, key, tuple(variable.shape))
        if weight is None:
            raise ReadError(f"{path}: no stored value for weight {key!r} of the model")
        _assign(variable, weight, key, path)
    if source:
        raise ReadError(f"{path}: stored weight {next(iter(source))!r} matches no weight of the model")


def _renamed_key(key: str, renamed: dict[str, str]) -> str:
    owner, _, attribute = key.rpartition("/")
    return f"{renamed[owner]}/{attribute}" if owner in renamed else key


def _assign(variable: Any, weight: Weight, key: str, path: Path) -> None:
    values = weight.read()
    if tuple(values.shape) != tuple(variable.shape):
        raise ReadError(
            f"{path}: weight {key!r} is stored with shape {list(values.shape)} but the model expects "
            f"{list(variable.shape)}"
        )
    variable.assign(values.astype(_dtype_name(variable.dtype), copy=False))


def _unnamed_match(source: dict[str, Weight], key: str, shape: tuple[int, ...]) -> Weight | None:
    # Keras 3 names a variable made without a name "variable", "variable_2", ... by creation
    # count in the process: such names differ between files, so take the owner's next stored
    # weight of that shape, in stored order. The same class in tf_keras may name it
    # (ConvNeXt's LayerScale: "gamma" in tf_keras, unnamed in Keras 3), so either side may be the unnamed one.
    owner, _, attribute = key.rpartition("/")
    for name, weight in source.items():
        stored_owner, _, stored_attribute = name.rpartition("/")
        if stored_owner == owner and tuple(weight.shape) == shape \
                and (attribute.startswith("variable") or stored_attribute.startswith("variable")):
            return source.pop(name)
    return None
