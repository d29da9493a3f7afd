"""Attention models (a transformer block: self-attention, then attention over a second input with a key of its
own): MultiHeadAttention holds four EinsumDense sub-layers the config does not list, and tf_keras records the
tensors it is called with by keyword (``value=``, ``key=``) as references.

Before: a tf_keras ``.h5`` read the four sub-layers' kernels under one name (every target but ONNX failed), its
config did not build in Keras 3 (``build() missing value_shape``), a Keras 3 ``.keras`` written as ``.h5`` did not
load in tf_keras (``KeyError: 'query_shape'``), and a Keras 3 checkpoint's ``_query_dense`` objects matched no
weight.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from convkit import convert
from tests.convert.conftest import _randomize, assert_same_predictions

pytestmark = pytest.mark.models  # make test-models (and CI), not make test: docs/TESTING.md


def transformer_block(K: Any) -> Any:
    L = K.layers
    tokens, memory = K.Input((5, 8), name="tokens"), K.Input((3, 6), name="memory")
    x = L.LayerNormalization()(tokens + L.MultiHeadAttention(2, 4, name="self_attention")(tokens, tokens))
    keys = L.Dense(6, name="keys")(memory)
    x = x + L.MultiHeadAttention(2, 3, value_dim=5, name="cross_attention")(x, memory, key=keys)
    return K.Model([tokens, memory], L.Dense(3, name="head")(L.GlobalAveragePooling1D()(x)), name="block")


@pytest.fixture(scope="module")
def blocks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The block saved by tf_keras (``.h5``) and by Keras 3 (``.keras``)."""
    import keras
    import tf_keras

    folder = tmp_path_factory.mktemp("attention")
    paths = {}
    for K, name in ((tf_keras, "block.h5"), (keras, "block.keras")):
        model = transformer_block(K)
        _randomize(model, 5)
        model.save(folder / name)
        paths[name] = folder / name
    return paths


@pytest.mark.node
@pytest.mark.parametrize("target", ["keras", "h5", "savedmodel", "tfjs", "onnx", "tflite"])
@pytest.mark.parametrize("source", ["block.h5", "block.keras"])
def test_an_attention_model_converts_to_every_target(blocks: dict[str, Path], source: str, target: str,
                                                     tmp_path: Path) -> None:
    """Keras 3 calls the attention with (query, value, key=...) as its arguments; a Keras 2 dialect config (.h5,
    tf_keras' SavedModel) gets value and key as keywords, and MultiHeadAttention the config keys tf_keras needs."""
    out = tmp_path / ("out." + target if target in ("keras", "h5", "onnx", "tflite") else "out")
    result = convert(blocks[source], target, out)
    if target == "savedmodel":
        assert result.kind == "keras-savedmodel"  # built in tf_keras, not a Keras 3 export()
    if target == "onnx":  # value= and key= (by keyword in Keras 3's config) read by the native writer
        assert result.kind.startswith("native"), result.kind
    assert_same_predictions(blocks[source], out)


@pytest.mark.parametrize("generation", [3, 2])
def test_attention_checkpoints_read_into_the_architecture(generation: int, tmp_path: Path) -> None:
    """``tf.train.Checkpoint(model=m)`` of either generation, with other weights than the ``--like`` file's."""
    import tensorflow as tf

    K = __import__("keras" if generation == 3 else "tf_keras")
    suffix = ".keras" if generation == 3 else ".h5"
    model = transformer_block(K)
    _randomize(model, 1)
    model.save(tmp_path / f"like{suffix}")
    _randomize(model, 2)
    model.save(tmp_path / f"truth{suffix}")
    prefix = tf.train.Checkpoint(model=model).write(str(tmp_path / "ckpt" / "model"))
    convert(prefix, "keras", tmp_path / "out.keras", like=tmp_path / f"like{suffix}")
    assert_same_predictions(tmp_path / f"truth{suffix}", tmp_path / "out.keras")


