"""TF.js backends in Node: wasm by default, cpu on request, one row per backend, one Node process per check."""

from __future__ import annotations

import json
import shutil
import subprocess
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from convkit.check import check, write_junit
from convkit.cli.main import app
from convkit.convert_and_check import check_all_formats
from convkit.errors import ConvkitError, UsageError
from convkit.runtimes.tfjs import node
from convkit.runtimes.tfjs.backends import TfjsRuntimes, parse_backends
from convkit.runtimes.tfjs.node import RUNNER_SCRIPT
from convkit.runtimes.tfjs.runner import TfjsRunner
from tests.check import _models

pytestmark = pytest.mark.node


@pytest.fixture(scope="module")
def einsum_tfjs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A SavedModel using Einsum and IsNan, kernels TF.js wasm 4.22 lacks, and its TF.js graph copy."""
    import tensorflow as tf

    class NanSafeProjection(tf.Module):
        def __init__(self) -> None:
            self.w = tf.Variable(np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32))

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
        def __call__(self, x):
            clean = tf.where(tf.math.is_nan(x), tf.zeros_like(x), x)
            return {"y": tf.einsum("bi,ij->bj", clean, self.w)}

    folder = tmp_path_factory.mktemp("einsum")
    module = NanSafeProjection()
    tf.saved_model.save(module, str(folder / "savedmodel"), signatures=module.__call__)
    _models.tfjs_graph(folder / "savedmodel", folder / "tfjs")
    ops = {node["op"] for node in json.loads((folder / "tfjs" / "model.json").read_text())["modelTopology"]["node"]}
    assert "Einsum" in ops, ops
    return folder / "savedmodel", folder / "tfjs"


def test_wasm_is_the_default_and_agrees_with_cpu(trained_k2, k2_tfjs_layers):
    report = check(trained_k2 / "my_model.h5", [k2_tfjs_layers], mnist=300)
    assert report.passed, report.summary()
    assert report.pairs[0].model.runtime == "TF.js 4.22.0 layers wasm (Node)"
    assert report.pairs[0].model.label == str(k2_tfjs_layers)  # one backend: the label is the path alone
    both = check(trained_k2 / "my_model.h5", [k2_tfjs_layers], mnist=300, tfjs_backends=["cpu", "wasm"])
    assert both.passed, both.summary()
    rows = {pair.model.label: pair for pair in both.pairs}
    assert set(rows) == {f"{k2_tfjs_layers} (cpu)", f"{k2_tfjs_layers} (wasm)"}
    assert rows[f"{k2_tfjs_layers} (cpu)"].model.runtime == "TF.js 4.22.0 layers cpu (Node)"
    for pair in both.pairs:
        (output,) = pair.outputs
        assert output.tolerance_source == "default float32" and output.max_abs < 1e-5


def test_wasm_and_cpu_outputs_of_the_same_model_agree(k2_tfjs_layers, mnist_test):
    host = node.NodeHost()
    try:
        outputs = {}
        for backend in ("cpu", "wasm"):
            runner = TfjsRunner(k2_tfjs_layers, backend=backend, host=host)
            outputs[backend] = next(iter(runner.infer({runner.inputs[0].name: mnist_test[0][:500]}).values()))
    finally:
        host.close()
    difference = np.abs(outputs["cpu"] - outputs["wasm"]).max()
    assert 0 < difference < 1e-5  # computed differently (XNNPACK), yet within float32's tolerance


def test_one_node_process_serves_every_tfjs_model_and_backend(trained_k2, k2_tfjs_layers, tmp_path, monkeypatch):
    second = shutil.copytree(k2_tfjs_layers, tmp_path / "second_tfjs")
    started = []
    real_popen = subprocess.Popen

    def counting_popen(argv, *args, **kwargs):
        if str(RUNNER_SCRIPT) in map(str, argv):
            started.append(list(map(str, argv)))
        return real_popen(argv, *args, **kwargs)

    monkeypatch.setattr(node.subprocess, "Popen", counting_popen)
    report = check(trained_k2 / "my_model.h5", [k2_tfjs_layers, second], mnist=100, tfjs_backends=["wasm,cpu"])
    assert [pair.model.runtime.split(" ", 3)[-1] for pair in report.pairs] == [
        "wasm (Node)", "cpu (Node)", "wasm (Node)", "cpu (Node)"]
    assert report.passed, report.summary()
    assert len(started) == 1 and started[0][-1] == "--serve"


def test_a_kernel_wasm_lacks_falls_back_to_cpu_by_default_and_errors_when_wasm_was_asked_for(einsum_tfjs):
    savedmodel, copy = einsum_tfjs
    report = check(savedmodel, [copy], random=20)
    assert report.passed, report.summary()
    assert report.pairs[0].model.runtime == "TF.js 4.22.0 graph cpu (Node)"
    assert "TF.js wasm has no Einsum kernel, so this model ran on the cpu backend" in report.pairs[0].notes
    asked = check(savedmodel, [copy], random=20, tfjs_backends=["wasm"])
    assert asked.status == "ERROR" and asked.exit_code == 2
    assert "Kernel 'Einsum' not registered for backend 'wasm'" in asked.pairs[0].error


def test_a_broken_copy_fails_on_every_backend(trained_k2, k2_tfjs_layers, tmp_path):
    _models.flip_tfjs_byte(k2_tfjs_layers, tmp_path / "flipped", "dense_1/kernel")
    report = check(trained_k2 / "my_model.h5", [tmp_path / "flipped"], mnist=100, tfjs_backends=["cpu", "wasm"])
    assert [pair.status for pair in report.pairs] == ["FAIL", "FAIL"]
    assert report.exit_code == 1


def test_all_formats_and_junit_carry_one_row_per_backend(trained_k3, tmp_path):
    report = check_all_formats(trained_k3 / "my_model.keras", mnist=100, tfjs_backends=["wasm", "cpu"])
    assert report.passed, report.summary()
    labels = [pair.model.label for pair in report.pairs]
    assert labels == ["ckpt", "savedmodel", "h5", "keras", "tfjs_layers (wasm)", "tfjs_layers (cpu)",
                      "tfjs_graph (wasm)", "tfjs_graph (cpu)", "pb", "onnx", "tflite"]
    suite = ElementTree.parse(write_junit(report, tmp_path / "check.xml")).getroot().find("testsuite")
    names = [case.get("name") for case in suite.findall("testcase")]
    assert suite.get("tests") == "11" and len(set(names)) == 11
    assert any(name.endswith("vs tfjs_graph (cpu)") for name in names)
    outs = {case.get("name"): case.find("system-out").text for case in suite.findall("testcase")}
    assert "runtime: TF.js 4.22.0 graph cpu (Node)" in outs[next(n for n in names if n.endswith("tfjs_graph (cpu)"))]


def test_backend_names_are_checked_and_the_cli_says_which_exist(trained_k2, k2_tfjs_layers):
    assert parse_backends(["wasm,webgl", "cpu", "wasm"]) == ("wasm", "webgl", "cpu")
    with pytest.raises(UsageError, match="unknown TF.js backend 'webgpu'; choose from cpu, wasm, webgl, webgl-f16"):
        parse_backends(["webgpu"])
    result = CliRunner().invoke(app, ["check", str(trained_k2 / "my_model.h5"), str(k2_tfjs_layers),
                                      "--tfjs-backend", "gpu"])
    assert result.exit_code == 2
    assert "Error: unknown TF.js backend 'gpu'; choose from cpu, wasm, webgl, webgl-f16" in result.stderr


def test_webgl_needs_the_browser_and_cpu_stays_in_node():
    runtimes = TfjsRuntimes(["cpu"])
    assert runtimes.backends == ("cpu",) and runtimes.host("cpu").name == "Node"
    assert TfjsRuntimes(None).backends == ("wasm",)
    runtimes.close()


def test_the_code_policy_judges_a_tfjs_copy_before_any_backend_runs_it(k2_tfjs_layers, trained_k2, tmp_path):
    hostile = shutil.copytree(k2_tfjs_layers, tmp_path / "os_system_tfjs")
    document = json.loads((hostile / "model.json").read_text())
    dense = next(layer for layer in document["modelTopology"]["model_config"]["config"]["layers"]
                 if layer["class_name"] == "Dense")
    dense["config"]["kernel_initializer"] = {"module": "os", "class_name": "system", "config": {}}
    (hostile / "model.json").write_text(json.dumps(document))
    report = check(trained_k2 / "my_model.h5", [hostile], mnist=10, tfjs_backends=["cpu", "wasm"])
    (pair,) = report.pairs  # refused once, before it became a runner per backend
    assert pair.status == "ERROR" and report.exit_code == 2
    assert "'os'" in pair.error and str(hostile) in pair.error
    with pytest.raises(ConvkitError, match="'os'"):
        check(hostile, [k2_tfjs_layers], mnist=10, tfjs_backends=["cpu", "wasm"])
