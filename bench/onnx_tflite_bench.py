"""Keras models -> ONNX and -> TFLite: convkit against ``python -m tf2onnx.convert`` and a plain TFLiteConverter script.

ONNX, four models saved by tf_keras as ``.h5``: the tutorial's model (784 ->
512 -> 10), a Dense stack of about 70 MiB (784 -> 2048 x 5 -> 10), and
``keras.applications`` MobileNetV2 and ResNet50 (``weights=None``, 224 x 224).
Three ways to ONNX opset 17, each a fresh process, median of ``--runs``:

- ``convkit convert M.h5 --to onnx``: the native writer (no TensorFlow), the
  output loaded and run once in onnxruntime before it appears;
- ``convkit convert M.h5 --to onnx --onnx-route tf2onnx``: tf2onnx inside
  convkit, run once in onnxruntime too;
- ``python -m tf2onnx.convert --saved-model SM --opset 17``: tf2onnx as users
  run it, on a SavedModel of the same model (its ``--keras`` route cannot load
  an ``.h5`` under Keras 3); no verification.

Wall time and peak RSS of each, the ratios to the native route, the native
route's peak against the model's bytes + 300 MiB, and onnxruntime's inference
time of the native output against tf2onnx's (both sessions in one process,
runs interleaved, median, batch 1 and 16; the largest difference between
their outputs beside it).

TFLite, the tutorial's model and the Dense stack as tf_keras SavedModels:
``convkit convert SM --to tflite`` (run once in LiteRT) against
``tf.lite.TFLiteConverter.from_saved_model(SM).convert()``.

Each convkit route also runs with ``--no-verify`` (written, not run), so the price of verification
is its own row, and the native route with ``--external-data`` (the weights in a data file beside the
model, which onnxruntime maps instead of reading; on the models past 8 MiB). A smoke run alone, in a
fresh process on each native output, splits its peak into memory the process allocated (``RssAnon``)
and pages of the model file mapped (``RssFile``: shared with the page cache, given back under pressure); convkit's rows carry the stages its ``--profile`` reports for the median run (each
stage's seconds, CPU seconds, the process's peak and how much the stage raised it) and each process's
peak apart. Targets on the Dense stack: verification adds at most 10% to a route's time and nothing
to its peak; the TFLite route at least as fast as the TFLiteConverter script.

Usage: python bench/onnx_tflite_bench.py [--runs 3] [--models tutorial,ResNet50] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import TreeMeasurement, measure_tree, stage_lines  # noqa: E402

BIN = Path(sys.executable).parent
QUIET = {"TF_CPP_MIN_LOG_LEVEL": "3", "TFDF_DISABLE_WELCOME_MESSAGE": "1"}
ONNX_MODELS = ("tutorial", "dense-70MiB", "MobileNetV2", "ResNet50")
TFLITE_MODELS = ("tutorial", "dense-70MiB")
BUDGET_MIB = 300
TFLITE_SCRIPT = (
    "import sys, tensorflow as tf; "
    "open(sys.argv[2], 'wb').write(tf.lite.TFLiteConverter.from_saved_model(sys.argv[1]).convert())"
)
# Both outputs in one process, runs interleaved so that load on the machine falls on both alike.
SMOKE_SCRIPT = r"""
import json, sys
from pathlib import Path
from convkit.data.samples import smoke_inputs
from convkit.runtimes.onnxruntime import OnnxRunner
def status():
    return {k: int(v.split()[0]) / 1024 for k, v in (l.split(":", 1) for l in open("/proc/self/status"))
            if k.startswith(("Vm", "Rss"))}
before = status()
runner = OnnxRunner(Path(sys.argv[1]), once=True)  # the smoke run's runner, read while it still holds the model
runner.load()
runner.infer(smoke_inputs(runner.inputs).arrays)
after = status()
print(json.dumps({"peak_mib": after["VmHWM"], "before_mib": before["VmRSS"], "anon_mib": after["RssAnon"],
                  "file_mib": after["RssFile"], "anon_added_mib": after["RssAnon"] - before["RssAnon"],
                  "file_added_mib": after["RssFile"] - before["RssFile"]}))
