"""TF.js in headless Chromium: the tutorial's TF.js copy on WebGL and WASM, float16 textures, a clear message
when the browser is missing.

One Chromium serves the whole module. Without Chromium and playwright ('make
setup-browser') the browser tests are skipped with that reason, except under CI,
which installs both and so fails instead.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from typer.testing import CliRunner

from convkit.check import check, write_junit
from convkit.cli.main import app
from convkit.runtimes.tfjs.browser import BrowserSession, browser_missing
from tests._browser import require_chromium
from tests.check import _models

FLOAT32_DEFAULT = (1e-5, 1e-5)


@pytest.fixture(scope="module")
def chromium():
    require_chromium()
    with BrowserSession("chromium") as session:
        yield session


@pytest.mark.browser
def test_the_tutorial_tfjs_copy_runs_in_chromium_on_webgl_and_wasm(trained_k2, k2_tfjs_layers, chromium, tmp_path):
    broken = tmp_path / "flipped_tfjs"
    _models.flip_tfjs_byte(k2_tfjs_layers, broken, "dense_1/kernel")
    report = check(trained_k2 / "my_model.h5", [k2_tfjs_layers, broken], mnist=200,
                   tfjs_backends=["webgl", "wasm"], browser=chromium)
    rows = {pair.model.label: pair for pair in report.pairs}
    assert list(rows) == [f"{k2_tfjs_layers} (webgl)", f"{k2_tfjs_layers} (wasm)", f"{broken} (webgl)", f"{broken} (wasm)"]
    webgl, wasm = rows[f"{k2_tfjs_layers} (webgl)"], rows[f"{k2_tfjs_layers} (wasm)"]
    assert webgl.status == "PASS" and wasm.status == "PASS", report.summary()
    assert webgl.model.runtime == "TF.js 4.22.0 layers webgl (Chromium)"
    assert wasm.model.runtime == "TF.js 4.22.0 layers wasm (Chromium)"
    assert any(note.startswith("WebGL 2 with float32 textures on") for note in webgl.notes), webgl.notes
    assert webgl.outputs[0].tolerance_source == "default for WebGL float32 textures"
    assert wasm.outputs[0].tolerance_source == "default float32"
    for pair in (webgl, wasm):
        assert 0 < pair.outputs[0].max_abs < 1e-4 and pair.outputs[0].top1_agreement == 1.0
    # A checker must catch a broken copy in the browser too.
    assert [rows[f"{broken} ({b})"].status for b in ("webgl", "wasm")] == ["FAIL", "FAIL"]
    suite = ElementTree.parse(write_junit(report, tmp_path / "check.xml")).getroot().find("testsuite")
    names = [case.get("name") for case in suite.findall("testcase")]
    assert len(set(names)) == 4 and names[0].endswith(f"{k2_tfjs_layers} (webgl)")
    assert suite.get("failures") == "2"


@pytest.mark.browser
def test_float16_textures_fail_the_float32_tolerance_and_pass_their_stated_default(trained_k3, k3_tfjs_graph, chromium):
    reference = trained_k3 / "saved_model" / "my_model"
    stated = check(reference, [k3_tfjs_graph], mnist=200, tfjs_backends=["webgl", "webgl-f16"], browser=chromium)
    webgl, f16 = stated.pairs
    assert f16.model.runtime == "TF.js 4.22.0 graph webgl-f16 (Chromium)"
    assert any(note.startswith("WebGL 2 with float16 textures on") for note in f16.notes), f16.notes
    (f16_output,) = f16.outputs
    assert f16_output.tolerance_source == "default for WebGL float16 textures"
    assert (f16_output.atol, f16_output.rtol) == (1e-2, 1e-2)
    assert stated.passed, stated.summary()
    assert f16_output.max_abs > 1e-4 > webgl.outputs[0].max_abs  # float16 storage: 11 significant bits

    strict = check(reference, [k3_tfjs_graph], mnist=200, tfjs_backends=["webgl", "webgl-f16"], browser=chromium,
                   atol=FLOAT32_DEFAULT[0], rtol=FLOAT32_DEFAULT[1])
    assert [pair.status for pair in strict.pairs] == ["PASS", "FAIL"]
    assert strict.exit_code == 1
    assert "webgl-f16" in strict.failures()[0] and "atol 1e-05 + rtol 1e-05" in strict.failures()[0]


@pytest.mark.browser
def test_a_tfjs_reference_runs_on_the_first_backend(k2_tfjs_layers, tmp_path, chromium):
    copy = Path(shutil.copytree(k2_tfjs_layers, tmp_path / "copy"))
    report = check(k2_tfjs_layers, [copy], random=16, tfjs_backends=["wasm", "cpu"], browser=chromium)
    assert report.reference.runtime == "TF.js 4.22.0 layers wasm (Chromium)"
    assert [pair.model.runtime for pair in report.pairs] == ["TF.js 4.22.0 layers wasm (Chromium)",
                                                             "TF.js 4.22.0 layers cpu (Chromium)"]
    assert report.passed, report.summary()


def test_a_missing_browser_is_one_error_line_saying_how_to_add_it(trained_k2, k2_tfjs_layers, monkeypatch, tmp_path):
    monkeypatch.setenv("CONVKIT_CHROMIUM", str(tmp_path / "no-chromium"))
    for extra in (["--browser", "chromium"], ["--tfjs-backend", "webgl"]):
        result = CliRunner().invoke(app, ["check", str(trained_k2 / "my_model.h5"), str(k2_tfjs_layers), *extra])
        assert result.exit_code == 2, result.output
        assert result.stderr.strip() == (
            "Error: --browser chromium needs Chromium, which is not installed; run 'make setup-browser' in the "
            "convkit checkout (it runs 'apt-get install chromium' and 'pip install playwright==1.65.2'), or set "
            "CONVKIT_CHROMIUM to a Chromium executable"
        )
    result = CliRunner().invoke(app, ["check", str(trained_k2 / "my_model.h5"), str(k2_tfjs_layers),
                                      "--browser", "firefox"])
    assert result.exit_code == 2
    assert "Error: unknown browser 'firefox'; convkit runs TF.js in chromium" in result.stderr


@pytest.mark.browser
@pytest.mark.slow
def test_the_cli_runs_the_browser_and_stops_it(trained_k2, k2_tfjs_layers, tmp_path):
    if browser_missing("chromium"):
        pytest.skip(browser_missing("chromium"))
    # without --json: a --json run off a terminal shows no progress lines, and the page's address is one
    result = CliRunner().invoke(app, ["check", str(trained_k2 / "my_model.h5"), str(k2_tfjs_layers), "--browser",
                                      "chromium", "--mnist", "50"])
    assert result.exit_code == 0, result.output
    assert f"{k2_tfjs_layers} (webgl): PASS" in result.stderr and f"{k2_tfjs_layers} (wasm): PASS" in result.stderr
    # The page server is gone when the command returns (and Chromium with it).
    port = int(re.search(r"TF.js page on http://127.0.0.1:(\d+)", result.stderr).group(1))
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


@pytest.mark.browser
def test_the_page_server_serves_only_what_a_run_registered(k2_tfjs_layers, chromium):
    import urllib.error
    import urllib.request

    chromium.start()
    base = chromium.base_url
    assert base.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(f"{base}/tfjs-wasm/tfjs-backend-wasm-simd.wasm", timeout=10) as response:
        assert response.headers["Content-Type"] == "application/wasm"
    model_url = chromium._model_url(k2_tfjs_layers / "model.json")
    with urllib.request.urlopen(base + model_url, timeout=10) as response:
        assert json.loads(response.read())["modelTopology"]
    folder = model_url.rsplit("/", 1)[0]
    for path in ("/etc/passwd", "/../../../etc/passwd", f"{folder}/../../etc/passwd", f"{folder}/group1-shard9of9",
                 "/models/0123456789abcdef01234567/model.json", "/jobs/x/inputs.bin"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(base + path, timeout=10)
        assert refused.value.code == 404, path
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(urllib.request.Request(f"{base}/jobs/x/outputs.bin", data=b"1234"), timeout=10)
    assert refused.value.code == 404
