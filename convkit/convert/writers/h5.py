"""The ``.h5`` writer: a Keras 2 style whole-model file, written tensor by tensor without TensorFlow.

tf_keras loads it, and so does Keras 3 unless it holds ``TFOpLambda`` layers.
Keras-shipped layers no Keras generation loads from an ``.h5`` are written as
built-in layers computing the same (:mod:`~convkit.convert.writers.h5_builtin_layers`);
the optimizer state of an ``.h5`` source is carried over.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from convkit.containers.hdf5 import copy_group
from convkit.convert.conversion import Conversion, Written
from convkit.convert.writers import h5_builtin_layers
from convkit.convert.writers.tfjs_layers import keras2_version
from convkit.errors import WriteError
from convkit.keras_model.data import ModelData
from convkit.keras_model.dialect import h5_dialect
from convkit.progress import Progress


def write(conversion: Conversion) -> Written:
    """Writes the conversion's source as an ``.h5`` file; returns ``keras2-h5``."""
    request, source, notes = conversion.request, conversion.source, conversion.notes()
    model, rewritten = h5_builtin_layers.with_builtin_layers(source.model())
    if rewritten:
        notes.warn(h5_builtin_layers.describe(rewritten))
    # an .h5 source's optimizer state goes over as it is stored
    keep = request.keep_optimizer and model.generation == 2 and source.format.name == conversion.target.name \
        and not model.training_code
    notes.optimizer(model, carried=keep)
    with conversion.output() as temp:
        try:
            write_keras2_h5(model, temp, training_config=model.training_config if keep else None,
                            progress=request.progress)
        except OSError as error:
            if "message is too large" not in str(error):
                raise
            # HDF5 keeps an attribute (the layer list, the model config) in a 64 KiB object header.
            raise WriteError(f"{request.src}: an .h5 file cannot hold this model's layer list or config (an HDF5 "
                             f"attribute over 64 KiB), so {request.out} was not written; convert to keras or tfjs "
                             "instead") from None
        if keep and model.optimizer_weights:
            copy_group(request.src, temp, "optimizer_weights")
    return notes.written("keras2-h5")


def write_keras2_h5(
    model: ModelData,
    path: Path,
    *,
    training_config: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> None:
    """Writes ``model`` as a Keras 2 style whole-model ``.h5``.

    tf_keras loads it (``load_model``), and so does Keras 3 unless it holds
    ``TFOpLambda`` layers: Keras 3 operations (``x + 3.0``) and activations tf_keras
    lacks are written as those (see :func:`convkit.keras_model.dialect.tf_keras_dialect`). A Keras 3
    operation without a TFOpLambda counterpart makes it a file for Keras 3 instead
    (:func:`convkit.keras_model.dialect.h5_dialect`). Weights are copied one tensor at a time.
    """
    import h5py

    total = model.total_bytes()
    done = 0
    config, loads_in = h5_dialect(model.config, model.generation, model.raw_config)
    # the version says which Keras generation loads the file (convkit's runtimes read it)
    version = model.keras_version if loads_in == 3 else keras2_version(model.keras_version)
    with h5py.File(path, "w") as h5:
        h5.attrs["keras_version"] = version
        h5.attrs["backend"] = "tensorflow"
        h5.attrs["model_config"] = json.dumps(config)
        if training_config:
            h5.attrs["training_config"] = json.dumps(training_config)
        group = h5.create_group("model_weights")
        group.attrs["keras_version"] = version
        group.attrs["backend"] = "tensorflow"
        layer_names = list(model.layer_weights)
        group.attrs["layer_names"] = np.array([name.encode() for name in layer_names])
        for layer_name in layer_names:
            # a layer named "a/pad" may come first and create the group of layer "a" on its way
            layer_group = group.require_group(layer_name)
            names = []
            for weight in model.layer_weights[layer_name]:
                name = f"{weight.name}:0"
                names.append(name.encode())
                values = np.asarray(weight.read())
                layer_group.create_dataset(name, data=values)
                done += values.nbytes
                if progress:
                    progress("writing", done, total)
            layer_group.attrs["weight_names"] = np.array(names)
