"""tf_keras (Keras 2) runner: HDF5 files and legacy SavedModels written by Keras 2.

A whole-model ``.h5`` loads through tf_keras's own ``load_model`` with two differences that change no
value it ends with: the model's variables start as zeros instead of running their initializers (every
one is then overwritten from the file, and the loader fails if one is not), and the weights are assigned
one layer at a time as they are read, where tf_keras reads every layer's arrays before it assigns any.
On a 1 GB model that is the difference between the model's bytes once, plus a layer, and about twice.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from convkit.containers.hdf5 import is_hdf5_file
from convkit._tf import import_tensorflow
from convkit.policy.safe_mode import loading_custom_objects, unsafe_scope
from convkit.policy.shipped import tf_keras_builtin_layer
from convkit.runtimes.base import load_failures
from convkit.runtimes.keras.runner import KerasModelRunner, load_error


def load_tf_keras(path: Path, *, allow_unsafe: bool = False, training: bool = False) -> KerasModelRunner:
    """Loads ``path`` with ``tf_keras.models.load_model(compile=False)``, in safe mode unless ``allow_unsafe``.

    The code policy has judged the file before (``open_runner``).

    Raises:
        ReadError: tf_keras cannot load the file.
    """
    path = Path(path)
    import_tensorflow()
    import tf_keras

    with unsafe_scope(allow_unsafe, (2,)):
        try:
            with streamed_h5_loading() if is_hdf5_file(path) else contextlib.nullcontext():
                model = tf_keras.models.load_model(path, compile=False, custom_objects=loading_custom_objects(2))
        except load_failures() as error:
            raise load_error(path, "tf_keras", error) from None
    return KerasModelRunner(model, generation=2, path=path, training=training)


@contextlib.contextmanager
def streamed_h5_loading() -> Iterator[None]:
    """While the block runs, tf_keras's HDF5 loader assigns each layer's weights as it reads them, into
    variables made as zeros (:func:`zero_initial_values`).

    ``load_model`` calls ``hdf5_format.load_weights_from_hdf5_group`` by its module-level name; the
    stand-in keeps its checks, order and messages and differs only in when it assigns.
    """
    from tf_keras.src.saving.legacy import hdf5_format

    original = hdf5_format.load_weights_from_hdf5_group
    hdf5_format.load_weights_from_hdf5_group = _load_weights_per_layer
    try:
        with zero_initial_values():
            yield
    finally:
        hdf5_format.load_weights_from_hdf5_group = original


@contextlib.contextmanager
def zero_initial_values() -> Iterator[None]:
    """While the block runs, tf_keras layers make their variables as zeros instead of running their
    initializers: for models whose every weight is assigned right after (a random initializer takes
    seconds and transient copies per GB, and its values would be overwritten anyway).

    Layers make their variables through ``base_layer_utils.make_variable``, looked up by its module-level
    name at each call; the stand-in passes a zeros initializer and everything else unchanged.
    """
    import tf_keras
    from tf_keras.src.engine import base_layer_utils

    original = base_layer_utils.make_variable
    zeros = tf_keras.initializers.Zeros()

    def make_zero_variable(*args: Any, **kwargs: Any) -> Any:
        if "initializer" in kwargs and kwargs["initializer"] is not None:
            kwargs["initializer"] = zeros
        return original(*args, **kwargs)

    base_layer_utils.make_variable = make_zero_variable
    try:
        yield
    finally:
        base_layer_utils.make_variable = original


def _load_weights_per_layer(group: Any, model: Any) -> None:
    """tf_keras's topological HDF5 weight loading, one layer's arrays at a time."""
    from tf_keras.src import backend
    from tf_keras.src.saving.legacy import hdf5_format as h5

    original_version = _text(group.attrs.get("keras_version", "1"))
    original_backend = _text(group.attrs["backend"]) if "backend" in group.attrs else None
    layers = [layer for layer in model.layers if h5._legacy_weights(layer)]
    names = [name for name in h5.load_attributes_from_hdf5_group(group, "layer_names")
             if h5.load_attributes_from_hdf5_group(group[name], "weight_names")]
    if len(names) != len(layers):
        raise ValueError(f"Layer count mismatch when loading weights from file. Model expected {len(layers)} "
                         f"layers, found {len(names)} saved layers.")
    for index, (name, layer) in enumerate(zip(names, layers)):
        variables = h5._legacy_weights(layer)
        values = h5.preprocess_weights_for_loading(layer, h5.load_subset_weights_from_hdf5_group(group[name]),
                                                   original_version, original_backend)
        if len(values) != len(variables):
            raise ValueError(f"Weight count mismatch for layer #{index} (named {layer.name} in the current model, "
                             f"{name} in the save file). Layer expects {len(variables)} weight(s). Received "
                             f"{len(values)} saved weight(s)")
        backend.batch_set_value(list(zip(variables, values)))
        del values
    if "top_level_model_weights" in group:
        variables = model._trainable_weights + model._non_trainable_weights
        values = h5.load_subset_weights_from_hdf5_group(group["top_level_model_weights"])
        if len(values) != len(variables):
            raise ValueError(f"Weight count mismatch for top-level weights when loading weights from file. Model "
                             f"expects {len(variables)} top-level weight(s). Received {len(values)} saved top-level "
                             "weight(s)")
        backend.batch_set_value(list(zip(variables, values)))
    for layer in model._flatten_layers():
        layer.finalize_state()


def _text(value: Any) -> str:
    return value.decode("utf8") if hasattr(value, "decode") else str(value)


def save_keras_savedmodel(model: Any, target: Path, serving: Any = None) -> None:
    """``model.save(target, save_format="tf")``, without each layer's traced calls when tf_keras can build every layer
    from its config.

    tf_keras traces every layer's call functions into a Keras SavedModel so that a layer whose class it cannot
    find loads back from the graph. A model made only of tf_keras' own layer classes (Lambda aside: its config
    holds code) loads from its configs alone, and saves 3.6 times faster without them (EfficientNetV2B0: 15.7 s
    to 4.4 s; loading: 7.0 s to 1.7 s). ``serving_default`` is then passed in, the function tf_keras itself would
    have traced: a SavedModel without traces has no signature otherwise. ``serving``: a concrete function to serve
    instead (``--input-shape``).
    """
    from tf_keras.src.saving.legacy import saving_utils

    from_configs = all(type(layer).__name__ != "Lambda" and tf_keras_builtin_layer(type(layer).__name__) is type(layer)
                       for layer in model._flatten_layers(include_self=True, recursive=True))
    if serving is None and from_configs:
        serving = saving_utils.trace_model_call(model)
    model.save(str(target), save_format="tf", include_optimizer=False, save_traces=not from_configs,
               signatures=None if serving is None else {"serving_default": serving})