"""

INFERENCE_SCRIPT = r"""
import json, sys, time
import numpy as np, onnxruntime as ort
paths, batches, rounds = sys.argv[1:3], [int(b) for b in sys.argv[3].split(",")], int(sys.argv[4])
sessions = [ort.InferenceSession(p, providers=["CPUExecutionProvider"]) for p in paths]
result = {}
for batch in batches:
    feeds = []
    rng = np.random.default_rng(0)
    spec = sessions[0].get_inputs()[0]
    shape = [batch, *[d if isinstance(d, int) else 1 for d in spec.shape[1:]]]
    x = rng.uniform(0, 1, shape).astype("float32")
    outs = [s.run(None, {s.get_inputs()[0].name: x})[0] for s in sessions]  # warm-up
    scale = float(np.max(np.abs(outs[1]))) or 1.0
    times = [[], []]
    for _ in range(rounds):
        for index, s in enumerate(sessions):
            name = s.get_inputs()[0].name
            started = time.perf_counter()
            s.run(None, {name: x})
            times[index].append(time.perf_counter() - started)
    result[batch] = {"ms": [round(1000 * float(np.median(t)), 3) for t in times],
                     "max_relative_difference": float(np.max(np.abs(outs[0] - outs[1]))) / scale}
print(json.dumps(result))
"""


def _save_tutorial(path: Path) -> None:
    from convkit.train.model import create_model

    create_model(2).save(path)


def _save_dense(path: Path) -> None:
    from convert_bench import write_dense_h5

    write_dense_h5(path, [784] + [2048] * 5 + [10])


def _save_application(name: str) -> Callable[[Path], None]:
    def save(path: Path) -> None:
        import tf_keras

        getattr(tf_keras.applications, name)(weights=None).save(path)

    return save


BUILDERS: dict[str, Callable[[Path], None]] = {
    "tutorial": _save_tutorial, "dense-70MiB": _save_dense,
    "MobileNetV2": _save_application("MobileNetV2"), "ResNet50": _save_application("ResNet50"),
}


def _convkit(*args: str) -> list[str]:
    return [str(BIN / "convkit"), *args]


def _saved_model(h5: Path) -> Path:
    out = h5.with_name(h5.stem + "_savedmodel")
    if not out.exists():
        subprocess.run(_convkit("convert", str(h5), "--to", "savedmodel", "-o", str(out)), check=True,
                       capture_output=True, env={**os.environ, **QUIET})
    return out


def _mib(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return round(sum(p.stat().st_size for p in files) / 2**20, 1)


def onnx_rows(label: str, h5: Path, scratch: Path, runs: int, rounds: int) -> dict[str, Any]:
    saved_model = _saved_model(h5)
    outs = {tool: scratch / f"{label}_{tool}.onnx" for tool in ("native", "native-unverified", "convkit-tf2onnx",
                                                                "tf2onnx")}

    def clear(tool: str) -> Callable[[], None]:
        return lambda: outs[tool].unlink(missing_ok=True)

    def clear_external(tool: str) -> Callable[[], None]:
        def remove() -> None:
            outs[tool].unlink(missing_ok=True)
            outs[tool].with_name(outs[tool].name + ".data").unlink(missing_ok=True)
        return remove

    tools: dict[str, TreeMeasurement] = {
        "native": measure_tree("convkit convert --to onnx (native)",
                               _convkit("convert", str(h5), "--to", "onnx", "-o", str(outs["native"])), runs,
                               clear("native"), QUIET, profile=True),
        "native-unverified": measure_tree("convkit convert --to onnx (native) --no-verify",
                                          _convkit("convert", str(h5), "--to", "onnx", "-o",
                                                   str(outs["native-unverified"]), "--no-verify"), runs,
                                          clear("native-unverified"), QUIET, profile=True),
        "convkit-tf2onnx": measure_tree("convkit convert --onnx-route tf2onnx",
                                        _convkit("convert", str(h5), "--to", "onnx", "--onnx-route", "tf2onnx", "-o",
                                                 str(outs["convkit-tf2onnx"])), runs, clear("convkit-tf2onnx"), QUIET),
        "tf2onnx": measure_tree("python -m tf2onnx.convert", [sys.executable, "-m", "tf2onnx.convert",
                                                              "--saved-model", str(saved_model), "--output",
                                                              str(outs["tf2onnx"]), "--opset", "17"], runs,
                                clear("tf2onnx"), QUIET),
    }
    if _mib(h5) > 8:
        for tool, extra in (("native-external", ()), ("native-external-unverified", ("--no-verify",))):
            outs[tool] = scratch / f"{label}_{tool}.onnx"
            tools[tool] = measure_tree(f"convkit convert --to onnx (native) --external-data {' '.join(extra)}".strip(),
                                       _convkit("convert", str(h5), "--to", "onnx", "--external-data", "-o",
                                                str(outs[tool]), *extra), runs, clear_external(tool), QUIET,
                                       profile=True)
    smoke = {tool: json.loads(subprocess.run([sys.executable, "-c", SMOKE_SCRIPT, str(outs[tool])],
                                             capture_output=True, text=True, check=True,
                                             env={**os.environ, **QUIET}).stdout)
             for tool in ("native", "native-external") if tool in outs}
    # the outputs of the last runs stay for inference timing
    done = subprocess.run([sys.executable, "-c", INFERENCE_SCRIPT, str(outs["native"]), str(outs["tf2onnx"]), "1,16",
                           str(rounds)], capture_output=True, text=True, check=True, env={**os.environ, **QUIET})
    inference = json.loads(done.stdout)
    model_mib = _mib(h5)
    native = tools["native"]
    for tool in outs:
        clear_external(tool)()
    return {
        "model": label, "target": "onnx", "model_mib": model_mib,
        "tools": {name: m.to_dict() for name, m in tools.items()},
        "time_ratio_tf2onnx": round(tools["tf2onnx"].seconds / native.seconds, 2),
        "time_ratio_convkit_tf2onnx": round(tools["convkit-tf2onnx"].seconds / native.seconds, 2),
        "memory_ratio_tf2onnx": round(tools["tf2onnx"].peak_mib / native.peak_mib, 2),
        "native_peak_over_model_mib": round(native.peak_mib - model_mib, 1),
        "verification": _verification(native, tools["native-unverified"]),
        **({"verification_external": _verification(tools["native-external"], tools["native-external-unverified"])}
           if "native-external" in tools else {}),
        "smoke_alone": smoke,
        "inference": inference,
    }


def tflite_rows(label: str, h5: Path, scratch: Path, runs: int) -> dict[str, Any]:
    saved_model = _saved_model(h5)
    ours_out, theirs_out = scratch / f"{label}_convkit.tflite", scratch / f"{label}_usual.tflite"
    unverified_out = scratch / f"{label}_unverified.tflite"

    def clear() -> None:
        for out in (ours_out, unverified_out, theirs_out):
            out.unlink(missing_ok=True)

    ours = measure_tree("convkit convert --to tflite", _convkit("convert", str(saved_model), "--to", "tflite", "-o",
                                                                str(ours_out)), runs, clear, QUIET, profile=True)
    unverified = measure_tree("convkit convert --to tflite --no-verify",
                              _convkit("convert", str(saved_model), "--to", "tflite", "-o", str(unverified_out),
                                       "--no-verify"), runs, clear, QUIET, profile=True)
    theirs = measure_tree("TFLiteConverter script", [sys.executable, "-c", TFLITE_SCRIPT, str(saved_model),
                                                     str(theirs_out)], runs, clear, QUIET)
    clear()
    return {"model": label, "target": "tflite", "model_mib": _mib(saved_model),
            "tools": {"convkit": ours.to_dict(), "convkit-unverified": unverified.to_dict(),
                      "TFLiteConverter": theirs.to_dict()},
            "time_ratio": round(theirs.seconds / ours.seconds, 2),
            "verification": _verification(ours, unverified),
            "memory_ratio": round(theirs.peak_mib / ours.peak_mib, 2)}


def _verification(verified: TreeMeasurement, unverified: TreeMeasurement) -> dict[str, float]:
    """What verification adds to a route: the verified run's own verify stage (seconds, share of the rest of
    that run: free of the load that falls on two runs differently), and the verified run against the
    --no-verify run (seconds, share, peak MiB)."""
    stage = sum(float(item["seconds"]) for item in verified.stages  # type: ignore[arg-type]
                if str(item["stage"]).split(": ")[-1] == "verify")
    return {"verify_stage_seconds": round(stage, 2),
            "verify_stage_share": round(stage / (verified.seconds - stage), 3),
            "added_seconds": round(verified.seconds - unverified.seconds, 2),
            "added_share": round(verified.seconds / unverified.seconds - 1, 3),
            "added_peak_mib": round(verified.peak_mib - unverified.peak_mib, 1)}


def targets(rows: list[dict[str, Any]]) -> list[tuple[str, bool]]:
    """The Dense stack's targets, each as (sentence with the figures, met)."""
    results = []
    for row in rows:
        if row["model"] != "dense-70MiB":
            continue
        for key, route in (("verification", "ONNX (native)" if row["target"] == "onnx" else "TFLite"),
                           ("verification_external", "ONNX (native, --external-data)")):
            if key in row:
                results.extend(_verification_targets(route, row[key]))
        if row["target"] == "tflite":
            ours, theirs = row["tools"]["convkit"], row["tools"]["TFLiteConverter"]
            results.append((f"TFLite: convkit {ours['seconds']:.2f} s vs TFLiteConverter script {theirs['seconds']:.2f} s "
                            f"(x{row['time_ratio']}, target >= 1)", ours["seconds"] <= theirs["seconds"]))
    return results


