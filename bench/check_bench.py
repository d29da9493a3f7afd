"""`convkit check` across the five formats on 1000 MNIST digits, against each runtime's own script.

Setup (not timed): `convkit train` writes the tutorial's Keras 3 model; `convkit
convert` copies my_model.keras to a TF checkpoint, a SavedModel, an .h5, a
TF.js layers model and a TF.js graph model.

Timed, each as fresh processes, median of --runs:
  convkit:  convkit check my_model.keras ckpt savedmodel h5 tfjs_layers tfjs_graph --mnist 1000
  scripts:  what a user would otherwise run: one load-and-predict script per copy in its own
            runtime (Keras 3, TF SavedModel signature, TF.js in Node), each saving its
            predictions, plus one script that compares the saved predictions.

Target: convkit check <= 8 s (TensorFlow imported once, one Node process for every TF.js model).
Printed: both wall times, peak RSS, and scripts / convkit.

TF.js backends, on the same copies (the demo's TF.js layers and graph models):
  check:    convkit check my_model.keras tfjs_layers tfjs_graph --tfjs-backend cpu, then wasm
  node:     the Node runner alone on tfjs_layers, 1000 digits, per backend; the same on a
            784-2048-2048-10 MLP, where the TF.js time is not lost in start-up
  browser:  with --browser and Chromium installed, every backend's max abs error against Keras
            and the check's time (--tfjs-backend cpu,wasm,webgl,webgl-f16)

Usage: python bench/check_bench.py [--runs 3] [--json] [--browser] [--work DIR]
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
TARGET_SECONDS = 8.0
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
        "from convkit.runtimes.tfjs.protocol import write_tensors;"
        "write_tensors(Path(sys.argv[1]), [('x', load_mnist().x_test)])"), str(node_inputs)], check=True)
    runner = ROOT / "convkit" / "runtimes" / "tfjs" / "tfjs_runner.mjs"
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


BIG_MLP_SCRIPT = """
import sys, numpy as np, keras
keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(2048, activation="relu"),
                          keras.layers.Dense(2048, activation="relu"), keras.layers.Dense(10)])
model.save(sys.argv[1])
"""


def _backends(work: Path, paths: dict[str, Path], runs: int, browser: bool) -> dict[str, object]:
    """The TF.js copies checked on the cpu backend against the wasm backend, in the check and in Node alone."""
    result: dict[str, object] = {}
    tfjs_check = [str(BIN / "convkit"), "check", str(paths["keras"]), str(paths["tfjs_layers"]),
                  str(paths["tfjs_graph"]), "--mnist", "1000", "--tfjs-backend"]
    for backend in ("cpu", "wasm"):
        result[f"check_{backend}"] = measure(f"convkit check keras + 2 TF.js copies, {backend}",
                                             [*tfjs_check, backend], runs=runs).to_dict()
    big = work / "big_mlp.keras"
    if not (work / "big_tfjs" / "model.json").is_file():
        subprocess.run([sys.executable, "-c", BIG_MLP_SCRIPT, str(big)], check=True, stderr=subprocess.DEVNULL)
        subprocess.run([str(BIN / "convkit"), "convert", str(big), "--to", "tfjs", "--out", str(work / "big_tfjs"),
                        "--overwrite"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runner = ROOT / "convkit" / "runtimes" / "tfjs" / "tfjs_runner.mjs"
    inputs = work / "node_inputs.json"
    for model, folder in (("tutorial", paths["tfjs_layers"]), ("mlp_784_2048_2048_10", work / "big_tfjs")):
        for backend in ("cpu", "wasm"):
            argv = ["node", str(runner), str(folder / "model.json"), str(inputs), str(work / "out.json"),
                    "--backend", backend]
            result[f"node_{model}_{backend}"] = measure(f"node runner, {model}, {backend}", argv, runs=runs).to_dict()
    if browser:
        done = subprocess.run([*tfjs_check[:-1], "--tfjs-backend", "cpu,wasm,webgl,webgl-f16", "--browser", "chromium",
                               "--json"], capture_output=True, text=True)
        if done.returncode not in (0, 1):
            raise RuntimeError(f"convkit check --browser chromium failed: {done.stderr[-2000:]}")
        report = json.loads(done.stdout)
        result["browser"] = {
            "seconds": report["seconds"],
            "rows": {pair["model"]["label"].rsplit("/", 1)[-1]: {
                "runtime": pair["model"]["runtime"], "seconds": pair["model"]["seconds"],
                "max_abs": pair["outputs"][0]["max_abs"], "tolerance": pair["outputs"][0]["tolerance_source"],
                "status": pair["status"]} for pair in report["pairs"]},
        }
    return result


def _print_backends(result: dict[str, object]) -> None:
    def seconds(key: str) -> float:
        return float(result[key]["seconds"])  # type: ignore[index]

    print(f"check keras + TF.js layers + graph, 1000 digits: cpu {seconds('check_cpu'):.1f} s, "
          f"wasm {seconds('check_wasm'):.1f} s ({seconds('check_cpu') / seconds('check_wasm'):.2f}x)")
    for model in ("tutorial", "mlp_784_2048_2048_10"):
        cpu, wasm = seconds(f"node_{model}_cpu"), seconds(f"node_{model}_wasm")
        print(f"node runner alone, {model}, 1000 inputs: cpu {cpu:.2f} s, wasm {wasm:.2f} s ({cpu / wasm:.1f}x)")
    browser = result.get("browser")
    if isinstance(browser, dict):
        print(f"in Chromium (all four backends, one browser): {browser['seconds']:.1f} s")
        for label, row in browser["rows"].items():
            print(f"  {label:<32} max abs {row['max_abs']:.1e}  {row['seconds']:.2f} s  {row['status']}  "
                  f"({row['tolerance']})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--browser", action="store_true", help="also run every backend in headless Chromium")
    parser.add_argument("--work", type=Path, help="keep the trained model and copies here and reuse them next time")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="convkit-check-bench-") as temporary:
        work = args.work or Path(temporary)
        work.mkdir(parents=True, exist_ok=True)
        if (work / "prepared").is_file():
            paths = {"keras": work / "trained" / "my_model.keras",
                     **{name: work / "copies" / name for _, _, name in COPIES}}
        else:
            print("preparing: convkit train + convert to 5 copies ...", file=sys.stderr, flush=True)
            paths = _prepare(work)
            (work / "prepared").touch()
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
        print("TF.js backends: cpu against wasm ...", file=sys.stderr, flush=True)
        backends = _backends(work, paths, args.runs, args.browser)
    result = {
        "convkit": convkit.to_dict(),
        "scripts": {"label": "one load+predict script per copy, then a compare script", "seconds": baseline_seconds,
                    "peak_mib": baseline_peak, "runs": args.runs, "all_seconds": [round(t, 3) for t in totals]},
        "ratio_scripts_over_convkit": round(baseline_seconds / convkit.seconds, 2),
        "target_seconds": TARGET_SECONDS,
        "within_target": convkit.seconds <= TARGET_SECONDS,
        "tfjs_backends": backends,
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
        _print_backends(backends)
    return 0 if result["within_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
