"""Pictures of the MobileNet-like model in every format: SVG and HTML laid out by Graphviz under Node.js,
the HTML opened in headless Chromium (a screenshot, its node count equal to the file's), PNG."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from convkit.cli.main import app
from tests._browser import require_chromium

runner = CliRunner()
SVG = "{http://www.w3.org/2000/svg}"


# ---------------------------------------------------------------- each file's own count, read by other means


def _keras_layers(config: dict) -> int:
    total = 0
    for layer in config["config"]["layers"]:
        inner = layer.get("config", {})
        total += _keras_layers(layer) if isinstance(inner.get("layers"), list) else 1
    return total


def _savedmodel_layers(path: Path) -> int:
    from tensorflow.python.keras.protobuf import saved_metadata_pb2

    metadata = saved_metadata_pb2.SavedMetadata()
    metadata.ParseFromString((path / "keras_metadata.pb").read_bytes())
    root = next(node for node in metadata.nodes if node.node_path == "root")
    return _keras_layers(json.loads(root.metadata))


def _savedmodel_ops(path: Path) -> int:
    """Ops of the serving signature, called functions opened (TensorFlow's own protobuf classes); constants,
    variable handles and the reads of variables are weights, not ops."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString((path / "saved_model.pb").read_bytes())
    meta = saved.meta_graphs[0]
    functions = {f.signature.name: f for f in meta.graph_def.library.function}
    nodes = {n.name: n for n in meta.graph_def.node}
    wanted = [t.name.split(":")[0] for t in meta.signature_def["serving_default"].outputs.values()]
    reached: set[str] = set()
    while wanted:
        name = wanted.pop()
        if name not in reached:
            reached.add(name)
            wanted.extend(i.split(":")[0].lstrip("^") for i in nodes[name].input if not i.startswith("^"))

    def count(node_defs) -> int:  # type: ignore[no-untyped-def]
        total = 0
        for node in node_defs:
            if node.op in ("Const", "VarHandleOp", "ReadVariableOp"):
                continue
            if node.op in ("StatefulPartitionedCall", "PartitionedCall") and node.attr["f"].func.name in functions:
                total += count(functions[node.attr["f"].func.name].node_def)
            else:
                total += 1
        return total

    return count([nodes[name] for name in reached])


def _tflite_ops(path: Path) -> int:
    from ai_edge_litert.interpreter import Interpreter

    return len(Interpreter(model_path=str(path))._get_ops_details())


def _checkpoint_objects(path: Path) -> int:
    import tensorflow as tf
    from tensorflow.core.protobuf import trackable_object_graph_pb2

    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    graph.ParseFromString(tf.train.load_checkpoint(str(path)).get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
    return sum(1 for node in graph.nodes
               if not (len(node.attributes) == 1 and node.attributes[0].name == "VARIABLE_VALUE" and not node.children))


def file_nodes(name: str, path: Path) -> int:
    """The number of layers, ops or objects the file holds, counted without convkit."""
    import h5py
    import onnx

    if name == "h5":
        with h5py.File(path) as h5:
            return _keras_layers(json.loads(h5.attrs["model_config"]))
    if name == "keras":
        with zipfile.ZipFile(path) as archive:
            return _keras_layers(json.loads(archive.read("config.json")))
    if name.startswith("tfjs"):
        topology = json.loads((path / "model.json").read_text())["modelTopology"]
        if name == "tfjs-layers":
            return _keras_layers(topology.get("model_config", topology))
        nodes = topology["node"] + [n for f in (topology.get("library") or {}).get("function", []) for n in f["nodeDef"]]
        return sum(1 for node in nodes if node["op"] != "Const")
    if name == "onnx":
        return len(onnx.load(str(path)).graph.node)
    if name == "pb":  # a frozen graph: its ops, without constants (weights) and no-ops (control plumbing)
        from tensorflow.core.framework import graph_pb2

        graph_def = graph_pb2.GraphDef.FromString(path.read_bytes())
        return sum(1 for node in graph_def.node if node.op not in ("Const", "NoOp"))
    if name == "tflite":
        return _tflite_ops(path)
    if name == "savedmodel":
        return _savedmodel_layers(path)
    if name == "savedmodel-ops":
        return _savedmodel_ops(path)
    return _checkpoint_objects(path)


def _drawn_nodes(svg_root: ElementTree.Element) -> int:
    return sum(1 for g in svg_root.iter(f"{SVG}g") if {"node"} <= set(g.get("class", "").split())
               and {"op", "object"} & set(g.get("class", "").split()))


# ---------------------------------------------------------------- the drawings


def _cases(files: dict[str, Path]) -> dict[str, Path]:
    """Every format, and the SavedModel a second time as its op graph (--level ops)."""
    return {**files, "savedmodel-ops": files["savedmodel"]}


@pytest.fixture(scope="module")
def drawings(mobilenet_files, tmp_path_factory) -> dict[str, dict[str, Path]]:
    folder = tmp_path_factory.mktemp("drawings")
    made: dict[str, dict[str, Path]] = {}
    for name, path in _cases(mobilenet_files).items():
        made[name] = {}
        for suffix in ("svg", "html"):
            out = folder / f"{name}.{suffix}"
            level = ["--level", "ops"] if name == "savedmodel-ops" else []
            result = runner.invoke(app, ["inspect", str(path), "--graph", str(out), *level])
            assert result.exit_code == 0, result.output
            assert f"wrote {out}: " in result.stderr and "collapsed" not in result.stderr
            made[name][suffix] = out
    return made


@pytest.mark.node
def test_every_format_is_drawn_with_every_node_of_the_file(mobilenet_files, drawings):
    for name, path in _cases(mobilenet_files).items():
        root = ElementTree.parse(drawings[name]["svg"]).getroot()
        assert root.tag == f"{SVG}svg"
        assert _drawn_nodes(root) == file_nodes(name, path), name
        page = drawings[name]["html"].read_text()
        assert page.count("<svg width=") == 1 and 'data-file-nodes="' in page
        assert "http://" not in page.split("<svg", 1)[0] and "src=" not in page and "<link" not in page


@pytest.mark.node
def test_edges_carry_shapes_and_dtypes(drawings):
    text = drawings["h5"]["svg"].read_text()
    assert "?x16x16x16" in text and "float32" in text  # a label, and the dtype in its tooltip
    assert "?x8x16x16" in drawings["onnx"]["svg"].read_text()  # ONNX convolutions are channels-first
    assert "?x8x8x24" in drawings["tflite"]["svg"].read_text()


@pytest.fixture(scope="module")
def chromium():
    from convkit.runtimes.tfjs.browser import launch_chromium

    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.mark.browser
@pytest.mark.node
def test_each_page_opens_in_chromium_with_the_files_node_count(mobilenet_files, drawings, chromium, tmp_path):
    for name, path in _cases(mobilenet_files).items():
        page = chromium.new_page(viewport={"width": 1000, "height": 700})
        fetched: list[str] = []
        errors: list[str] = []
        page.on("request", lambda request, fetched=fetched: fetched.append(request.url))
        page.on("pageerror", lambda error, errors=errors: errors.append(str(error)))
        page.goto(drawings[name]["html"].as_uri())
        page.wait_for_function("window.convkitGraph && window.convkitGraph.ready === true")
        drawn = page.evaluate("window.convkitGraph.drawnNodes")
        assert drawn == file_nodes(name, path) == int(page.evaluate("document.body.dataset.fileNodes")), name
        shot = page.screenshot(path=str(tmp_path / f"{name}.png"))
        assert shot[:8] == b"\x89PNG\r\n\x1a\n" and len(shot) > 10_000
        assert [url for url in fetched if not url.startswith(("file:", "blob:", "data:"))] == [] and errors == [], name
        page.close()


@pytest.mark.browser
@pytest.mark.node
def test_the_page_searches_shows_details_and_opens_groups(tmp_path, chromium):
    import keras

    inner = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, name="inner_dense")], name="head")
    inputs = keras.Input((4,), name="features")
    model = keras.Model(inputs, inner(keras.layers.Dense(6, name="first")(inputs)))
    model.save(tmp_path / "nested.keras")
    out = tmp_path / "nested.html"
    # --max-nodes 3 closes the nested model, as a big graph's groups are closed.
    result = runner.invoke(app, ["inspect", str(tmp_path / "nested.keras"), "--graph", str(out), "--max-nodes", "3"])
    assert result.exit_code == 0 and "1 group(s) collapsed" in result.stderr, result.output
    page = chromium.new_page(viewport={"width": 1000, "height": 700})
    page.goto(out.as_uri())
    page.wait_for_function("window.convkitGraph && window.convkitGraph.ready === true")
    assert page.evaluate("window.convkitGraph.drawnNodes") == 2  # features, first; head is one box
    page.fill("#search", "inner_dense")
    page.keyboard.press("Enter")  # opens the group holding it, lays the graph out again, shows the details
    page.wait_for_function("window.convkitGraph.drawnNodes === 4")
    details = page.inner_text("#details")
    assert "inner_dense" in details and "Dense" in details and "[6,5]" in details and "30" in details
    page.click("g.cluster path", position={"x": 12, "y": 12})  # a click on its frame closes the group again
    page.wait_for_function("window.convkitGraph.drawnNodes === 2")
    page.close()


