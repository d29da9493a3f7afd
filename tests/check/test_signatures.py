"""check --signature: SavedModels and TFLite models holding several signatures, each checked through the one asked."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from convkit.cli.main import app

runner = CliRunner()


def build_two_signatures(folder: Path) -> dict[str, Path]:
    """``two/``: a SavedModel whose ``scores`` signature is a dense layer and ``offsets`` adds a vector, over one
    shared variable; ``two.tflite``: both signatures in one TFLite file; ``one/``: ``scores`` alone, as its
    ``serving_default``."""
    import tensorflow as tf

    rng = np.random.default_rng(0)

    class Scorer(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.kernel = tf.Variable(rng.normal(size=(4, 3)).astype("float32"))
            self.bias = tf.Variable(rng.normal(size=(3,)).astype("float32"))

        @tf.function(input_signature=[tf.TensorSpec((None, 4), tf.float32, name="features")])
        def scores(self, features):
            return {"scores": tf.matmul(features, self.kernel) + self.bias}

        @tf.function(input_signature=[tf.TensorSpec((None, 3), tf.float32, name="values")])
        def offsets(self, values):
            return {"shifted": values * 2.0 + self.bias}

    module = Scorer()
    paths = {"two": folder / "two", "one": folder / "one", "tflite": folder / "two.tflite"}
    tf.saved_model.save(module, str(paths["two"]), signatures={"scores": module.scores, "offsets": module.offsets})
    tf.saved_model.save(module, str(paths["one"]), signatures={"serving_default": module.scores})
    converter = tf.lite.TFLiteConverter.from_saved_model(str(paths["two"]), signature_keys=["scores", "offsets"])
    paths["tflite"].write_bytes(converter.convert())
    return paths


@pytest.fixture(scope="module")
def two_signatures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_two_signatures(tmp_path_factory.mktemp("signatures"))


def _check(*args: object) -> dict:
    result = runner.invoke(app, ["check", *map(str, args), "--random", "6", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_each_signature_runs_in_every_model_that_holds_it(two_signatures: dict[str, Path]) -> None:
    for key, output in (("scores", "scores"), ("offsets", "shifted")):
        report = _check(two_signatures["two"], two_signatures["tflite"], "--signature", key)
        assert report["passed"], report["failures"]
        assert report["reference"]["runtime"].endswith(f" {key}")
        (pair,) = report["pairs"]
        assert pair["model"]["runtime"].endswith(f" {key}")
        assert [comparison["output"] for comparison in pair["outputs"]] == [output]


def test_a_model_holding_one_signature_runs_it(two_signatures: dict[str, Path]) -> None:
    report = _check(two_signatures["two"], two_signatures["one"], "--signature", "scores")
    assert report["passed"], report["failures"]
    assert "holds one signature, 'serving_default', and ran it for --signature scores" in report["pairs"][0]["notes"]


def test_a_signature_no_model_holds_is_refused_with_the_choices(two_signatures: dict[str, Path]) -> None:
    for reference, title in ((two_signatures["two"], "SavedModel"), (two_signatures["tflite"], "TFLite")):
        result = runner.invoke(app, ["check", str(reference), str(two_signatures["one"]), "--signature", "score"])
        assert result.exit_code == 2
        assert result.stderr.strip().splitlines()[-1] == (
            f"Error: {reference}: the {title} model has no signature 'score'; its signatures: offsets, scores")
    # Without --signature, a SavedModel without serving_default and with two signatures says which it has.
    result = runner.invoke(app, ["check", str(two_signatures["two"]), str(two_signatures["one"])])
    assert result.exit_code == 2 and "signatures: offsets, scores" in result.stderr
