"""Builders for the models the check tests feed: converted copies and deliberately broken ones.

Each builder writes under a session folder once (``cached``), so test modules
that share a copy (tests/check, tests/cli) build it one time.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

# tensorflowjs imports tensorflow_decision_forests, whose welcome banner needs IPython when stdout is captured.
os.environ.setdefault("TFDF_DISABLE_WELCOME_MESSAGE", "1")


def cached(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """``build(path)`` once per session; later calls return the same path."""
    path = tmp_path_factory.getbasetemp() / "check-models" / name
    done = path.with_name(name + ".done")
    if not done.exists():
        if path.exists():
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        path.parent.mkdir(parents=True, exist_ok=True)
        build(path)
        done.touch()
    return path


def tfjs_layers(h5: Path, out: Path) -> None:
    """A TF.js layers model from a tf_keras HDF5 file, by tensorflowjs's own converter."""
    from tensorflowjs.converters import converter

    converter.dispatch_keras_h5_to_tfjs_layers_model_conversion(str(h5), str(out))


def tfjs_graph(saved_model: Path, out: Path) -> None:
    """A TF.js graph model from a (non-Keras) SavedModel, by tensorflowjs's own converter."""
    from tensorflowjs.converters import tf_saved_model_conversion_v2

    tf_saved_model_conversion_v2.convert_tf_saved_model(str(saved_model), str(out))


def flip_tfjs_byte(source: Path, out: Path, weight: str) -> dict[str, object]:
    """Copies a TF.js model and flips one bit of the exponent of ``weight``'s largest element.

    Returns where the byte sits (shard, offset) and the value before and after.
    """
    shutil.copytree(source, out)
    manifest = json.loads((out / "model.json").read_text())["weightsManifest"]
    assert len(manifest) == 1 and len(manifest[0]["paths"]) == 1, "builder expects one shard"
    shard = out / manifest[0]["paths"][0]
    data = bytearray(shard.read_bytes())
    offset = 0
    for entry in manifest[0]["weights"]:
        count = int(np.prod(entry["shape"]))
        assert entry["dtype"] == "float32" and "quantization" not in entry
        if entry["name"] == weight:
            values = np.frombuffer(bytes(data[offset : offset + 4 * count]), "<f4")
            index = int(np.argmax(np.abs(values)))
            byte = offset + 4 * index + 3  # sign and high exponent bits of a little-endian float32
            data[byte] ^= 0x01
            shard.write_bytes(bytes(data))
            after = float(np.frombuffer(bytes(data[offset + 4 * index : offset + 4 * index + 4]), "<f4")[0])
            return {"shard": shard.name, "offset": byte, "before": float(values[index]), "after": after}
        offset += 4 * count
    raise AssertionError(f"{weight} not in the manifest")


def nudge_h5_weight(source: Path, out: Path, dataset_suffix: str, delta: float) -> str:
    """Copies a Keras HDF5 model and adds ``delta`` to element 0 of the first dataset ending in ``dataset_suffix``."""
    import h5py

    shutil.copyfile(source, out)
    with h5py.File(out, "r+") as handle:
        names: list[str] = []
        handle["model_weights"].visititems(
            lambda name, node: names.append(name) if isinstance(node, h5py.Dataset) else None
        )
        target = next(name for name in names if name.endswith(dataset_suffix))
        dataset = handle["model_weights"][target]
        values = dataset[()]
        values.flat[0] += np.float32(delta)
        dataset[...] = values
    return target


def activation_changed_k3(source: Path, out: Path, layer: str = "dense", activation: str = "elu") -> None:
    """A Keras 3 copy of ``source`` with the same weights but ``layer``'s activation replaced."""
    import keras

    model = keras.models.load_model(source, compile=False)
    config = model.get_config()
    for entry in config["layers"]:
        if entry["config"].get("name") == layer:
            assert entry["config"]["activation"] != activation
            entry["config"]["activation"] = activation
    changed = model.__class__.from_config(config)
    changed.set_weights(model.get_weights())
    changed.save(out)


def dropout_forced_k2(source: Path, out: Path) -> None:
    """A tf_keras HDF5 copy whose Dropout layer is called with ``training=True`` (dropout on at inference)."""
    import tf_keras

    model = tf_keras.models.load_model(source, compile=False)
    dense, _, logits = model.layers
    inputs = tf_keras.Input((784,), name="dense_input")
    hidden = tf_keras.layers.Dense(512, activation="relu", name="dense")(inputs)
    hidden = tf_keras.layers.Dropout(0.2, name="dropout")(hidden, training=True)
    outputs = tf_keras.layers.Dense(10, name="dense_1")(hidden)
    copy = tf_keras.Model(inputs, outputs)
    copy.layers[1].set_weights(dense.get_weights())
    copy.layers[3].set_weights(logits.get_weights())
    copy.save(out)
