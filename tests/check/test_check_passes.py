"""On the files ``convkit train`` makes, every copy matches its reference in its own runtime."""

from __future__ import annotations

import pytest

from convkit.check import check

pytestmark = pytest.mark.node


def _assert_all_pass(report, expected_runtimes):
    assert report.passed, report.summary()
    assert report.exit_code == 0
    runtimes = [pair.model.runtime for pair in report.pairs]
    for expected, runtime in zip(expected_runtimes, runtimes):
        assert runtime.startswith(expected), runtimes
    for pair in report.pairs:
        for output in pair.outputs:
            assert output.top1_agreement == 1.0 and output.max_abs < 1e-4


def test_keras3_tutorial_files_and_tfjs_graph_copy_pass(trained_k3, k3_tfjs_graph):
    report = check(
        trained_k3 / "my_model.keras",
        [
            trained_k3 / "my_model.h5",
            trained_k3 / "saved_model" / "my_model",
            k3_tfjs_graph,
        ],
    )
    _assert_all_pass(report, ["Keras 3", "TF 2.19.0 serving_default", "TF.js 4.22.0 graph"])
    assert report.inputs["count"] == 1000 and "MNIST" in report.inputs["source"]
    graph = report.pairs[-1]
    assert graph.outputs[0].output == "dense_1" and graph.outputs[0].other_output == "output_0"
    assert any("by position" in note for note in graph.notes)


def test_keras2_tutorial_files_and_tfjs_layers_copy_pass(trained_k2, k2_tfjs_layers):
    report = check(
        trained_k2 / "my_model.h5",
        [
            trained_k2 / "saved_model" / "my_model",
            trained_k2 / "my_model.keras",
            k2_tfjs_layers,
        ],
    )
    _assert_all_pass(report, ["tf_keras", "tf_keras", "TF.js 4.22.0 layers"])  # tf_keras writes .keras too
    assert report.reference.runtime.startswith("tf_keras")


@pytest.mark.parametrize("generation", [3, 2])
def test_tutorial_checkpoints_run_in_the_architecture_of_like(generation, request):
    # The tutorial's manual checkpoint holds the weights restored from training_2's latest checkpoint.
    trained = request.getfixturevalue(f"trained_k{generation}")
    report = check(
        trained / "checkpoints" / "my_checkpoint",
        [trained / "training_2", trained / "training_2" / "cp-0005.ckpt.index"],
        like=trained / "my_model.keras",
    )
    _assert_all_pass(report, ["Keras 3" if generation == 3 else "", "Keras 3" if generation == 3 else ""])


def test_checkpoint_reference_needs_like(trained_k2):
    from convkit.errors import UsageError

    with pytest.raises(UsageError, match="pass --like MODEL"):
        check(trained_k2 / "training_1" / "cp.ckpt", [trained_k2 / "my_model.h5"])
    report = check(trained_k2 / "training_1" / "cp.ckpt", [trained_k2 / "my_model.h5"], like=trained_k2 / "my_model.h5",
                   mnist=50)
    assert report.pairs[0].status in ("PASS", "FAIL")  # cp.ckpt and my_model.h5 hold different training stages
    assert report.inputs["count"] == 50


def test_quantized_tfjs_copies_pass_under_the_stated_looser_default(trained_k3, tmp_path):
    from convkit.convert import convert

    copies = []
    for dtype in ("uint8", "float16"):
        convert(trained_k3 / "my_model.keras", "tfjs", tmp_path / f"tfjs_{dtype}", quantize=dtype)
        copies.append(tmp_path / f"tfjs_{dtype}")
    report = check(trained_k3 / "my_model.keras", copies, mnist=200)
    assert report.passed, report.summary()
    sources = [pair.outputs[0].tolerance_source for pair in report.pairs]
    assert sources == ["default for uint8-quantized weights", "default for float16-quantized weights"]
    assert [pair.model.quantization for pair in report.pairs] == ["uint8", "float16"]
    strict = check(trained_k3 / "my_model.keras", copies[:1], mnist=200, atol=1e-5, rtol=1e-5)
    assert not strict.passed  # the looser default is what lets quantization error through
