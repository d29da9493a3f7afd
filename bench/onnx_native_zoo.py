"""The zoo's architectures to ONNX through convkit's native writer, each checked against Keras in onnxruntime.

For every architecture of ``bench/zoo.py`` (``keras.applications`` with
``weights=None``, fixed seed, small inputs, narrowest widths, random
BatchNorm statistics, scales and biases), in both Keras generations (Keras 3
``.keras`` and tf_keras ``.h5``): ``convkit convert SRC --to onnx --onnx-route
native`` (verification on), then the output runs in onnxruntime on random
inputs and is compared with the prediction of the source file loaded back by the
Keras that wrote it; a case passes when
``max |diff| <= 1e-4 x max |reference|``. An architecture the native writer
does not cover exits 2 naming the layer that stops it; that is listed.

Each architecture runs in a child process of its own (Keras models of 40
architectures do not fit in one process's memory on a 24 GiB machine).

Usage:
    python bench/onnx_native_zoo.py                          # all architectures, both generations
    python bench/onnx_native_zoo.py --arch MobileNetV2 --arch ResNet50
    python bench/onnx_native_zoo.py --sources k3.keras --markdown bench/results/onnx-native-zoo.md
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
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TFDF_DISABLE_WELCOME_MESSAGE", "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

RELATIVE_TOLERANCE = 1e-4
SOURCES = ("k3.keras", "k2.h5")
WORKER_TIMEOUT = 3600
ATTEMPTS = 3


def _load(path: Path, K: Any) -> Any:
    """``path`` loaded by Keras ``K`` itself (with the classes Keras ships in its applications)."""
    from convkit.policy.shipped import keras_shipped_layers

    generation = 3 if K.__name__ == "keras" else 2
    return K.models.load_model(str(path), compile=False, custom_objects=keras_shipped_layers(generation))


def _save(arch: str, source: str, folder: Path, inputs: Any) -> tuple[Path, Any, float]:
    """Builds and saves the architecture; returns the file, the prediction of the file loaded back in Keras
    (the reference), and how far the live model's prediction was from it."""
    import numpy as np
    import zoo

    if source.startswith("k3."):
        import keras as K
    else:
        import tf_keras as K  # type: ignore[no-redef]
    model = zoo.build(arch, K)
    live = np.asarray(model(inputs, training=False))
    path = folder / source.replace(".", "_model.")
    model.save(path)
    del model
    # the file is what is converted: the reference is the file, loaded back by the Keras that wrote it (a live
    # model may differ from its own file: Normalization keeps the statistics it had when it was built)
    try:
        loaded = _load(path, K)
    except Exception:  # the Keras that wrote it cannot load it back: the live model it is
        return path, live, float("nan")
    reference = np.asarray(loaded(inputs, training=False))
    del loaded
    scale = float(np.max(np.abs(reference))) or 1.0
    return path, reference, float(np.max(np.abs(live.astype(np.float64) - reference))) / scale


