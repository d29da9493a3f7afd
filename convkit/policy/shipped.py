"""Layer classes Keras ships without exporting them (ConvNeXt's ``LayerScale``), and Keras 3 operations.

A tf_keras or legacy ``.h5`` config names such a class without a module; it is
found by its name among the Layer subclasses of the installed Keras' own
applications modules, never in a module a file names. Importing Keras: for
loading, never for ``inspect``.
"""

from __future__ import annotations

import functools
from typing import Any

from convkit.policy.code import IDENTIFIER, KERAS3_OP_PARTS, TF_KERAS_REGISTERED_LAYERS, is_keras_module


def is_keras_shipped_class(layer: dict[str, Any]) -> bool:
    """Whether a Keras 3 layer record names a Layer class the installed Keras ships in one of its own modules.

    Keras 3 records each object's module; a class that Keras ships without exporting
    it (ConvNeXt's ``LayerScale`` in ``keras.src.applications.convnext``) is data by the
    same module rule :func:`code_objects` applies. Only such modules are imported (this
    imports Keras: for loading, never for ``inspect``), and the class must be a Keras
    Layer defined there.
    """
    module_name = layer.get("module")
    class_name = layer.get("class_name")
    if not isinstance(module_name, str) or not isinstance(class_name, str) or not IDENTIFIER.match(class_name):
        return False
    if not module_name.startswith("keras") or not is_keras_module(module_name):
        return False
    if ">" in str(layer.get("registered_name")):
        return False
    import importlib

    import keras

    try:
        found = getattr(importlib.import_module(module_name), class_name, None)
    except ImportError:
        return False
    return isinstance(found, type) and issubclass(found, keras.layers.Layer) and found.__module__ == module_name


def shipped_class_name(class_name: Any) -> Any:
    """``class_name`` without the "Custom>" package tf_keras registers some shipped classes under."""
    return class_name.removeprefix("Custom>") if class_name in TF_KERAS_REGISTERED_LAYERS else class_name


# Exported aliases and the classes they name. Keras 3 files a layer's weights under its Python class's name, which
# for these is not the name a config may record (GroupQueryAttention's class is GroupedQueryAttention:
# layers/grouped_query_attention), and loads an .h5 layer only by its class's name.
CLASS_OF_ALIAS = {
    "GroupQueryAttention": "GroupedQueryAttention", "AvgPool1D": "AveragePooling1D", "AvgPool2D": "AveragePooling2D",
    "AvgPool3D": "AveragePooling3D", "MaxPool1D": "MaxPooling1D", "MaxPool2D": "MaxPooling2D",
    "MaxPool3D": "MaxPooling3D", "GlobalAvgPool1D": "GlobalAveragePooling1D",
    "GlobalAvgPool2D": "GlobalAveragePooling2D", "GlobalAvgPool3D": "GlobalAveragePooling3D",
    "GlobalMaxPool1D": "GlobalMaxPooling1D", "GlobalMaxPool2D": "GlobalMaxPooling2D",
    "GlobalMaxPool3D": "GlobalMaxPooling3D", "Convolution1D": "Conv1D", "Convolution2D": "Conv2D",
    "Convolution3D": "Conv3D", "Convolution1DTranspose": "Conv1DTranspose",
    "Convolution2DTranspose": "Conv2DTranspose", "Convolution3DTranspose": "Conv3DTranspose",
    "SeparableConvolution1D": "SeparableConv1D", "SeparableConvolution2D": "SeparableConv2D",
}


def tf_keras_class_name(class_name: Any) -> Any:
    """The name a tf_keras config gives ``class_name`` ("Custom>CustomScaleLayer" for CustomScaleLayer)."""
    registered = f"Custom>{class_name}"
    return registered if registered in TF_KERAS_REGISTERED_LAYERS else class_name


def is_keras3_layer(layer: dict[str, Any]) -> bool:
    """Whether a Keras 3 layer record names a public layer of the installed Keras 3 (``keras.layers.X``, recorded
    with module ``keras.layers``), which tf_keras may lack."""
    class_name = layer.get("class_name")
    if layer.get("module") != "keras.layers" or not isinstance(class_name, str) or not IDENTIFIER.match(class_name):
        return False
    import keras

    found = getattr(keras.layers, class_name, None)
    return isinstance(found, type) and issubclass(found, keras.layers.Layer)


