"""The report's forms: JSON document, JUnit XML, rich table; built from real comparisons of arrays."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest
from rich.console import Console

from convkit.check.compare import compare_output
from convkit.check.report import CheckReport, ModelInfo, PairResult, render_table, write_junit
from convkit.errors import MismatchError
from convkit.runtimes.precision import default_tolerance


def _report() -> CheckReport:
    ref = np.random.default_rng(0).normal(size=(20, 10)).astype(np.float32)
    off = ref.copy()
    off[:, 2] += 0.5
    tolerance = default_tolerance("float32")
    return CheckReport(
        reference=ModelInfo("ref.keras", "ref.keras", "keras", "Keras 3.15.1"),
        pairs=(
            PairResult(ModelInfo("good.h5", "good.h5", "h5", "tf_keras 2.19.0"),
                       (compare_output("dense_1", ref, ref.copy(), tolerance),)),
            PairResult(ModelInfo("bad_tfjs", "bad_tfjs", "tfjs", "TF.js 4.22.0 layers"),
                       (compare_output("dense_1", ref, off, tolerance, other_name="output_0"),),
                       notes=("outputs matched by position (dense_1 -> output_0)",)),
            PairResult(ModelInfo("gone.keras", None, "keras", "-"), error="gone.keras: no such file or directory"),
        ),
        inputs={"source": "20 random samples (seed 0)", "count": 20},
    )


def test_verdict_and_exit_code():
    report = _report()
    assert [pair.status for pair in report.pairs] == ["PASS", "FAIL", "ERROR"]
    assert report.exit_code == 2 and not report.passed
    only_fail = CheckReport(report.reference, report.pairs[:2], report.inputs)
    assert only_fail.exit_code == 1
    with pytest.raises(MismatchError, match=r"bad_tfjs: output dense_1 \(output_0\): max abs error 0.5"):
        only_fail.assert_passed()
    assert CheckReport(report.reference, report.pairs[:1], report.inputs).exit_code == 0


def test_json_document_is_plain_json():
    document = json.loads(json.dumps(_report().to_dict(), allow_nan=False))
    assert document["status"] == "ERROR" and document["exit_code"] == 2
    bad = document["pairs"][1]["outputs"][0]
    assert bad["max_abs"] == pytest.approx(0.5) and bad["mismatched"] == 20 and bad["top1_agreement"] < 1
    assert document["failures"][1] == "gone.keras: no such file or directory"


def test_junit_has_one_case_per_copy_with_failure_and_error(tmp_path):
    path = write_junit(_report(), tmp_path / "reports" / "check.xml")
    suite = ElementTree.parse(path).getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "1", "1")
    cases = suite.findall("testcase")
    assert [case.get("name") for case in cases] == ["ref.keras vs good.h5", "ref.keras vs bad_tfjs",
                                                    "ref.keras vs gone.keras"]
    assert cases[0].find("failure") is None and cases[0].find("error") is None
    assert "max abs error 0.5" in cases[1].find("failure").get("message")
    assert cases[2].find("error").get("message") == "gone.keras: no such file or directory"
    assert not (tmp_path / "reports" / "check.xml.part").exists()


def test_table_fits_80_columns_and_names_every_failure():
    buffer = io.StringIO()
    render_table(_report(), Console(file=buffer, width=80, color_system=None, soft_wrap=True))
    text = buffer.getvalue()
    table = text.split("\ninputs:")[0]
    assert max(len(line) for line in table.splitlines()) <= 80
    assert "dense_1 (output_0)" in text and "PASS" in text and "ERROR" in text
    assert "FAIL bad_tfjs: output dense_1 (output_0): max abs error 0.5" in text
    assert text.rstrip().endswith("FAILED: 1 of 3 copies differ from ref.keras, 1 of 3 could not be loaded or run on 20 inputs")


def test_mixed_tolerances_are_stated_per_row_and_in_the_caption():
    ref = np.ones((4, 10), np.float32)
    report = CheckReport(
        reference=ModelInfo("ref.keras", "ref.keras", "keras", "Keras 3.15.1"),
        pairs=(
            PairResult(ModelInfo("plain", "plain", "h5", "tf_keras 2.19.0"),
                       (compare_output("y", ref, ref, default_tolerance("float32")),)),
            PairResult(ModelInfo("q8", "q8", "tfjs", "TF.js 4.22.0 layers", quantization="uint8"),
                       (compare_output("y", ref, ref + 0.05, default_tolerance("float32", "uint8")),)),
        ),
        inputs={"source": "4 random samples (seed 0)", "count": 4},
    )
    buffer = io.StringIO()
    render_table(report, Console(file=buffer, width=120, color_system=None, soft_wrap=True))
    text = buffer.getvalue()
    assert report.passed and "atol/rtol" in text and "0.1/0.1" in text
    assert "0.1/0.1 (default for uint8-quantized weights)" in text and "1e-05/1e-05 (default float32)" in text
