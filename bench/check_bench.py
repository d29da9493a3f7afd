"""`convkit check` across the five formats on 1000 MNIST digits, against each runtime's own script.

Setup (not timed): `convkit train` writes the tutorial's Keras 3 model; `convkit
convert` copies my_model.keras to a TF checkpoint, a SavedModel, an .h5, a
TF.js layers model and a TF.js graph model.

Timed, each as fresh processes, median of --runs:
  convkit:  convkit check my_model.keras ckpt savedmodel h5 tfjs_layers tfjs_graph --mnist 1000
  scripts:  what a user would otherwise run: one load-and-predict script per copy in its own
            runtime (Keras 3, TF SavedModel signature, TF.js in Node), each saving its
            predictions, plus one script that compares the saved predictions.

Target: convkit check <= 30 s. Printed: both wall times, peak RSS, and scripts / convkit.

Usage: python bench/check_bench.py [--runs 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import measure, run_once  # noqa: E402

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 30.0
COPIES = [("ckpt", None, "ckpt"), ("savedmodel", None, "savedmodel"), ("h5", None, "model.h5"),
          ("tfjs", "layers", "tfjs_layers"), ("tfjs", "graph", "tfjs_graph")]

KERAS_SCRIPT = """
import sys, numpy as np, keras
from convkit.train.data import load_mnist
model = keras.models.load_model(sys.argv[1], compile=False)
np.save(sys.argv[2], model.predict(load_mnist().x_test, verbose=0))
"""
CHECKPOINT_SCRIPT = """
import sys, numpy as np, keras, tensorflow as tf
from convkit.train.data import load_mnist
model = keras.models.load_model(sys.argv[3], compile=False)
reader = tf.train.load_checkpoint(sys.argv[1])
layers = [layer for layer in model.layers if layer.weights]
for index, layer in enumerate(layers):
    layer.set_weights([reader.get_tensor(f"layer_with_weights-{index}/{w.name.split('/')[-1]}/.ATTRIBUTES/VARIABLE_VALUE")
                       for w in layer.weights])
np.save(sys.argv[2], model.predict(load_mnist().x_test, verbose=0))
"""
SAVEDMODEL_SCRIPT = """
import sys, numpy as np, tensorflow as tf
from convkit.train.data import load_mnist
signature = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
(name,) = signature.structured_input_signature[1]
outputs = signature(**{name: tf.constant(load_mnist().x_test)})
np.save(sys.argv[2], next(iter(outputs.values())).numpy())
"""
COMPARE_SCRIPT = """
import sys, numpy as np
reference = np.load(sys.argv[1])
for path in sys.argv[2:]:
    other = np.load(path)
    print(path, np.abs(other - reference).max(), np.allclose(other, reference, atol=1e-5, rtol=1e-5))
"""


def _prepare(work: Path) -> dict[str, Path]:
    subprocess.run([str(BIN / "convkit"), "train", "--out", str(work / "trained"), "--epochs-per-stage", "1,5,1"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    reference = work / "trained" / "my_model.keras"
    paths = {"keras": reference}
    for target, kind, name in COPIES:
        out = work / "copies" / name
        argv = [str(BIN / "convkit"), "convert", str(reference), "--to", target, "--out", str(out)]
        if kind:
            argv += ["--tfjs-kind", kind]
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        paths[name] = out
    return paths


def _scripts(work: Path, paths: dict[str, Path]) -> list[list[str]]:
    python = sys.executable
    scripts = work / "scripts"
    scripts.mkdir(exist_ok=True)
    for name, text in (("keras_predict.py", KERAS_SCRIPT), ("ckpt_predict.py", CHECKPOINT_SCRIPT),
                       ("savedmodel_predict.py", SAVEDMODEL_SCRIPT), ("compare.py", COMPARE_SCRIPT)):
        (scripts / name).write_text(text)
    predictions = work / "predictions"
    predictions.mkdir(exist_ok=True)
    # TF.js has no file loader in plain @tensorflow/tfjs under Node; convkit's runner script is the
    # smallest one that loads model.json + shards from disk, so the TF.js baseline runs it directly.
    node_inputs = work / "node_inputs.json"
    subprocess.run([python, "-c", (
        "import sys; from pathlib import Path; from convkit.train.data import load_mnist;"
        "from convkit.check.runners.tfjs import write_tensors;"
        "write_tensors(Path(sys.argv[1]), [('x', load_mnist().x_test)])"), str(node_inputs)], check=True)
    runner = ROOT / "convkit" / "check" / "tfjs_runner.mjs"
    return [
        [python, str(scripts / "keras_predict.py"), str(paths["keras"]), str(predictions / "keras.npy")],
        [python, str(scripts / "keras_predict.py"), str(paths["model.h5"]), str(predictions / "h5.npy")],
        [python, str(scripts / "ckpt_predict.py"), str(paths["ckpt"]), str(predictions / "ckpt.npy"),
         str(paths["keras"])],
        [python, str(scripts / "savedmodel_predict.py"), str(paths["savedmodel"]), str(predictions / "sm.npy")],
        ["node", str(runner), str(paths["tfjs_layers"] / "model.json"), str(node_inputs),
         str(work / "layers_out.json")],
        ["node", str(runner), str(paths["tfjs_graph"] / "model.json"), str(node_inputs),
         str(work / "graph_out.json")],
        [python, str(scripts / "compare.py"), *(str(predictions / f"{n}.npy") for n in ("keras", "h5", "ckpt", "sm"))],
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="convkit-check-bench-") as temporary:
        work = Path(temporary)
        print("preparing: convkit train + convert to 5 copies ...", file=sys.stderr, flush=True)
        paths = _prepare(work)
        check_argv = [str(BIN / "convkit"), "check", str(paths["keras"]),
                      *(str(paths[name]) for _, _, name in COPIES), "--mnist", "1000"]
        convkit = measure("convkit check (5 formats, 6 models)", check_argv, runs=args.runs)
        scripts = _scripts(work, paths)
        totals, peaks = [], []
        for _ in range(args.runs):
            seconds = 0.0
            peak = 0.0
            for argv in scripts:
                wall, rss = run_once(argv)
                seconds += wall
                peak = max(peak, rss)
            totals.append(seconds)
            peaks.append(peak)
        totals.sort()
        baseline_seconds = round(totals[len(totals) // 2], 3)
        baseline_peak = round(sorted(peaks)[len(peaks) // 2], 1)
    result = {
        "convkit": convkit.to_dict(),
        "scripts": {"label": "one load+predict script per copy, then a compare script", "seconds": baseline_seconds,
                    "peak_mib": baseline_peak, "runs": args.runs, "all_seconds": [round(t, 3) for t in totals]},
        "ratio_scripts_over_convkit": round(baseline_seconds / convkit.seconds, 2),
        "target_seconds": TARGET_SECONDS,
        "within_target": convkit.seconds <= TARGET_SECONDS,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"convkit check, 6 models in 5 formats, 1000 MNIST digits: {convkit.seconds:.1f} s "
              f"(target <= {TARGET_SECONDS:.0f} s: {'met' if result['within_target'] else 'MISSED'}), "
              f"peak {convkit.peak_mib:.0f} MiB")
        print(f"per-runtime scripts (7 processes):                      {baseline_seconds:.1f} s, "
              f"peak {baseline_peak:.0f} MiB per process")
        print(f"ratio scripts / convkit: {result['ratio_scripts_over_convkit']:.2f}x")
    return 0 if result["within_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