def tf_keras_builtin_layer(class_name: str) -> Any:
    """What tf_keras' loaders find under ``class_name`` in their deserialization registry (a layer class, or a
    function such as ``add``), or None. Not the same as ``tf_keras.layers``: that exports SpectralNormalization,
    which no tf_keras loader finds."""
    from tf_keras.src.layers.serialization import get_builtin_layer

    return get_builtin_layer(class_name)


def is_keras3_only_layer(layer: dict[str, Any]) -> bool:
    """Whether a Keras 3 layer record names a public Keras 3 layer tf_keras cannot load (RMSNormalization), or
    exports but its loaders do not find (SpectralNormalization: tf_keras' own ``.h5`` of it does not load)."""
    if not is_keras3_layer(layer):
        return False
    return tf_keras_builtin_layer(CLASS_OF_ALIAS.get(layer["class_name"], layer["class_name"])) is None


def keras_shipped_layer(class_name: Any, generation: int) -> type | None:
    """The Layer class a Keras generation ships under ``class_name`` in its applications, or None.

    tf_keras configs carry no ``module``: a class such as ConvNeXt's ``LayerScale``
    is found by its name among the Layer subclasses defined in the installed
    Keras' own applications modules (``keras.src.applications.*`` for 3,
    ``tf_keras.src.applications.*`` for 2). Only those modules are imported,
    never one a file names, and a class Keras exports as a public layer is not
    looked up here.

    Args:
        class_name: the ``class_name`` of a layer record.
        generation: 3 for Keras 3, 2 for tf_keras.
    """
    class_name = shipped_class_name(class_name)
    if not isinstance(class_name, str) or not IDENTIFIER.match(class_name):
        return None
    return _shipped_layers(generation).get(class_name)


def keras_shipped_layers(generation: int) -> dict[str, type]:
    """Every Layer class the installed Keras generation ships in its applications without exporting it.

    By class name: what a load of that generation takes as ``custom_objects`` so that
    a config naming one (without a module, as tf_keras and legacy ``.h5`` configs do)
    builds Keras' own class.
    """
    return dict(_shipped_layers(generation))


@functools.lru_cache(maxsize=2)
def _shipped_layers(generation: int) -> dict[str, type]:
    import importlib

    if generation == 2:
        import tf_keras as keras_module

        package_name = "tf_keras.src.applications"
    else:
        import keras as keras_module

        package_name = "keras.src.applications"
    # The applications modules are those the public keras.applications functions come from.
    module_names = sorted({
        str(getattr(value, "__module__", "")) for value in vars(keras_module.applications).values()
        if callable(value) and str(getattr(value, "__module__", "")).startswith(package_name + ".")
    })
    base = keras_module.layers.Layer
    found: dict[str, type] = {}
    for module_name in module_names:
        for name, value in vars(importlib.import_module(module_name)).items():
            if isinstance(value, type) and issubclass(value, base) and value.__module__ == module_name \
                    and not hasattr(keras_module.layers, name):
                found.setdefault(name, value)
    return found


def is_keras_operation(layer: dict[str, Any]) -> bool:
    """Whether a Keras 3 functional-model record names an operation of Keras' pure math/array ops modules.

    ``x + 3.0`` in a Keras 3 functional model is recorded as ``keras.src.ops.numpy.Add``;
    the class must be a Keras ``Operation`` defined in that module (imports Keras: for
    loading, never for ``inspect``).
    """
    module_name = layer.get("module")
    class_name = layer.get("class_name")
    if not isinstance(module_name, str) or not isinstance(class_name, str) or not IDENTIFIER.match(class_name):
        return False
    if not module_name.startswith("keras.src.ops.") or not is_keras_module(module_name, KERAS3_OP_PARTS):
        return False
    import importlib

    from keras.src.ops.operation import Operation

    found = getattr(importlib.import_module(module_name), class_name, None)
    return isinstance(found, type) and issubclass(found, Operation) and found.__module__ == module_name
