"""A large graph's weights stay out of freezing and grappler's passes, and come back whole.

convkit's TF.js graph writer keeps each weight of 1 MiB or more aside as its bytes while tensorflowjs freezes and
optimises a graph whose constants hold 256 MiB or more (ConvNeXtXLarge went over 20 GiB). Here the graph-size
threshold is 0, so a small model takes that path: the output must run in TF.js and match Keras, its weights named
as the converter names them, and a batch norm after a held-out kernel must not reach TF.js as a fused convolution
it cannot run.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from convkit import check
from convkit.convert.writers.tfjs_graph import HOLD_OUT_CONST_BYTES, write_tfjs_graph
from tests.convert.conftest import _randomize

pytestmark = [pytest.mark.node, pytest.mark.models]  # make test-models (and CI): docs/TESTING.md


def _model() -> object:
    """A 3x3 convolution of 128 to 256 channels (1.2 MB of kernel) and its batch norm, and a 512x512 dense layer
    (1 MiB)."""
    import keras

    L = keras.layers
    image = keras.Input((6, 6, 128), name="image")
    x = L.ReLU()(L.BatchNormalization()(L.Conv2D(256, 3, padding="same", use_bias=False)(image)))
    x = L.Dense(512, activation="relu")(L.Dense(512)(L.GlobalAveragePooling2D()(x)))
    model = keras.Model(image, L.Dense(3, name="scores")(x))
    _randomize(model, 11)  # batch norm statistics away from 0 and 1
    return model


def _weights(folder: Path) -> dict[str, list[int]]:
    document = json.loads((folder / "model.json").read_text())
    return {weight["name"]: weight["shape"] for group in document["weightsManifest"] for weight in group["weights"]}


def test_weights_held_out_of_the_graph_come_back(tmp_path: Path) -> None:
    model = _model()
    model.save(tmp_path / "m.keras")
    model.export(str(tmp_path / "saved"), verbose=False)
    for name, above in (("held", 0), ("whole", 1 << 40)):
        write_tfjs_graph(tmp_path / "saved", tmp_path / name, shard_size=4 << 20, quantize=None, quantize_weights=(),
                         hold_out_above=above)
    report = check(tmp_path / "m.keras", [tmp_path / "held", tmp_path / "whole"], random=16)
    assert report.passed, report.failures

    held = _weights(tmp_path / "held")
    large = {name for name, shape in held.items() if 4 * int(np.prod(shape)) >= HOLD_OUT_CONST_BYTES}
    assert len(large) == 2  # the kernel and the 512x512 matrix went round the graph
    assert all(name.endswith("/ReadVariableOp") for name in large), sorted(large)  # named by the read, as the
    assert not any(name.startswith("unknown") for name in held), sorted(held)  # converter names them, not the capture
    whole = _weights(tmp_path / "whole")
    assert large - set(whole) == {name for name in large if "conv2d" in name}  # its batch norm folded in there