def _verification_targets(route: str, added: dict[str, float]) -> list[tuple[str, bool]]:
    return [
        (f"{route}: the verify stage takes {added['verify_stage_seconds']:.2f} s = "
         f"{100 * added['verify_stage_share']:+.0f}% of the rest of the run (target <= +10%; verified run "
         f"minus --no-verify run: {added['added_seconds']:+.2f} s = {100 * added['added_share']:+.0f}%, "
         "each under its own load)", added["verify_stage_share"] <= 0.10),
        (f"{route}: verification adds {added['added_peak_mib']:+.0f} MiB to the peak (target: nothing, "
         "within 5 MiB of the kernel's page accounting)", added["added_peak_mib"] <= 5),
    ]


def _stage_tables(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["", "Stages of convkit's runs (`--profile`: seconds, CPU seconds, the process's peak, what the stage "
                 "raised it by)", "", "```"]
    for row in rows:
        for tool in row["tools"].values():
            if tool.get("stages"):
                peaks = ", ".join(f"{name} {peak:.0f}" for name, peak in sorted(tool["process_peaks"].items()))
                lines.append(f"{row['model']} {tool['label']}: {tool['seconds']:.2f} s, peak MiB {peaks}")
                lines.extend(stage_lines(tool["stages"]))
    return lines + ["```"]


def render(rows: list[dict[str, Any]], load: str) -> str:
    lines = [f"machine load before the run: {load}", "",
             "ONNX (opset 17); time and peak RSS: median of the runs, each a fresh process", "",
             "| model | MiB | tool | median s | CPU s | peak MiB |", "|---|---|---|---|---|---|"]
    for row in rows:
        if row["target"] != "onnx":
            continue
        for tool in row["tools"].values():
            lines.append(f"| {row['model']} | {row['model_mib']} | {tool['label']} | {tool['seconds']:.2f} | "
                         f"{tool['cpu_seconds']:.2f} | {tool['peak_mib']:.0f} |")
    lines += ["", "| model | tf2onnx / native time | convkit tf2onnx route / native time | tf2onnx / native peak | "
                  "native peak - model MiB (budget 300) | inference ms native / tf2onnx (batch 1) | "
                  "(batch 16) | max rel. difference |", "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        if row["target"] != "onnx":
            continue
        one, sixteen = row["inference"]["1"], row["inference"]["16"]
        ratio1, ratio16 = (one["ms"][0] / one["ms"][1], sixteen["ms"][0] / sixteen["ms"][1])
        lines.append(f"| {row['model']} | x{row['time_ratio_tf2onnx']} | x{row['time_ratio_convkit_tf2onnx']} | "
                     f"x{row['memory_ratio_tf2onnx']} | {row['native_peak_over_model_mib']} | "
                     f"{one['ms'][0]:.3f} / {one['ms'][1]:.3f} = {ratio1:.2f} | "
                     f"{sixteen['ms'][0]:.2f} / {sixteen['ms'][1]:.2f} = {ratio16:.2f} | "
                     f"{max(one['max_relative_difference'], sixteen['max_relative_difference']):.1e} |")
    tflite = [row for row in rows if row["target"] == "tflite"]
    if tflite:
        lines += ["", "TFLite (from the tf_keras SavedModel)", "",
                  "| model | MiB | tool | median s | peak MiB |", "|---|---|---|---|---|"]
        for row in tflite:
            for tool in row["tools"].values():
                lines.append(f"| {row['model']} | {row['model_mib']} | {tool['label']} | {tool['seconds']:.2f} | "
                             f"{tool['peak_mib']:.0f} |")
            lines.append(f"| {row['model']} | | ratio TFLiteConverter / convkit | time x{row['time_ratio']} | "
                         f"memory x{row['memory_ratio']} |")
    lines += ["", "What verification adds: the verify stage of the verified run, and the verified run against the "
                  "--no-verify run", "",
              "| model | target | verify stage s | share of the rest | verified - unverified s | share | peak MiB |",
              "|---|---|---|---|---|---|---|"]
    for row in rows:
        for key, target in (("verification", row["target"]), ("verification_external", "onnx --external-data")):
            if key not in row:
                continue
            added = row[key]
            lines.append(f"| {row['model']} | {target} | {added['verify_stage_seconds']:.2f} | "
                         f"{100 * added['verify_stage_share']:+.0f}% | {added['added_seconds']:+.2f} | "
                         f"{100 * added['added_share']:+.0f}% | {added['added_peak_mib']:+.0f} |")
    smoke = [row for row in rows if row.get("smoke_alone")]
    if smoke:
        lines += ["", "A smoke run alone (a fresh process: convkit's smoke-run runner, the native output loaded in "
                      "onnxruntime and run once, read before it lets the model go): its peak, and what the load and "
                      "run added in memory the process allocated (anonymous) and in pages of files mapped (the model "
                      "file's, shared with the page cache that holds the file just written)", "",
                      "| model | output | RSS before MiB | peak MiB | anonymous added MiB | file pages added MiB |",
                      "|---|---|---|---|---|---|"]
        for row in smoke:
            for tool, alone in row["smoke_alone"].items():
                output = "weights inline" if tool == "native" else "--external-data"
                lines.append(f"| {row['model']} | {output} | {alone['before_mib']:.0f} | {alone['peak_mib']:.0f} | "
                             f"{alone['anon_added_mib']:+.0f} | {alone['file_added_mib']:+.0f} |")
    lines += _stage_tables(rows)
    met = targets(rows)
    if met:
        lines += [""] + [f"- {'meets' if ok else 'MISSES'}: {what}" for what, ok in met]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per tool (median reported); default 3")
    parser.add_argument("--rounds", type=int, default=30, help="inference runs per output; default 30")
    parser.add_argument("--models", default=",".join(ONNX_MODELS), help="comma-separated subset")
    parser.add_argument("--no-tflite", action="store_true", help="ONNX only")
    parser.add_argument("--no-onnx", action="store_true", help="TFLite only")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    options = parser.parse_args(argv)
    models = [m for m in options.models.split(",") if m]
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else "?"
    rows = []
    with tempfile.TemporaryDirectory(prefix="convkit-bench-") as folder:
        scratch = Path(folder)
        for label in models:
            h5 = scratch / f"{label}.h5"
            subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
                            f"from onnx_tflite_bench import BUILDERS; from pathlib import Path; "
                            f"BUILDERS[{label!r}](Path({str(h5)!r}))"], check=True, capture_output=True,
                           env={**os.environ, **QUIET})
            if not options.no_onnx:
                rows.append(onnx_rows(label, h5, scratch, options.runs, options.rounds))
                print(f"{label}: onnx done", file=sys.stderr, flush=True)
            if label in TFLITE_MODELS and not options.no_tflite:
                rows.append(tflite_rows(label, h5, scratch, options.runs))
                print(f"{label}: tflite done", file=sys.stderr, flush=True)
    if options.json:
        print(json.dumps({"load_before": load, "rows": rows,
                          "targets": [{"what": what, "met": ok} for what, ok in targets(rows)]}, indent=2))
    else:
        print(render(rows, load))
    return 0


if __name__ == "__main__":
    sys.exit(main())
