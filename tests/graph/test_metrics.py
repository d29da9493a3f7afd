"""MACs, shapes and weight statistics from every format, against TensorFlow's own profiler and numpy."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from convkit.cli.main import app
from convkit.graph import extract
from convkit.graph.metrics import measure

runner = CliRunner()
# The ops TensorFlow's profiler counts that convkit counts as multiply-accumulates (2 float ops each).
PROFILED_MAC_OPS = ("Conv2D", "DepthwiseConv2dNative", "MatMul", "BatchMatMulV2", "BatchMatMulV3", "Einsum")


def profiled_macs(model, input_shape) -> int:  # type: ignore[no-untyped-def]
    """Half the float operations TensorFlow's profiler counts in the MAC ops of the frozen graph, one example."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    concrete = tf.function(lambda x: model(x, training=False)).get_concrete_function(
        tf.TensorSpec([1, *input_shape], tf.float32))
    frozen = convert_variables_to_constants_v2(concrete)
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    profile = tf.compat.v1.profiler.profile(graph=frozen.graph, run_meta=tf.compat.v1.RunMetadata(), cmd="op",
                                            options=options)
    counted: dict[str, int] = {}

    def walk(node) -> None:  # type: ignore[no-untyped-def]
        counted[node.name] = node.float_ops  # the op view nests op types; float_ops is each type's own
        for child in node.children:
            walk(child)

    for child in profile.children:
        walk(child)
    assert any(name in counted for name in PROFILED_MAC_OPS), counted
    return sum(counted.get(name, 0) for name in PROFILED_MAC_OPS) // 2


def _json(*args: object) -> dict:
    result = runner.invoke(app, ["inspect", *map(str, args), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_every_format_counts_the_macs_tensorflows_profiler_counts(mobilenet_files):
    import keras

    model = keras.models.load_model(mobilenet_files["keras"])
    expected = profiled_macs(model, (32, 32, 3))
    found = {}
    for name, path in mobilenet_files.items():
        if name == "ckpt":
            continue
        document = _json(path, "--metrics")
        summary = document["metrics"]["summary"]
        assert summary["unknown_ops"] == {} and summary["no_shape_ops"] == {}, (name, summary)
        found[name] = summary["macs"]
    assert found == {name: expected for name in found}, (expected, found)
    layers = {row["name"]: row for row in _json(mobilenet_files["h5"], "--metrics")["metrics"]["nodes"]}
    # Keras' own output shapes, per layer.
    for layer in model.layers:
        shape = "x".join("?" if d is None else str(d) for d in layer.output.shape)
        assert layers[layer.name]["output"] == shape, layer.name
        assert layers[layer.name]["parameters"] == layer.count_params(), layer.name


def test_a_checkpoint_counts_objects_and_parameters_but_no_macs(mobilenet_files):
    import keras

    metrics = _json(mobilenet_files["ckpt"], "--metrics")["metrics"]
    model = keras.models.load_model(mobilenet_files["keras"])
    assert metrics["level"] == "objects" and metrics["summary"]["macs"] == 0
    assert metrics["summary"]["parameters"] == model.count_params()


def test_stats_are_numpys_over_the_weights(mobilenet_files):
    import keras

    model = keras.models.load_model(mobilenet_files["keras"])
    weighted = [layer.name for layer in model.layers if layer.weights]
    for name, level in (("h5", "auto"), ("keras", "auto"), ("tfjs-layers", "auto"), ("savedmodel", "auto"),
                        ("savedmodel", "ops"), ("ckpt", "auto")):
        metrics = _json(mobilenet_files[name], "--stats", "--level", level)["metrics"]
        rows = {row["name"].split("/")[-1]: row for row in metrics["nodes"]}
        if level == "ops":  # the depthwise kernel is read by the op of that layer
            row = next(r for r in metrics["nodes"] if r["op"] == "DepthwiseConv2dNative" and "block1_dw" in r["name"])
        elif name == "ckpt":  # objects named by position: layer_with_weights-N
            row = rows[f"layer_with_weights-{weighted.index('block1_dw')}"]
        else:
            row = rows["block1_dw"]
        kernel = model.get_layer("block1_dw").get_weights()[0]
        stats = row["stats"]
        assert stats["min"] == pytest.approx(float(kernel.min())) and stats["max"] == pytest.approx(float(kernel.max()))
        assert stats["mean"] == pytest.approx(float(kernel.mean()), abs=1e-7)
        assert stats["std"] == pytest.approx(float(kernel.std()), rel=1e-5)
        assert stats["sparsity"] == 0 and stats["nan"] == 0 and stats["inf"] == 0
    everything = np.concatenate([w.reshape(-1) for w in model.get_weights()])
    model_stats = _json(mobilenet_files["h5"], "--stats")["metrics"]["summary"]["stats"]
    assert model_stats["mean"] == pytest.approx(float(everything.mean()), rel=1e-5)
    assert model_stats["std"] == pytest.approx(float(everything.std()), rel=1e-5)
    assert model_stats["sparsity"] == pytest.approx(float((everything == 0).mean()))


def test_sparsity_nan_and_inf_are_counted(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="dense")])
    kernel = np.arange(12, dtype=np.float32).reshape(4, 3)
    kernel[0, 0], kernel[1, 1], kernel[2, 2] = 0.0, np.nan, np.inf
    model.get_layer("dense").set_weights([kernel, np.zeros(3, np.float32)])
    model.save(tmp_path / "sparse.keras")
    row = _json(tmp_path / "sparse.keras", "--stats")["metrics"]["nodes"][-1]
    assert row["stats"]["nan"] == 1 and row["stats"]["inf"] == 1
    assert row["stats"]["sparsity"] == pytest.approx(4 / 15)  # kernel[0, 0] and the three bias zeros
    finite = np.concatenate([kernel[np.isfinite(kernel)], np.zeros(3, np.float32)])
    assert row["stats"]["max"] == finite.max() and row["stats"]["mean"] == pytest.approx(float(finite.mean()))
    assert row["stats"]["std"] == pytest.approx(float(finite.std()))