def run_case(arch: str, source: str, folder: Path) -> dict[str, Any]:
    """One architecture from one source: convert natively, run in onnxruntime, compare."""
    import numpy as np
    import onnxruntime
    import zoo

    size = zoo.INPUT_SIZE.get(arch, 32)
    inputs = np.random.default_rng(zoo.SEED).uniform(0, 255, (zoo.SAMPLES, size, size, 3)).astype("float32")
    case: dict[str, Any] = {"arch": arch, "source": source}
    try:
        src, reference, case["live_model_difference"] = _save(arch, source, folder, inputs)
    except Exception as error:  # the zoo cannot build it in this Keras: not a convkit case
        return {**case, "status": "n/a", "detail": f"{type(error).__name__}: {str(error)[:200]}"}
    case["weights_mib"] = round(src.stat().st_size / 2**20, 1)
    out = folder / f"{source.replace('.', '_')}.onnx"
    # as users run it: a fresh process (this one holds Keras and TensorFlow), verification on
    command = [str(Path(sys.executable).parent / "convkit"), "convert", str(src), "--to", "onnx", "--onnx-route",
               "native", "-o", str(out), "--overwrite", "--json"]
    for attempt in range(1, ATTEMPTS + 1):
        case["attempts"] = attempt
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        case["seconds"] = round(time.perf_counter() - started, 2)
        # convkit's reading of a large archive has a deadline scaled by the machine's load; past it the
        # error says so, and that is no verdict on the ONNX writer: try again
        if done.returncode == 0 or "timed out" not in done.stderr:
            break
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.startswith("Error: ")] or done.stderr.splitlines()
        detail = " ".join((lines[-1] if lines else "").split())[:400]
        return {**case, "status": "timeout" if "timed out" in detail else f"exit {done.returncode}", "detail": detail}
    case["kind"] = json.loads(done.stdout)["kind"]
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    session.run(None, {name: inputs})
    started = time.perf_counter()
    (got,) = session.run(None, {name: inputs})
    case["onnxruntime_ms"] = round((time.perf_counter() - started) * 1000, 1)
    scale = float(np.max(np.abs(reference))) or 1.0
    error_value = float(np.max(np.abs(got.astype(np.float64) - reference))) / scale if got.shape == reference.shape \
        else float("inf")
    case["relative_error"] = error_value
    case["status"] = "ok" if error_value <= RELATIVE_TOLERANCE else "DIFF"
    if case["status"] == "DIFF":  # how far float32 itself is from the truth here: Keras in float64
        exact = _float64_prediction(src, source, inputs)
        exact_scale = float(np.max(np.abs(exact))) or 1.0
        case["keras_float32_error"] = float(np.max(np.abs(reference - exact))) / exact_scale
        case["onnx_float64_error"] = float(np.max(np.abs(got.astype(np.float64) - exact))) / exact_scale
    return case


def _float64_prediction(path: Path, source: str, inputs: Any) -> Any:
    """The file's model rebuilt with every layer computing in float64, on ``inputs``."""
    import json as json_module

    import numpy as np

    if source.startswith("k3."):
        import keras as K
    else:
        import tf_keras as K  # type: ignore[no-redef]
    model = _load(path, K)
    if K.__name__ == "keras":
        from keras.saving import deserialize_keras_object, serialize_keras_object

        text = json_module.dumps(serialize_keras_object(model)).replace('"name": "float32"', '"name": "float64"')
        wide = deserialize_keras_object(json_module.loads(text))
    else:
        from convkit.policy.shipped import keras_shipped_layers

        wide = K.models.model_from_json(model.to_json().replace('"dtype": "float32"', '"dtype": "float64"'),
                                        custom_objects=keras_shipped_layers(2))
    wide.set_weights([np.asarray(w, dtype="float64") for w in model.get_weights()])
    return np.asarray(wide(inputs.astype("float64"), training=False), dtype="float64")


def worker(arch: str, sources: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="convkit-onnx-zoo-") as scratch:
        for source in sources:
            folder = Path(scratch) / source
            folder.mkdir()
            print(json.dumps(run_case(arch, source, folder)), flush=True)


def run(archs: list[str], sources: list[str], log: Any) -> list[dict[str, Any]]:
    cases = []
    for arch in archs:
        command = [sys.executable, __file__, "--worker", arch, "--sources", ",".join(sources)]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=WORKER_TIMEOUT)
            lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
            found = [json.loads(line) for line in lines]
            if done.returncode != 0 and len(found) < len(sources):
                tail = done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"]
                found += [{"arch": arch, "source": s, "status": "crash", "detail": tail[0][:300]}
                          for s in sources[len(found):]]
        except subprocess.TimeoutExpired:
            found = [{"arch": arch, "source": s, "status": "timeout", "detail": f"over {WORKER_TIMEOUT} s"}
                     for s in sources]
        for case in found:
            cases.append(case)
            print(f"{case['arch']:18} {case['source']:9} {case['status']:7} "
                  f"{case.get('relative_error', ''):<10.3g} " if isinstance(case.get("relative_error"), float)
                  else f"{case['arch']:18} {case['source']:9} {case['status']:7} {'':10} ", end="", file=log)
            print(f"{case.get('seconds', '')!s:>7} {case.get('detail', '')[:160]}", file=log, flush=True)
    return cases


