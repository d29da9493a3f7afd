"""MACs of ResNet50 and MobileNetV2 (224x224, alpha 1.0, weights=None) from every format convkit reads,
beside the papers' figures and TensorFlow's own profiler on the same frozen graph; and the time of
`inspect --graph` on a 5,000-node graph.

For each architecture: Keras 3 writes `.keras` and `.h5`; convkit converts the `.keras` file to a
SavedModel (read twice: its Keras layer graph and, with `--level ops`, its op graph), TF.js, ONNX and TFLite. `convkit inspect --metrics --json` reads
each file (a fresh process, no TensorFlow) and its MAC total is compared with
- the paper: ResNet-50 3.8 G multiply-adds (He et al. 2015, Table 1); MobileNetV2 300 M (Sandler et al. 2018);
- TensorFlow's profiler (`tf.compat.v1.profiler`, float operations / 2) on the frozen inference graph of the
  same model, which also counts batch normalisation, bias additions and activations.

Run: .venv/bin/python bench/macs_bench.py [--arch ResNet50,MobileNetV2] [--out bench/results/macs.md]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAPERS = {"ResNet50": (3.8e9, "He et al. 2015, Table 1: 3.8 x 10^9 multiply-adds"),
          "MobileNetV2": (300e6, "Sandler et al. 2018, Table 4: 300 M multiply-adds")}
TARGETS = (("savedmodel", "savedmodel"), ("tfjs", "tfjs"), ("onnx", "onnx"), ("tflite", "tflite"))
# Columns: each file, and the SavedModel's op graph (--level ops) beside its Keras layer graph.
FORMATS = ["h5", "keras", "savedmodel", "savedmodel-ops", "tfjs", "onnx", "tflite"]


def convkit(*args: str, json_out: bool = False) -> dict | None:
    command = [sys.executable, "-m", "convkit", *args]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout) if json_out else None


def profiler_macs(model) -> float:  # type: ignore[no-untyped-def]
    """TensorFlow's profiler on the frozen inference graph for one 224x224 image: float operations / 2."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    function = tf.function(lambda x: model(x, training=False))
    concrete = function.get_concrete_function(tf.TensorSpec([1, 224, 224, 3], tf.float32))
    frozen = convert_variables_to_constants_v2(concrete)
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    profile = tf.compat.v1.profiler.profile(graph=frozen.graph, run_meta=tf.compat.v1.RunMetadata(), cmd="op",
                                            options=options)
    return profile.total_float_ops / 2


def measure(arch: str, folder: Path) -> dict:
    import keras

    model = getattr(keras.applications, arch)(weights=None, input_shape=(224, 224, 3))
    keras_file, h5_file = folder / f"{arch}.keras", folder / f"{arch}.h5"
    model.save(keras_file)
    model.save(h5_file)
    row: dict = {"arch": arch, "profiler": profiler_macs(model)}
    files = {"h5": h5_file, "keras": keras_file}
    for target, suffix in TARGETS:
        out = folder / f"{arch}_{suffix}"
        convkit("convert", str(keras_file), "--to", target, "-o", str(out), "--no-verify")
        files[target] = out
    runs = [(name, path, []) for name, path in files.items()]
    runs.append(("savedmodel-ops", files["savedmodel"], ["--level", "ops"]))
    for name, path, extra in runs:
        start = time.perf_counter()
        document = convkit("inspect", str(path), "--metrics", "--json", *extra, json_out=True)
        assert document is not None
        metrics = document["metrics"]
        row[name] = {"macs": metrics["summary"]["macs"], "level": metrics["level"], "seconds": time.perf_counter() - start,
                     "unknown_ops": metrics["summary"]["unknown_ops"], "no_shape_ops": metrics["summary"]["no_shape_ops"]}
    return row


def big_graph_seconds(folder: Path) -> tuple[int, float, bool]:
    """(nodes, wall seconds, TensorFlow imported) of `inspect --graph big.html` on a 5,000-node ONNX graph."""
    sys.path.insert(0, str(ROOT))
    from tests.graph._big import transformer_onnx

    nodes = transformer_onnx(folder / "big.onnx", 102)
    probe = ("import sys, runpy\nsys.argv = ['convkit', 'inspect', sys.argv[1], '--graph', sys.argv[2]]\n"
             "try:\n    runpy.run_module('convkit', run_name='__main__')\nexcept SystemExit as stop:\n"
             "    assert not stop.code, stop.code\nprint('tensorflow' in sys.modules)\n")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", probe, str(folder / "big.onnx"), str(folder / "big.html")],
                          capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
    return nodes, time.perf_counter() - start, done.stdout.strip().endswith("True")


def table(rows: list[dict], big: tuple[int, float, bool]) -> str:
    formats = FORMATS
    lines = ["| model | " + " | ".join(formats) + " | paper | vs paper | TF profiler (flops / 2) | vs profiler |",
             "|---" * (len(formats) + 5) + "|"]
    for row in rows:
        paper, _source = PAPERS[row["arch"]]
        figures = [row[name]["macs"] for name in formats]
        cells = [f"{value / 1e6:,.1f} M" for value in figures]
        lines.append(f"| {row['arch']} | " + " | ".join(cells) + f" | {paper / 1e6:,.0f} M | "
                     f"{(figures[0] / paper - 1) * 100:+.1f}% | {row['profiler'] / 1e6:,.1f} M | "
                     f"{(figures[0] / row['profiler'] - 1) * 100:+.1f}% |")
    lines.append("")
    for row in rows:
        for name in formats:
            found = row[name]
            extra = {k: v for k, v in (("unknown", found["unknown_ops"]), ("no shape", found["no_shape_ops"])) if v}
            lines.append(f"- {row['arch']} {name}: {found['level']} graph, inspect --metrics {found['seconds']:.2f} s"
                         + (f", {extra}" if extra else ""))
    nodes, seconds, imported = big
    lines.append("")
    lines.append(f"`inspect --graph big.html` of a {nodes:,}-node ONNX graph: {seconds:.2f} s wall "
                 f"(TensorFlow imported: {'yes' if imported else 'no'})")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", default="ResNet50,MobileNetV2")
    parser.add_argument("--out", type=Path, default=None, help="also write the table to this file")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with tempfile.TemporaryDirectory(prefix="convkit-macs-") as temporary:
        folder = Path(temporary)
        rows = [measure(arch, folder) for arch in args.arch.split(",")]
        big = big_graph_seconds(folder)
    text = table(rows, big)
    print(text, end="")
    if args.out:
        args.out.write_text(f"# `python bench/macs_bench.py --arch {args.arch}`\n\n{text}")
    for row in rows:
        paper = PAPERS[row["arch"]][0]
        for name in FORMATS:
            if abs(row[name]["macs"] / paper - 1) > 0.03 or abs(row[name]["macs"] / row["profiler"] - 1) > 0.03:
                print(f"{row['arch']} {name}: {row[name]['macs']:,} is not within 3% of both figures", file=sys.stderr)
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