def profiled_macs_by_layer(model, input_shape) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Half the profiler's float operations in the MAC ops, per top-level name scope (one per Keras layer)."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    concrete = tf.function(lambda x: model(x, training=False)).get_concrete_function(
        tf.TensorSpec([1, *input_shape], tf.float32))
    frozen = convert_variables_to_constants_v2(concrete)
    types = {op.name: op.type for op in frozen.graph.get_operations()}
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    profile = tf.compat.v1.profiler.profile(graph=frozen.graph, run_meta=tf.compat.v1.RunMetadata(), cmd="scope",
                                            options=options)
    found: dict[str, int] = {}

    def walk(node) -> None:  # type: ignore[no-untyped-def]
        if types.get(node.name) in PROFILED_MAC_OPS and "/" in node.name:
            layer = node.name.split("/")[1].rsplit("_", 1)[0]  # functional_1/lstm_1/... -> lstm
            found[layer] = found.get(layer, 0) + node.float_ops // 2
        for child in node.children:
            walk(child)

    walk(profile)
    # The profiler has no rule for Einsum (attention's two products): output elements x contracted size,
    # from the shapes TensorFlow gives the ops.
    for op in frozen.graph.get_operations():
        if op.type == "Einsum" and "/" in op.name:
            left, right = op.get_attr("equation").decode().split("->")[0].split(",")
            result = op.get_attr("equation").decode().split("->")[1]
            sizes = {**dict(zip(left, op.inputs[0].shape.as_list())), **dict(zip(right, op.inputs[1].shape.as_list()))}
            contracted = math.prod(sizes[c] for c in set(left) & set(right) if c not in result)
            layer = op.name.split("/")[1].rsplit("_", 1)[0]
            found[layer] = found.get(layer, 0) + math.prod(op.outputs[0].shape.as_list()) * contracted
    return found


def test_recurrent_and_attention_layers_count_what_the_profiler_counts(tmp_path):
    import keras

    inputs = keras.Input((6, 8))
    x = keras.layers.LSTM(12, return_sequences=True, unroll=True, name="lstm")(inputs)
    x = keras.layers.GRU(10, return_sequences=True, unroll=True, name="gru")(x)
    x = keras.layers.SimpleRNN(9, return_sequences=True, unroll=True, name="rnn")(x)
    x = keras.layers.Conv1D(7, 3, padding="same", name="conv1d")(x)
    attended = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4, name="attention")(x, x)
    outputs = keras.layers.Dense(5, name="dense")(keras.layers.Flatten()(attended))
    model = keras.Model(inputs, outputs)
    model.save(tmp_path / "sequence.keras")
    metrics = _json(tmp_path / "sequence.keras", "--metrics")["metrics"]
    assert metrics["summary"]["unknown_ops"] == {} and metrics["summary"]["no_shape_ops"] == {}
    layers = {row["name"]: row["macs"] for row in metrics["nodes"]}
    profiled = profiled_macs_by_layer(model, (6, 8))
    for name in ("lstm", "gru", "rnn", "conv1d", "dense", "attention"):
        assert layers[name] == profiled[name], name
    assert metrics["summary"]["macs"] == sum(profiled.values())