@pytest.mark.browser
@pytest.mark.node
def test_png_is_drawn_by_chromium(mobilenet_files, chromium, tmp_path):
    out = tmp_path / "model.png"
    result = runner.invoke(app, ["inspect", str(mobilenet_files["keras"]), "--graph", str(out)])
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and height > width > 200


def test_a_png_chromium_cannot_capture_at_twice_the_pixels_is_drawn_at_one(mobilenet_files, chromium, tmp_path,
                                                                            monkeypatch):
    from convkit.errors import RunError
    from convkit.runtimes.tfjs import browser

    drawn = browser.screenshot
    ratios: list[float] = []

    def compositor_fails_at_two(page_html: str, **size: float) -> bytes:
        ratios.append(size["pixel_ratio"])
        if size["pixel_ratio"] == 2.0:  # what a busy machine's Chromium sometimes answers
            raise RunError("headless Chromium could not draw the page (Unable to capture screenshot)")
        return drawn(page_html, **size)

    monkeypatch.setattr(browser, "screenshot", compositor_fails_at_two)
    out = tmp_path / "model.png"
    result = runner.invoke(app, ["inspect", str(mobilenet_files["h5"]), "--graph", str(out)])
    assert result.exit_code == 0, result.output
    assert ratios == [2.0, 1.0] and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_png_without_chromium_is_one_line_naming_setup_browser(mobilenet_files, tmp_path, monkeypatch):
    monkeypatch.setenv("CONVKIT_CHROMIUM", str(tmp_path / "no-chromium"))
    out = tmp_path / "model.png"
    result = runner.invoke(app, ["inspect", str(mobilenet_files["h5"]), "--graph", str(out)])
    assert result.exit_code == 2 and not out.exists()
    assert result.stderr.count("\n") == 1 and "make setup-browser" in result.stderr


