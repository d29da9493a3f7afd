"""`convkit check` as a user runs it: exit codes, the table, --json, --junit-xml."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from convkit.cli.main import app
from tests.check import _models

runner = CliRunner()


@pytest.fixture(scope="module")
def nudged_k2(trained_k2: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _models.cached(
        tmp_path_factory,
        "nudged.h5",
        lambda out: _models.nudge_h5_weight(trained_k2 / "my_model.h5", out, "dense_1/bias:0", 1e-3),
    )


def _invoke(*args: object):
    return runner.invoke(app, ["check", *map(str, args)])


@pytest.mark.node
# Keras 3 (my_model.keras) runs as a subprocess in tests/cli/test_quiet.py, which also reads its stderr.
@pytest.mark.parametrize("generation, model", [(2, "my_model.h5")], ids=["keras2"])
def test_all_formats_of_the_tutorial_model_pass(generation, model, request, tmp_path):
    trained = request.getfixturevalue(f"trained_k{generation}")
    junit = tmp_path / "check.xml"
    result = _invoke("--all-formats", trained / model, "--json", "--junit-xml", junit)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["status"] == "PASS" and report["exit_code"] == 0
    assert report["inputs"]["count"] == 1000
    labels = [pair["model"]["label"] for pair in report["pairs"]]
    assert labels == ["ckpt", "savedmodel", "h5", "keras", "tfjs_layers", "tfjs_graph", "pb", "onnx", "tflite"]
    runtimes = {pair["model"]["label"]: pair["model"]["runtime"] for pair in report["pairs"]}
    assert runtimes["tfjs_layers"].startswith("TF.js 4.22.0 layers")
    assert runtimes["tfjs_graph"].startswith("TF.js 4.22.0 graph")
    assert runtimes["onnx"].startswith("onnxruntime 1.31") and runtimes["tflite"].startswith("LiteRT 2.3")
    assert runtimes["pb"].startswith("TF 2.19")
    for pair in report["pairs"]:
        (output,) = pair["outputs"]
        assert output["passed"] and output["top1_agreement"] == 1.0 and output["max_abs"] < 1e-4
    suite = ElementTree.parse(junit).getroot().find("testsuite")
    assert suite.get("tests") == "9" and suite.get("failures") == "0" and suite.get("errors") == "0"


def test_a_copy_with_one_weight_off_by_1e_3_exits_1_naming_output_and_size(trained_k2, nudged_k2, tmp_path):
    junit = tmp_path / "check.xml"
    result = _invoke(trained_k2 / "my_model.h5", trained_k2 / "my_model.keras", nudged_k2, "--mnist", 100,
                     "--junit-xml", junit)
    assert result.exit_code == 1, result.output
    assert "FAIL" in result.stdout and "PASS" in result.stdout
    assert f"FAIL {nudged_k2}: output dense_1: max abs error 0.001" in result.stdout
    assert "FAILED: 1 of 2 copies differ" in result.stdout
    cases = ElementTree.parse(junit).getroot().find("testsuite").findall("testcase")
    assert [case.find("failure") is not None for case in cases] == [False, True]
    assert "output dense_1: max abs error 0.001" in cases[1].find("failure").get("message")


def test_json_report_has_the_numbers(trained_k2, nudged_k2):
    result = _invoke(trained_k2 / "my_model.h5", nudged_k2, "--mnist", 100, "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)  # progress went to stderr
    (pair,) = report["pairs"]
    (output,) = pair["outputs"]
    assert pair["status"] == "FAIL" and output["output"] == "dense_1"
    assert output["max_abs"] == pytest.approx(1e-3, rel=1e-3)
    assert output["needed_atol"] == pytest.approx(1e-3, rel=0.1)
    assert output["mismatched"] == 100 and output["size"] == 1000
    assert {"mean_abs", "max_rel", "mean_rel", "needed_rtol", "atol", "rtol", "top1_agreement"} <= set(output)
    assert result.stderr == ""  # progress lines are for people; a --json run off a terminal shows none


def test_a_per_output_tolerance_can_accept_the_difference(trained_k2, nudged_k2):
    result = _invoke(trained_k2 / "my_model.h5", nudged_k2, "--mnist", 20, "--tolerance", "dense_1=2e-3,0")
    assert result.exit_code == 0, result.output
    assert "--tolerance dense_1" in result.stdout
    loose = _invoke(trained_k2 / "my_model.h5", nudged_k2, "--mnist", 20, "--atol", "1e-2")
    assert loose.exit_code == 0, loose.output


def test_activation_changed_copy_exits_1(trained_k3, tmp_path):
    copy = tmp_path / "elu.keras"
    _models.activation_changed_k3(trained_k3 / "my_model.keras", copy)
    result = _invoke(trained_k3 / "my_model.keras", copy, "--random", 50, "--seed", 1)
    assert result.exit_code == 1
    assert f"FAIL {copy}: output dense_1: max abs error" in result.stdout
    assert "50 random samples (seed 1)" in result.stdout


def test_copy_with_dropout_forced_on_exits_1(trained_k2, tmp_path):
    copy = tmp_path / "mc_dropout.h5"
    _models.dropout_forced_k2(trained_k2 / "my_model.h5", copy)
    result = _invoke(trained_k2 / "my_model.h5", copy, "--mnist", 100)
    assert result.exit_code == 1
    assert f"FAIL {copy}: output dense_1: max abs error" in result.stdout


@pytest.mark.node
def test_tfjs_copy_with_a_flipped_shard_byte_exits_1(trained_k2, tmp_path, tmp_path_factory):
    good = _models.cached(tmp_path_factory, "k2_tfjs_layers",
                          lambda out: _models.tfjs_layers(trained_k2 / "my_model.h5", out))
    corrupt = tmp_path / "corrupt_tfjs"
    _models.flip_tfjs_byte(good, corrupt, "dense_1/kernel")
    result = _invoke(trained_k2 / "my_model.h5", good, corrupt, "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert [pair["status"] for pair in report["pairs"]] == ["PASS", "FAIL"]
    assert report["failures"][0].startswith(f"{corrupt}: output dense_1: max abs error")


def test_npz_inputs_by_name(trained_k2, tmp_path, mnist_test):
    npz = tmp_path / "digits.npz"
    np.savez(npz, dense_input=mnist_test[0][:7])
    result = _invoke(trained_k2 / "my_model.h5", trained_k2 / "my_model.keras", "--inputs", npz, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["inputs"]["source"] == str(npz) and report["inputs"]["count"] == 7


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "give the reference and at least one copy"),
        (["--mnist", "5", "--random", "5"], "choose one input source"),
        (["--tolerance", "dense_1=abc"], "--tolerance takes OUTPUT=ATOL,RTOL"),
        (["--tolerance", "logits=1,1"], "--tolerance names outputs ['logits']"),
        (["--keep-copies", "x"], "--keep-copies applies to --all-formats only"),
    ],
)
def test_usage_errors_exit_2_with_one_line(trained_k2, args, message):
    models = [trained_k2 / "my_model.h5"] + ([trained_k2 / "my_model.keras"] if args else [])
    result = _invoke(*models, *args)
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines()[-1].startswith("Error: ")
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_missing_or_unreadable_copy_is_an_error_row_and_exit_2(trained_k2, tmp_path):
    broken = tmp_path / "broken.h5"
    broken.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    result = _invoke(trained_k2 / "my_model.h5", tmp_path / "absent.keras", trained_k2 / "my_model.keras", "--mnist", 10)
    assert result.exit_code == 2
    assert "ERROR" in result.stdout and "PASS" in result.stdout
    assert f"Error: {tmp_path / 'absent.keras'}: no such file or directory" in result.stderr
    missing_ref = _invoke(tmp_path / "absent.h5", trained_k2 / "my_model.h5")
    assert missing_ref.exit_code == 2
    assert missing_ref.stderr.strip().splitlines()[-1] == f"Error: {tmp_path / 'absent.h5'}: no such file or directory"
    unreadable = _invoke(trained_k2 / "my_model.h5", broken, "--mnist", 10)
    assert unreadable.exit_code == 2 and "broken.h5" in unreadable.stderr


def test_help_documents_the_exit_codes():
    result = runner.invoke(app, ["check", "--help"])
    assert result.exit_code == 0
    assert "0 every copy matches" in result.stdout and "1 a copy's outputs differ" in result.stdout
    assert "2 usage error" in result.stdout


def test_a_folder_of_png_digits_feeds_the_tutorial_mlp(trained_k2, tmp_path, mnist_test):
    from tests._digits import write_pngs

    digits = write_pngs(tmp_path / "digits", mnist_test[0][:40], mnist_test[1][:40])
    result = _invoke(trained_k2 / "my_model.h5", trained_k2 / "my_model.keras", "--inputs", digits, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["inputs"]["source"] == f"40 images from {digits} (28x28 grayscale, flattened, unit: x/255)"
    assert report["inputs"]["tensors"]["dense_input"] == {"shape": [40, 784], "dtype": "float32"}


def test_loader_errors_are_one_line_naming_the_file_and_the_input(trained_k2, tmp_path):
    (tmp_path / "wide.csv").write_text("1,2,3\n")
    np.save(tmp_path / "half.npy", np.full((3, 784), 0.5))
    cases = [
        (["--inputs", tmp_path / "wide.csv"], f"{tmp_path / 'wide.csv'}: its 3 columns give 3 values per sample, "
                                              "but input 'dense_input' takes 784"),
        (["--inputs", tmp_path / "absent"], f"{tmp_path / 'absent'}: no such file or folder"),
        (["--inputs", f"label={tmp_path / 'half.npy'}"], "the model has no input 'label' (its inputs: dense_input)"),
        (["--inputs", tmp_path / "half.npy", "--preprocess", "tf"], "no source here holds images"),
        (["--inputs", tmp_path / "half.npy", "--limit", "0"], "--limit needs a positive number"),
        (["--inputs", tmp_path / "half.npy", "--preprocess", "tff"], "did you mean 'tf'?"),
    ]
    for args, message in cases:
        result = _invoke(trained_k2 / "my_model.h5", trained_k2 / "my_model.keras", *args)
        assert result.exit_code == 2, result.output
        assert message in " ".join(line.strip(" │╭╮╰╯─") for line in result.stderr.splitlines()), result.stderr
        assert "Traceback" not in result.output and result.stdout == ""
