"""Graph-level sources converted and proved: TF.js graph models, frozen .pb, TF1 checkpoints, TF1 SavedModels.

The representative share of the matrix that runs in ``make test``; the whole
matrix (six models x every graph-level source x every target) is
tests/convert/test_graph_matrix.py, marked slow. Every output is checked with
``convkit check`` against the Keras model the source was made from.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from convkit.cli.main import app
from tests import _graph_models

runner = CliRunner()
# The TF.js quantizations' own default tolerances (README): the copies inherit the quantized weights.
QUANTIZED_TOLERANCE = {"uint8": ["--atol", "1e-1", "--rtol", "1e-1"]}


@pytest.fixture(scope="module")
def cnn(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _graph_models.built("cnn", tmp_path_factory.mktemp("graphs"), ("tfjs_uint8", "tfjs_frozen", "tfjs_sharded",
                                                                         "tf1"))


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _graph_models.built("two", tmp_path_factory.mktemp("graphs"), ("tfjs_frozen", "tfjs_legacy", "tf1_savedmodel"))


def convert(src: Path, to: str, out: Path, *extra: str) -> dict:
    result = runner.invoke(app, ["convert", str(src), "--to", to, "-o", str(out), "--json", *extra])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def check(reference: Path, copies: list[Path], *extra: str) -> tuple[int, dict]:
    result = runner.invoke(app, ["check", str(reference), *map(str, copies), "--json", *extra])
    assert result.stdout, result.stderr
    return result.exit_code, json.loads(result.stdout)


def test_a_quantized_tfjs_graph_model_converts_to_every_graph_target(cnn: Path, tmp_path: Path) -> None:
    source = cnn / "tfjs_uint8"
    outputs = []
    for target, name in (("savedmodel", "sm"), ("pb", "model.pb"), ("onnx", "model.onnx"), ("tflite", "model.tflite")):
        document = convert(source, target, tmp_path / name)
        assert document["src_format"] == "tfjs" and document["to"] == target
        assert any("_FusedConv2D" in warning for warning in document["warnings"])
        assert any("dequantized from uint8" in warning for warning in document["warnings"])
        outputs.append(tmp_path / name)
    # Against the Keras model: within the uint8 weights' tolerance.
    code, report = check(cnn / "model.keras", outputs, *QUANTIZED_TOLERANCE["uint8"])
    assert code == 0, report
    assert [pair["model"]["format"] for pair in report["pairs"]] == ["savedmodel", "pb", "onnx", "tflite"]
    # Against the TF.js source itself, run in TF.js: the conversion adds nothing to the quantization's error.
    code, report = check(source, outputs)
    assert code == 0 and report["passed"], report
    signature_names = [output["other_output"] for output in report["pairs"][0]["outputs"]]
    assert signature_names == ["output_0"]  # the SavedModel signature keeps the source's names


def test_a_signatureless_two_input_model_and_its_0x_layout(two: Path, tmp_path: Path) -> None:
    frozen = convert(two / "tfjs_frozen", "onnx", tmp_path / "two.onnx")
    assert any("inferred" in warning for warning in frozen["warnings"])
    convert(two / "tfjs_legacy", "savedmodel", tmp_path / "two_sm")
    code, report = check(two / "model.keras", [tmp_path / "two.onnx", tmp_path / "two_sm", two / "tfjs_legacy"])
    assert code == 0, report
    legacy = report["pairs"][2]
    assert legacy["model"]["format"] == "tfjs-pb" and legacy["model"]["runtime"].startswith("TF ")
    assert [output["other_output"] for output in legacy["outputs"]] == ["Identity", "Identity_1"]


def test_tf1_checkpoint_and_tf1_savedmodel_without_signatures(cnn: Path, two: Path, tmp_path: Path) -> None:
    ckpt = _graph_models.variant_path(cnn, "tf1")
    convert(ckpt, "pb", tmp_path / "cnn.pb")
    convert(ckpt, "tflite", tmp_path / "cnn.tflite")
    code, report = check(cnn / "model.keras", [tmp_path / "cnn.pb", tmp_path / "cnn.tflite", ckpt])
    assert code == 0, report
    assert report["pairs"][2]["model"]["format"] == "metagraph"
    # A TF1 SavedModel tagged "train" only, without signatures: its graph converts and runs.
    convert(two / "tf1_savedmodel", "savedmodel", tmp_path / "two_sm")
    code, report = check(two / "model.keras", [tmp_path / "two_sm", two / "tf1_savedmodel"])
    assert code == 0, report
    wrong_tag = runner.invoke(app, ["convert", str(two / "tf1_savedmodel"), "--to", "pb", "-o", str(tmp_path / "x.pb"),
                                    "--tag", "serve"])
    assert wrong_tag.exit_code == 2
    assert "--tag 'serve' names no meta graph; its tag sets are train" in " ".join(wrong_tag.stderr.split())


def test_weights_over_many_shards(cnn: Path, tmp_path: Path) -> None:
    shards = json.loads((cnn / "tfjs_sharded" / "model.json").read_text())["weightsManifest"][0]["paths"]
    assert len(shards) > 5
    convert(cnn / "tfjs_sharded", "pb", tmp_path / "sharded.pb")
    code, report = check(cnn / "model.keras", [tmp_path / "sharded.pb"])
    assert code == 0, report


def test_a_perturbed_output_bias_fails_the_check(cnn: Path, tmp_path: Path) -> None:
    weight = _graph_models.perturb_tfjs_bias(cnn / "tfjs_frozen", tmp_path / "perturbed", "logits")
    assert "logits" in weight
    convert(tmp_path / "perturbed", "onnx", tmp_path / "perturbed.onnx")
    convert(cnn / "tfjs_frozen", "onnx", tmp_path / "good.onnx")
    code, report = check(cnn / "model.keras", [tmp_path / "good.onnx", tmp_path / "perturbed.onnx"])
    assert code == 1
    assert [pair["status"] for pair in report["pairs"]] == ["PASS", "FAIL"]


def test_keras_targets_refuse_with_the_reason(cnn: Path, tmp_path: Path) -> None:
    for target in ("keras", "h5", "ckpt"):
        result = runner.invoke(app, ["convert", str(cnn / "tfjs_frozen"), "--to", target, "-o", str(tmp_path / target)])
        assert result.exit_code == 2
        error = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
        assert len(error) == 1 and result.stderr.rstrip().endswith(error[0])
        assert "a TensorFlow graph without Keras layers, so convkit cannot write it as" in error[0]
        assert error[0].endswith("convert it to savedmodel, tfjs, pb, onnx or tflite")
        assert not (tmp_path / target).exists()


def test_inputs_and_outputs_can_be_named(two: Path, tmp_path: Path) -> None:
    convert(two / "tfjs_frozen", "pb", tmp_path / "second.pb", "--outputs", "Identity_1:0")
    shown = json.loads(runner.invoke(app, ["inspect", str(tmp_path / "second.pb"), "--json"]).stdout)
    assert [output["name"] for output in shown["outputs"]] == ["Identity_1"]
    assert [info["name"] for info in shown["inputs"]] == ["a", "b"]
    wrong = runner.invoke(app, ["convert", str(two / "tfjs_frozen"), "--to", "pb", "-o", str(tmp_path / "x.pb"),
                                "--outputs", "Identity_2"])
    assert wrong.exit_code == 2 and "did you mean 'Identity_1'?" in " ".join(wrong.stderr.split())


def test_graph_options_on_a_keras_source_are_refused(cnn: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["convert", str(cnn / "model.keras"), "--to", "onnx", "-o", str(tmp_path / "x.onnx"),
                                 "--outputs", "logits"])
    assert result.exit_code == 2
    assert "--outputs applies to sources converted as graphs (TF.js graph models, frozen graphs, MetaGraphs, " \
           "SavedModels without Keras layers; without --like), not to this one" in " ".join(result.stderr.split())


def test_open_input_dimensions_are_named_with_the_flag(cnn: Path, tmp_path: Path) -> None:
    from convkit.graph_model import messages

    graph_def = messages.read_graph_def(cnn / "frozen.pb")
    placeholder = next(node for node in graph_def.node if node.op == "Placeholder")
    for dim in placeholder.attr["shape"].shape.dim[1:3]:
        dim.size = -1
    (tmp_path / "open.pb").write_bytes(graph_def.SerializeToString())
    result = runner.invoke(app, ["convert", str(tmp_path / "open.pb"), "--to", "onnx", "-o", str(tmp_path / "o.onnx")])
    assert result.exit_code == 2
    line = " ".join(result.stderr.split())
    assert "input 'image' (image:0) has open dimensions ['?', '?', '?', 3] beyond the batch" in line
    assert "--inputs image:?xNxNx3" in line
    convert(tmp_path / "open.pb", "onnx", tmp_path / "o.onnx", "--inputs", "image:?x16x16x3")
    code, report = check(cnn / "model.keras", [tmp_path / "o.onnx"])
    assert code == 0, report


def test_a_keras_model_to_a_frozen_graph(cnn: Path, tmp_path: Path) -> None:
    convert(cnn / "model.keras", "pb", tmp_path / "cnn.pb")
    shown = json.loads(runner.invoke(app, ["inspect", str(tmp_path / "cnn.pb"), "--json"]).stdout)
    assert [output["name"] for output in shown["outputs"]] == ["logits"]
    assert shown["summary"]["inputs_and_outputs"] == "inferred"
    code, report = check(cnn / "model.keras", [tmp_path / "cnn.pb"])
    assert code == 0 and report["pairs"][0]["outputs"][0]["other_output"] == "logits", report
