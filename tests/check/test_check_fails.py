"""The check can fail: each broken copy is a FAIL naming the output and the size of the difference."""

from __future__ import annotations

import pytest

from convkit.check import check
from convkit.errors import MismatchError
from convkit.runtimes.open import open_runner
from tests.check import _models


def _only_failure(report):
    assert not report.passed and report.exit_code == 1 and report.status == "FAIL"
    failures = report.failures()
    assert len(failures) == 1, failures
    return failures[0]


def test_one_weight_changed_by_1e_3_fails(trained_k2, tmp_path):
    copy = tmp_path / "nudged.h5"
    changed = _models.nudge_h5_weight(trained_k2 / "my_model.h5", copy, "dense_1/bias:0", 1e-3)
    report = check(trained_k2 / "my_model.h5", [trained_k2 / "my_model.h5", copy], mnist=200)
    assert [pair.status for pair in report.pairs] == ["PASS", "FAIL"]
    output = report.pairs[1].outputs[0]
    assert output.output == "dense_1" and output.max_abs == pytest.approx(1e-3, rel=1e-3)
    assert output.mismatched == 200  # class 0's logit of every digit moved
    line = _only_failure(report)
    assert "nudged.h5: output dense_1: max abs error 0.001" in line, (changed, line)
    with pytest.raises(MismatchError, match="output dense_1: max abs error 0.001"):
        report.assert_passed()


@pytest.mark.node
def test_tfjs_copy_with_one_shard_byte_flipped_fails_and_only_that_copy(k2_tfjs_layers, trained_k2, tmp_path):
    corrupt = tmp_path / "corrupt_tfjs"
    flipped = _models.flip_tfjs_byte(k2_tfjs_layers, corrupt, "dense_1/kernel")
    assert abs(flipped["after"]) in (abs(flipped["before"]) * 4, abs(flipped["before"]) / 4)
    report = check(trained_k2 / "my_model.h5", [k2_tfjs_layers, corrupt])
    assert [pair.status for pair in report.pairs] == ["PASS", "FAIL"]
    bad = report.pairs[1]
    assert bad.model.runtime.startswith("TF.js")
    assert bad.outputs[0].output == "dense_1" and bad.outputs[0].max_abs > 1e-2
    assert "corrupt_tfjs: output dense_1: max abs error" in _only_failure(report)


def test_layer_activation_changed_fails(trained_k3, tmp_path):
    copy = tmp_path / "elu.keras"
    _models.activation_changed_k3(trained_k3 / "my_model.keras", copy)
    report = check(trained_k3 / "my_model.keras", [copy], mnist=100)
    output = report.pairs[0].outputs[0]
    assert output.output == "dense_1" and output.max_abs > 1e-2
    assert "elu.keras: output dense_1: max abs error" in _only_failure(report)


def test_model_run_with_dropout_in_training_mode_fails(trained_k3):
    path = trained_k3 / "my_model.keras"
    training = open_runner(path, training=True)
    assert training.runtime.endswith("(training mode)")
    report = check(path, [open_runner(path), training], mnist=100)
    assert [pair.status for pair in report.pairs] == ["PASS", "FAIL"]
    output = report.pairs[1].outputs[0]
    assert output.output == "dense_1" and output.max_abs > 1e-2
    assert "output dense_1: max abs error" in _only_failure(report)


def test_saved_model_with_dropout_forced_on_fails(trained_k2, tmp_path):
    copy = tmp_path / "mc_dropout.h5"
    _models.dropout_forced_k2(trained_k2 / "my_model.h5", copy)
    report = check(trained_k2 / "my_model.h5", [copy], mnist=100)
    assert "mc_dropout.h5: output dense_1: max abs error" in _only_failure(report)


def test_training_mode_is_refused_for_non_keras_runtimes(trained_k3):
    from convkit.errors import UsageError

    with pytest.raises(UsageError, match="training mode applies to Keras models only"):
        open_runner(trained_k3 / "saved_model" / "my_model", training=True)
