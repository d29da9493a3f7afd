"""convert --signature: a SavedModel holding two signatures converted through each, and each copy checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests._cli import check_json, convert_json, failure
from tests._signatures import build_two_signatures

OUTPUTS = {"scores": "scores", "offsets": "shifted"}


@pytest.fixture(scope="module")
def copies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``two/`` (signatures ``scores`` and ``offsets``) and its ONNX and TFLite copies of each signature."""
    folder = tmp_path_factory.mktemp("convert-signatures")
    paths = build_two_signatures(folder)
    for key in OUTPUTS:
        for to in ("onnx", "tflite"):
            out = folder / f"{key}.{to}"
            convert_json(paths["two"], "--to", to, "--signature", key, "-o", out)
            paths[f"{key}.{to}"] = out
    return paths


@pytest.mark.parametrize("key", list(OUTPUTS))
def test_each_signature_converted_to_onnx_and_tflite_passes_check_through_it(copies: dict[str, Path],
                                                                             key: str) -> None:
    report = check_json(copies["two"], copies[f"{key}.onnx"], copies[f"{key}.tflite"], "--signature", key,
                        "--random", "16")
    assert report["passed"], report["failures"]
    assert report["reference"]["runtime"].endswith(f" {key}")
    for pair in report["pairs"]:
        assert [comparison["output"] for comparison in pair["outputs"]] == [OUTPUTS[key]]
        assert pair["outputs"][0]["max_abs"] < 1e-5


def test_a_copy_checked_through_the_other_signature_is_an_error(copies: dict[str, Path]) -> None:
    """The scores copy (4 features in) against the offsets signature (3 values in): the check cannot pass."""
    message = failure("check", copies["two"], copies["scores.onnx"], "--signature", "offsets", "--random", "4")
    assert f"cannot match the inputs [values] with {copies['scores.onnx']}'s inputs [features]" in message


def test_a_savedmodel_copy_holds_the_signature_as_serving_default_and_convert_check_uses_it(
        copies: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "offsets_savedmodel"
    result = convert_json(copies["two"], "--to", "savedmodel", "--signature", "offsets", "--check", "-o", out)
    assert result["check"]["passed"], result["check"]["failures"]
    assert result["check"]["reference"]["runtime"].endswith(" offsets")
    from convkit.formats import savedmodel as savedmodel_format

    assert savedmodel_format.signature_keys(out) == ["serving_default"]


def test_signatures_that_do_not_exist_or_sources_without_signatures_are_refused(copies: dict[str, Path],
                                                                                 tmp_path: Path) -> None:
    out = tmp_path / "x.onnx"
    assert f"{copies['two']}: the SavedModel model has no signature 'score'; its signatures: offsets, scores" in \
        failure("convert", copies["two"], "--to", "onnx", "--signature", "score", "-o", out)
    assert f"{copies['scores.onnx']}: --signature applies to sources converted as graphs" \
        in failure("convert", copies["scores.onnx"], "--to", "tflite", "--signature", "scores", "-o", out)
    assert not out.exists()


def test_a_keras_savedmodel_converts_the_signature_asked_for_not_its_layers(tmp_path: Path) -> None:
    """A tf_keras SavedModel (Keras metadata kept) with a second signature: --signature converts that one
    through tf2onnx, names the signature left out, and the copy passes check through it."""
    import numpy as np
    import tensorflow as tf
    import tf_keras

    model = tf_keras.Sequential([tf_keras.layers.Dense(3, input_shape=(4,), name="scores")])
    model.layers[0].set_weights([np.random.default_rng(0).normal(size=(4, 3)).astype("float32"),
                                 np.array([0.5, -1.0, 2.0], "float32")])
    spec = [tf.TensorSpec((None, 4), tf.float32, name="features")]
    scores = tf.function(lambda features: {"scores": model(features)}, input_signature=spec)
    doubled = tf.function(lambda features: {"doubled": model(features) * 2.0}, input_signature=spec)
    source = tmp_path / "keras_two"
    model.save(str(source), save_format="tf", signatures={"serving_default": scores, "doubled": doubled})
    assert (source / "keras_metadata.pb").is_file()

    out = tmp_path / "doubled.onnx"
    result = convert_json(source, "--to", "onnx", "--signature", "doubled", "-o", out)
    assert result["kind"].startswith("tf2onnx-")
    assert "converted signature 'doubled'; the source's other signatures (serving_default) are not in the output" \
        in result["warnings"]
    report = check_json(source, out, "--signature", "doubled", "--random", "8")
    assert report["passed"], report["failures"]
    assert [comparison["output"] for comparison in report["pairs"][0]["outputs"]] == ["doubled"]


@pytest.mark.models  # make test-models: docs/TESTING.md
@pytest.mark.parametrize("layer_scale", [False, True])
def test_a_keras_savedmodel_serves_and_loads_with_or_without_layer_traces(layer_scale: bool, tmp_path: Path) -> None:
    """A model of tf_keras' own layers is saved without each layer's traces, its serving_default passed in (without
    it, the SavedModel holds no signature); one holding ConvNeXt's LayerScale keeps them, for tf_keras to load it."""
    import numpy as np
    import tensorflow as tf
    import tf_keras
    from tf_keras.src.applications.convnext import LayerScale

    from convkit import convert

    inputs = tf_keras.Input((6,), name="features")
    x = tf_keras.layers.BatchNormalization()(tf_keras.layers.Dense(4)(inputs))
    x = LayerScale(0.5, 4)(x) if layer_scale else x
    model = tf_keras.Model(inputs, tf_keras.layers.Dense(2, name="scores")(x))
    model.layers[-1].bias.assign([0.5, -1.0])
    model.save(tmp_path / "m.h5")
    features = np.random.default_rng(0).normal(size=(3, 6)).astype("float32")
    expected = model(features).numpy()

    convert(tmp_path / "m.h5", "savedmodel", tmp_path / "out")
    served = tf.saved_model.load(str(tmp_path / "out")).signatures["serving_default"]
    np.testing.assert_allclose(served(features=tf.constant(features))["scores"].numpy(), expected, atol=1e-6)
    back = tf_keras.models.load_model(tmp_path / "out", compile=False)
    np.testing.assert_allclose(back(features).numpy(), expected, atol=1e-6)
    traced = (tmp_path / "out" / "saved_model.pb").read_bytes().count(b"call_and_return_conditional_losses") > 0
    assert traced == layer_scale