def test_an_op_without_a_rule_is_counted_as_unknown_never_guessed(tmp_path):
    import keras

    inputs = keras.Input((8,))
    x = keras.layers.Lambda(lambda t: t * 2.0, name="doubling")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(4, name="dense")(x))
    model.save(tmp_path / "lambda.keras")
    metrics = measure(extract(tmp_path / "lambda.keras"))
    rows = {row["name"]: row for row in metrics["nodes"]}
    assert rows["doubling"]["macs"] is None and rows["doubling"]["macs_status"] == "unknown"
    assert metrics["summary"]["unknown_ops"] == {"Lambda": 1}
    assert rows["dense"]["macs"] == 32 and metrics["summary"]["macs"] == 32


def test_shapes_without_tensorflow_match_onnx_shape_inference(mobilenet_files):
    import onnx
    from onnx import shape_inference

    inferred = shape_inference.infer_shapes(onnx.load(mobilenet_files["onnx"]))
    shapes = {value.name: [d.dim_value or None for d in value.type.tensor_type.shape.dim]
              for value in [*inferred.graph.value_info, *inferred.graph.output]}
    graph = extract(mobilenet_files["onnx"])
    by_name = {node.name: node for node in graph.op_nodes}
    checked = 0
    for node in inferred.graph.node:
        if node.output[0] in shapes:
            assert by_name[node.name].outputs[0] == shapes[node.output[0]], node.name
            checked += 1
    assert checked == len(inferred.graph.node)
    assert math.prod(d or 1 for d in by_name[inferred.graph.node[-1].name].outputs[0]) == 10


def test_the_metrics_and_graph_documents_have_the_keys_the_doc_lists(mobilenet_files, tmp_path):
    from tests.cli.test_json_docs import assert_documented

    document = _json(mobilenet_files["h5"], "--stats", "--graph", tmp_path / "model.svg")
    assert_documented(document, "inspect-metrics")


@pytest.mark.parametrize("name", ["h5", "keras"])
def test_metrics_measure_the_report_inspect_made_without_reading_the_file_again(mobilenet_files, monkeypatch, name):
    from convkit.containers import isolate
    from convkit.formats import hdf5, keras_archive

    module = {"h5": hdf5, "keras": keras_archive}[name]
    reads = []

    def counted(function, path, *args, **kwargs):  # type: ignore[no-untyped-def]
        reads.append(path)
        return isolate.run_isolated(function, path, *args, **kwargs)

    monkeypatch.setattr(module, "run_isolated", counted)
    document = _json(mobilenet_files[name], "--metrics")
    assert document["metrics"]["summary"]["macs"] > 0 and reads == [mobilenet_files[name]]


def test_graph_level_formats_count_the_macs_of_their_savedmodel(tmp_path):
    # The same CNN as a SavedModel, a frozen GraphDef, a TF1 checkpoint with its .meta and a TF.js graph model
    # (the builds tests/convert/test_graphs.py shares); "two" as a TF.js 0.x model.
    from tests import _graph_models

    cnn = _graph_models.built("cnn", tmp_path, ("tfjs_uint8", "tfjs_frozen", "tfjs_sharded", "tf1"))
    found = {}
    for variant in ("saved_model", "frozen.pb", "tf1", "tfjs_frozen"):
        summary = _json(_graph_models.variant_path(cnn, variant), "--metrics")["metrics"]["summary"]
        assert summary["unknown_ops"] == {} and summary["no_shape_ops"] == {}, (variant, summary)
        found[variant] = summary["macs"]
    assert found["saved_model"] > 0 and set(found.values()) == {found["saved_model"]}, found
    two = _graph_models.built("two", tmp_path, ("tfjs_frozen", "tfjs_legacy", "tf1_savedmodel"))
    legacy = _json(two / "tfjs_legacy", "--metrics")["metrics"]["summary"]["macs"]
    assert legacy == _json(two / "saved_model", "--metrics")["metrics"]["summary"]["macs"] > 0
    drawn = tmp_path / "frozen.svg"
    result = runner.invoke(app, ["inspect", str(cnn / "frozen.pb"), "--graph", str(drawn)])
    assert result.exit_code == 0 and drawn.stat().st_size > 0, result.output
