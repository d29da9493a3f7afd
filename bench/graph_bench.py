"""Graph-level sources through convkit and the tools users run instead, side by side.

The six models of the graph test matrix (tests/_graph_models.py: a CNN, a
MobileNet-like block, a PReLU model, an LSTM, a two-input two-output model, an
Embedding model) are made into TF.js graph models (tensorflowjs_converter from
the SavedModel), frozen ``.pb`` files and TF1 checkpoints with ``.meta``. Each
route runs as a fresh process per tool, timed with its peak memory (bench/_measure.py);
each output is then checked with ``convkit check`` against the Keras model (not timed).
A cell counts as right when its tool exits 0 and the output matches.

Routes and the tools beside convkit:

- TF.js graph model -> SavedModel and -> frozen ``.pb``: ``tfjs_graph_converter`` (tfjs-to-tf
  1.6.3, the one maintained tool that goes back; installed in its own venv, ``--anchor-venv``);
- TF.js graph model -> ONNX: ``python -m tf2onnx.convert --tfjs``;
- frozen ``.pb`` -> ONNX: ``tf2onnx --graphdef`` and TF1 checkpoint -> ONNX: ``tf2onnx --checkpoint``,
  both with ``--inputs``/``--outputs`` given (convkit infers them);
- frozen ``.pb`` -> TF.js: ``tensorflowjs_converter --input_format tf_frozen_model`` with
  ``--output_node_names`` given.

convkit's times include loading and running every output once in its runtime.

Usage: python bench/graph_bench.py [--cases cnn,lstm] [--runs 1] [--anchor-venv /tmp/anchor-venv]
       [--json FILE] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from _measure import measure  # noqa: E402

BIN = Path(sys.executable).parent
QUIET = {"TF_CPP_MIN_LOG_LEVEL": "3", "TFDF_DISABLE_WELCOME_MESSAGE": "1", "PYTHONPATH": str(ROOT)}
VARIANTS = ("tfjs", "tf1")


def _names(folder: Path) -> tuple[list[str], list[str]]:
    """The frozen graph's input and output tensor names (what the other tools must be told); read without
    TensorFlow."""
    from convkit.formats.frozen_graph import read_graph

    model = read_graph(folder / "frozen.pb")
    return [info.tensor for info in model.inputs], [info.tensor for info in model.outputs]


def routes(folder: Path, anchor: Path | None, out: Path) -> list[dict[str, Any]]:
    """Every route of one case: source, target, and the argv of convkit and of the other tool."""
    inputs, outputs = _names(folder)
    tfjs, pb, ckpt = folder / "tfjs", folder / "frozen.pb", folder / "tf1" / "model.ckpt"
    convkit = [str(BIN / "convkit"), "convert"]
    tf2onnx = [sys.executable, "-m", "tf2onnx.convert", "--opset", "17"]
    listed = []
    for target, suffix in (("savedmodel", "sm"), ("pb", "pb")):
        other = None
        if anchor is not None:
            output_format = "tf_saved_model" if target == "savedmodel" else "tf_frozen_model"
            other = ("tfjs_graph_converter", [str(anchor / "bin" / "tfjs_graph_converter"), "--output_format",
                                              output_format, str(tfjs), str(out / f"tfjs-{suffix}-other")])
        listed.append({"source": "tfjs graph", "target": target, "ours": convkit + [str(tfjs), "--to", target, "-o",
                       str(out / f"tfjs-{suffix}-convkit")], "other": other})
    listed.append({"source": "tfjs graph", "target": "onnx",
                   "ours": convkit + [str(tfjs), "--to", "onnx", "-o", str(out / "tfjs-convkit.onnx")],
                   "other": ("tf2onnx --tfjs", tf2onnx + ["--tfjs", str(tfjs / "model.json"), "--output",
                                                          str(out / "tfjs-other.onnx")])})
    names = ["--inputs", ",".join(inputs), "--outputs", ",".join(outputs)]
    listed.append({"source": "frozen pb", "target": "onnx",
                   "ours": convkit + [str(pb), "--to", "onnx", "-o", str(out / "pb-convkit.onnx")],
                   "other": ("tf2onnx --graphdef", tf2onnx + ["--graphdef", str(pb), *names, "--output",
                                                              str(out / "pb-other.onnx")])})
    listed.append({"source": "tf1 checkpoint", "target": "onnx",
                   "ours": convkit + [str(ckpt), "--to", "onnx", "-o", str(out / "ckpt-convkit.onnx")],
                   "other": ("tf2onnx --checkpoint", tf2onnx + ["--checkpoint", f"{ckpt}.meta", *names, "--output",
                                                                str(out / "ckpt-other.onnx")])})
    listed.append({"source": "frozen pb", "target": "tfjs",
                   "ours": convkit + [str(pb), "--to", "tfjs", "-o", str(out / "pb-convkit-tfjs")],
                   "other": ("tensorflowjs_converter tf_frozen_model", [
                       str(BIN / "tensorflowjs_converter"), "--input_format", "tf_frozen_model",
                       "--output_node_names", ",".join(name.split(":")[0] for name in outputs), str(pb),
                       str(out / "pb-other-tfjs")])})
    return listed


def _written(argv: list[str]) -> Path:
    """The output path of a command line (its last argument, or the one after -o)."""
    return Path(argv[argv.index("-o") + 1]) if "-o" in argv else Path(argv[-1])


def _checked(reference: Path, output: Path) -> str:
    """``ok``, or why the output does not count: it does not match, or convkit check cannot run it."""
    result = subprocess.run([str(BIN / "convkit"), "check", str(reference), str(output), "--json"], capture_output=True,
                            text=True, env={**os.environ, **QUIET}, timeout=1800)
    if result.returncode == 0:
        return "ok"
    try:
        report = json.loads(result.stdout)
    except ValueError:
        return f"check exit {result.returncode}"
    pair = report["pairs"][0]
    if pair["error"]:
        return "does not run: " + pair["error"].split(": ", 1)[-1][:120]
    worst = max((output["max_abs"] or 0.0) for output in pair["outputs"])
    return f"differs (max abs diff {worst:.1e})"


def _timed(label: str, argv: list[str], runs: int) -> dict[str, Any]:
    output = _written(argv)

    def clear() -> None:
        if output.is_dir():
            shutil.rmtree(output)
        output.unlink(missing_ok=True)

    try:
        measured = measure(label, argv, runs, clear, QUIET)
    except RuntimeError as error:
        return {"label": label, "seconds": None, "peak_mib": None, "exit": "failed", "error": str(error)[-300:]}
    return {**measured.to_dict(), "exit": 0, "output": str(output)}


def _sources(case: str, root: Path) -> Path:
    """The case's sources, built (or taken from the test cache) in a child process.

    The bench itself never imports TensorFlow: a child's peak RSS as the kernel reports it includes
    the memory of the process that started it.
    """
    script = ("import sys; from pathlib import Path; from tests._graph_models import built; "
              f"print(built(sys.argv[1], Path(sys.argv[2]), {VARIANTS!r}))")
    done = subprocess.run([sys.executable, "-c", script, case, str(root / "sources")], capture_output=True, text=True,
                          env={**os.environ, **QUIET}, check=True, timeout=3600)
    return Path(done.stdout.strip().splitlines()[-1])


def bench_case(case: str, root: Path, anchor: Path | None, runs: int) -> list[dict[str, Any]]:
    folder = _sources(case, root)
    out = root / "outputs" / case
    out.mkdir(parents=True)
    rows = []
    for route in routes(folder, anchor, out):
        row: dict[str, Any] = {"case": case, "source": route["source"], "target": route["target"]}
        row["convkit"] = _timed("convkit convert", route["ours"], runs)
        row["convkit"]["result"] = _checked(folder / "model.keras", _written(route["ours"])) \
            if row["convkit"]["exit"] == 0 else "convert failed"
        if route["other"] is None:
            row["other"] = {"label": "tfjs_graph_converter", "result": "not installed"}
        else:
            label, argv = route["other"]
            row["other"] = _timed(label, argv, runs)
            row["other"]["result"] = _checked(folder / "model.keras", _written(argv)) \
                if row["other"]["exit"] == 0 else "convert failed: " + row["other"]["error"].strip().splitlines()[-1][:120]
        print(json.dumps(row), file=sys.stderr, flush=True)
        rows.append(row)
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    """The side-by-side table and the totals."""
    lines = ["| case | source -> target | convkit | s | MiB | other tool | s | MiB |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        ours, other = row["convkit"], row["other"]
        lines.append(f"| {row['case']} | {row['source']} -> {row['target']} | {ours['result']} | "
                     f"{ours.get('seconds') or '-'} | {ours.get('peak_mib') or '-'} | {other['label']}: "
                     f"{other['result']} | {other.get('seconds') or '-'} | {other.get('peak_mib') or '-'} |")
    tools: dict[str, list[int]] = {}
    for row in rows:
        for key in ("convkit", "other"):
            label = row[key]["label"]
            right, total = tools.setdefault(label, [0, 0])
            tools[label] = [right + (row[key]["result"] == "ok"), total + 1]
    lines.append("")
    for label, (right, total) in tools.items():
        lines.append(f"- {label}: {right}/{total} right")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from tests._graph_models import CASES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated; default {','.join(CASES)}")
    parser.add_argument("--runs", type=int, default=1, help="runs per tool and route (median reported); default 1")
    parser.add_argument("--anchor-venv", type=Path, default=Path("/tmp/anchor-venv"),
                        help="a venv with tfjs-graph-converter (bin/tfjs_graph_converter); default /tmp/anchor-venv")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    parser.add_argument("--markdown", type=Path, help="also write the table here")
    options = parser.parse_args(argv)
    anchor = options.anchor_venv if (options.anchor_venv / "bin" / "tfjs_graph_converter").exists() else None
    if anchor is None:
        print(f"tfjs_graph_converter not found in {options.anchor_venv}; its cells say so", file=sys.stderr)
    rows = []
    with tempfile.TemporaryDirectory(prefix="convkit-graph-bench-") as folder:
        for case in options.cases.split(","):
            rows.extend(bench_case(case.strip(), Path(folder), anchor, options.runs))
    table = markdown(rows)
    print(table)
    if options.json:
        options.json.write_text(json.dumps(rows, indent=2) + "\n")
    if options.markdown:
        options.markdown.write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