@pytest.mark.node
@pytest.mark.parametrize("generation", [3, 2])
def test_a_causal_attention_model_runs_in_tfjs_as_in_keras(generation: int, tmp_path: Path) -> None:
    """The causal mask is a band part of a boolean matrix; TF.js 4.22 reads a band part's upper bound from the
    lower bound's input and kept the whole matrix, so each step attended to the later ones (exit 0, outputs off
    by 0.5). The written graph computes the band with comparisons."""
    import json

    K = __import__("keras" if generation == 3 else "tf_keras")
    L = K.layers
    tokens = K.Input((6, 8), name="tokens")
    x = L.MultiHeadAttention(2, 4, name="decoder_attention")(tokens, tokens, use_causal_mask=True)
    model = K.Model(tokens, L.Dense(3, name="head")(L.Flatten()(x)))
    _randomize(model, 4)
    src = tmp_path / ("m.keras" if generation == 3 else "m.h5")
    model.save(src)
    convert(src, "tfjs", tmp_path / "out")
    ops = {node["op"] for node in json.loads((tmp_path / "out" / "model.json").read_text())["modelTopology"]["node"]}
    assert "MatrixBandPart" not in ops and "LogicalAnd" in ops
    assert_same_predictions(src, tmp_path / "out")


def _keras3_only(kind: str) -> Any:
    """Layers Keras 3 has and tf_keras lacks: RMSNormalization, and GroupQueryAttention (a config name other than
    its class's, GroupedQueryAttention, under which Keras 3 files its weights)."""
    import keras

    L = keras.layers
    tokens = keras.Input((5, 8), name="tokens")
    if kind == "rms":
        x = L.RMSNormalization()(L.Dense(8)(tokens))
    else:
        x = L.GroupQueryAttention(4, 4, 2)(tokens, tokens)
    return keras.Model(tokens, L.Dense(3, name="head")(L.GlobalAveragePooling1D()(x)))


@pytest.mark.node
@pytest.mark.parametrize("target", ["keras", "h5", "savedmodel", "tfjs", "onnx", "tflite"])
@pytest.mark.parametrize("kind", ["rms", "gqa"])
def test_keras3_only_layers_convert_where_keras3_builds_them(kind: str, target: str, tmp_path: Path) -> None:
    """Built in Keras 3 (tf_keras has no such class); before, every target refused them as custom classes."""
    model = _keras3_only(kind)
    _randomize(model, 6)
    src = tmp_path / "m.keras"
    model.save(src)
    out = tmp_path / ("out." + target if target in ("keras", "h5", "onnx", "tflite") else "out")
    convert(src, target, out)  # GroupQueryAttention goes into an .h5 as GroupedQueryAttention, the only name
    # Keras 3 loads it by there ("Unknown layer: 'GroupQueryAttention'")
    assert_same_predictions(src, out)  # an .h5 of RMSNormalization: check loads it in Keras 3


def test_spectral_normalization_to_h5_loads_in_keras3(tmp_path: Path) -> None:
    """tf_keras exports SpectralNormalization but its .h5 loader does not find it ("Unknown layer"); the tf_keras
    form of the .h5 loaded nowhere (in Keras 3: "Could not locate class 'Dense'", the wrapped layer)."""
    import keras

    tokens = keras.Input((5, 8), name="tokens")
    x = keras.layers.SpectralNormalization(keras.layers.Dense(8))(tokens)
    model = keras.Model(tokens, keras.layers.Dense(3, name="head")(keras.layers.GlobalAveragePooling1D()(x)))
    _randomize(model, 6)
    model.save(tmp_path / "m.keras")
    convert(tmp_path / "m.keras", "h5", tmp_path / "out.h5")
    assert_same_predictions(tmp_path / "m.keras", tmp_path / "out.h5")


def test_tf_keras_dot_and_additive_attention_to_keras3(tmp_path: Path) -> None:
    """Keras 3 read a tf_keras Attention's score_mode "dot" as the function keras.ops.dot ("Invalid value for
    argument score_mode"): the .h5 converted to every target but .keras."""
    import tf_keras

    L = tf_keras.layers
    query, value = tf_keras.Input((4, 6), name="query"), tf_keras.Input((3, 6), name="value")
    both = L.Concatenate()([L.Attention(use_scale=True)([query, value]), L.AdditiveAttention()([query, value])])
    model = tf_keras.Model([query, value], L.Dense(2, name="head")(L.Flatten()(both)))
    _randomize(model, 7)
    model.save(tmp_path / "m.h5")
    convert(tmp_path / "m.h5", "keras", tmp_path / "out.keras")
    assert_same_predictions(tmp_path / "m.h5", tmp_path / "out.keras")