def test_bad_requests_are_one_line_errors(mobilenet_files, tmp_path):
    cases = [
        ([str(mobilenet_files["h5"]), "--graph", str(tmp_path / "model.gif")], ".svg, .html, .png"),
        ([str(mobilenet_files["onnx"]), "--graph", str(tmp_path / "x.svg"), "--level", "layers"], "not Keras layers"),
        ([str(mobilenet_files["h5"]), "--metrics", "--level", "ops"], "not an op graph"),
    ]
    for args, text in cases:
        result = runner.invoke(app, ["inspect", *args])
        assert result.exit_code == 2 and text in result.stderr and result.stderr.count("\n") == 1, result.output
    assert not list(tmp_path.iterdir())


@pytest.mark.node
def test_without_the_layout_package_the_error_says_how_to_install_it(mobilenet_files, tmp_path, monkeypatch):
    monkeypatch.setenv("CONVKIT_NODE_ROOT", str(tmp_path))
    monkeypatch.setattr("convkit.runtimes.tfjs.install.candidate_roots", lambda: [tmp_path])
    result = runner.invoke(app, ["inspect", str(mobilenet_files["h5"]), "--graph", str(tmp_path / "x.svg")])
    assert result.exit_code == 2 and "@hpcc-js/wasm-graphviz" in result.stderr and "convkit setup-tfjs" in result.stderr