def render(cases: list[dict[str, Any]], sources: list[str]) -> str:
    archs = list(dict.fromkeys(case["arch"] for case in cases))
    by = {(case["arch"], case["source"]): case for case in cases}
    header = ["architecture", *[f"{s}: result" for s in sources], *[f"{s}: rel. error" for s in sources],
              *[f"{s}: convert s" for s in sources]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for arch in archs:
        row = [arch]
        row += [by.get((arch, s), {}).get("status", "-") for s in sources]
        row += [f"{by[(arch, s)]['relative_error']:.1e}" if "relative_error" in by.get((arch, s), {}) else ""
                for s in sources]
        row += [str(by.get((arch, s), {}).get("seconds", "")) for s in sources]
        lines.append("| " + " | ".join(row) + " |")
    counted = [case for case in cases if case["status"] not in ("n/a", "timeout")]
    matched = sum(case["status"] == "ok" for case in counted)
    covered = sum(case["status"] in ("ok", "DIFF") for case in counted)
    lines += ["", f"native route: {covered}/{len(counted)} cases covered, {matched}/{len(counted)} match Keras within "
                  f"{RELATIVE_TOLERANCE:g} of the output's scale and run in onnxruntime"]
    stopped = [case for case in counted if case["status"] not in ("ok", "DIFF")]
    if stopped:
        lines += ["", "Not covered (the layer that stops each):", ""]
        lines += [f"- {case['arch']} ({case['source']}): {case['status']}: {case.get('detail', '')}" for case in stopped]
    timed_out = [case for case in cases if case["status"] == "timeout"]
    if timed_out:
        lines += ["", "Not measured (convkit's reading of the source ran past its load-scaled deadline, "
                      f"{ATTEMPTS} tries):", ""]
        lines += [f"- {case['arch']} ({case['source']})" for case in timed_out]
    mismatched = [case for case in counted if case["status"] == "DIFF"]
    if mismatched:
        lines += ["", "Covered but not within the tolerance of Keras' float32 result; beside it, how far Keras' own "
                      "float32 result and the ONNX output are from the same file computed in float64:", ""]
        lines += [f"- {case['arch']} ({case['source']}): relative error {case['relative_error']:.2g}; from float64: "
                  f"Keras {case.get('keras_float32_error', float('nan')):.2g}, "
                  f"ONNX {case.get('onnx_float64_error', float('nan')):.2g}" for case in mismatched]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", action="append", default=[], help="architecture (repeatable or comma-separated)")
    parser.add_argument("--sources", default=",".join(SOURCES), help=f"comma-separated subset of {','.join(SOURCES)}")
    parser.add_argument("--json", type=Path, help="write every case as JSON here")
    parser.add_argument("--markdown", type=Path, help="write the table here too")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sources = [s for s in args.sources.split(",") if s]
    if args.worker:
        worker(args.worker, sources)
        return 0
    import zoo

    archs = [name for item in args.arch for name in item.split(",") if name] or zoo.architectures()
    cases = run(archs, sources, sys.stderr)
    table = render(cases, sources)
    print(table)
    if args.json:
        args.json.write_text(json.dumps(cases, indent=1))
    if args.markdown:
        args.markdown.write_text(table + "\n")
    return 0 if all(case["status"] in ("ok", "n/a") for case in cases) else 1


if __name__ == "__main__":
    sys.exit(main())
