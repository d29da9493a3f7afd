"""check --signature: SavedModels and TFLite models holding several signatures, each checked through the one asked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from convkit.cli.main import app
from tests._signatures import build_two_signatures

runner = CliRunner()


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
