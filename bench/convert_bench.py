"""Keras .h5 -> TF.js layers, verified: convkit against tensorflowjs_converter, each process apart.

Two sources: the tutorial's reference model (784 -> 512 -> 10, as a tf_keras ``.h5``) and a generated
~1 GB ``.h5`` (a stack of 4096x4096 Dense layers, written with h5py in a temporary folder and deleted
afterwards). Each command runs as a fresh process tree, ``--runs`` times; printed are the median wall
and CPU seconds, the peak RSS of every process of the tree (convkit's Python process, the Node.js
process that runs the output in TF.js, the child that reads HDF5 structures), and the stages convkit's
``--profile`` reports for the median run (each stage's seconds, CPU seconds, the process's peak and how
much the stage raised it).

Rows, per source:
- ``convkit convert SRC --to tfjs``: written, then loaded and run once in TF.js under Node (verified);
- ``convkit convert SRC --to tfjs --no-verify``;
- ``tensorflowjs_converter --input_format keras SRC OUT`` (does not verify);
- ``convkit check SRC OUT``: the source in tf_keras, the copy in TF.js under Node, compared.

Targets on the 1 GB model: verified >= 3x faster than tensorflowjs_converter with every process's peak
<= 1.3x the model's bytes; --no-verify <= 300 MiB and >= 8x faster; check with every process <= 1.3x the
model's bytes above its idle size, the idle size being that process's peak in the same check of the
reference model. On the reference model: verified <= 1 s.

Usage: python bench/convert_bench.py [--runs 3] [--size-mib 1024] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import TreeMeasurement, measure_tree, stage_lines  # noqa: E402

BIN = Path(sys.executable).parent
QUIET = {"TF_CPP_MIN_LOG_LEVEL": "3", "TFDF_DISABLE_WELCOME_MESSAGE": "1"}
MIB = 2**20


def _dense_stack_config(widths: list[int], name: str) -> dict:
    layers = [{"class_name": "InputLayer",
               "config": {"batch_input_shape": [None, widths[0]], "dtype": "float32", "name": "input"}}]
    for index, units in enumerate(widths[1:]):
        layers.append({"class_name": "Dense", "config": {
            "name": f"dense_{index}", "trainable": True, "dtype": "float32", "units": units,
            "activation": "relu" if index < len(widths) - 2 else "linear", "use_bias": True,
            "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
            "bias_initializer": {"class_name": "Zeros", "config": {}},
            "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
            "kernel_constraint": None, "bias_constraint": None}})
    return {"class_name": "Sequential", "config": {"name": name, "layers": layers}}


def write_dense_h5(path: Path, widths: list[int], seed: int = 0) -> None:
    """A Keras 2 style whole-model .h5 of Dense layers with random weights (the layout tf_keras writes)."""
    import h5py

    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as h5:
        h5.attrs["keras_version"] = "2.19.0"
        h5.attrs["backend"] = "tensorflow"
        h5.attrs["model_config"] = json.dumps(_dense_stack_config(widths, "dense_stack"))
        group = h5.create_group("model_weights")
        names = [f"dense_{index}" for index in range(len(widths) - 1)]
        group.attrs["layer_names"] = np.array([name.encode() for name in names])
        group.attrs["keras_version"] = "2.19.0"
        group.attrs["backend"] = "tensorflow"
        for name, (fan_in, fan_out) in zip(names, zip(widths[:-1], widths[1:])):
            layer = group.create_group(name)
            layer.attrs["weight_names"] = np.array([f"{name}/kernel:0".encode(), f"{name}/bias:0".encode()])
            kernel = rng.standard_normal((fan_in, fan_out), dtype=np.float32)
            kernel *= np.float32(1.0 / np.sqrt(fan_in))
            layer.create_dataset(f"{name}/kernel:0", data=kernel)
            layer.create_dataset(f"{name}/bias:0", data=np.zeros(fan_out, np.float32))
            del kernel


def compare(label: str, src: Path, scratch: Path, runs: int) -> dict:
    out_convkit = scratch / f"{label}_convkit"
    out_unverified = scratch / f"{label}_unverified"
    out_tfjs = scratch / f"{label}_tfjs"

    def clear() -> None:
        for folder in (out_convkit, out_unverified, out_tfjs):
            shutil.rmtree(folder, ignore_errors=True)

    convkit = str(BIN / "convkit")
    rows: dict[str, TreeMeasurement] = {}
    print(f"{label}: convkit convert (verified) ...", file=sys.stderr, flush=True)
    rows["verified"] = measure_tree("convkit convert --to tfjs", [convkit, "convert", str(src), "--to", "tfjs", "-o",
                                    str(out_convkit)], runs, clear, QUIET, profile=True)
    print(f"{label}: convkit convert --no-verify ...", file=sys.stderr, flush=True)
    rows["unverified"] = measure_tree("convkit convert --to tfjs --no-verify",
                                      [convkit, "convert", str(src), "--to", "tfjs", "-o", str(out_unverified),
                                       "--no-verify"], runs, clear, QUIET, profile=True)
    print(f"{label}: tensorflowjs_converter ...", file=sys.stderr, flush=True)
    rows["tensorflowjs_converter"] = measure_tree("tensorflowjs_converter", [
        str(BIN / "tensorflowjs_converter"), "--input_format", "keras", str(src), str(out_tfjs)], runs, clear, QUIET)
    # The copy checked is convkit's own, written once more (not timed).
    clear()
    _run([convkit, "convert", str(src), "--to", "tfjs", "-o", str(out_convkit), "--no-verify"])
    print(f"{label}: convkit check ...", file=sys.stderr, flush=True)
    rows["check"] = measure_tree("convkit check SRC TFJS", [convkit, "check", str(src), str(out_convkit)], runs,
                                 None, QUIET, profile=True)
    clear()
    return {"source": label, "source_bytes": src.stat().st_size, **{key: row.to_dict() for key, row in rows.items()}}


def _run(argv: list[str]) -> None:
    import subprocess

    subprocess.run(argv, check=True, capture_output=True, env={**os.environ, **QUIET})


def verdicts(reference: dict, large: dict) -> list[tuple[str, bool]]:
    """The targets, each as (sentence with the figures, met)."""
    size = large["source_bytes"] / MIB
    bound = 1.3 * size
    verified, unverified = large["verified"], large["unverified"]
    anchor = large["tensorflowjs_converter"]
    results = []
    speedup = anchor["seconds"] / verified["seconds"]
    worst = max(verified["process_peaks"].values())
    results.append((f"1 GB verified: {speedup:.1f}x faster than tensorflowjs_converter (target >= 3x)", speedup >= 3))
    results.append((f"1 GB verified: largest process peak {worst:.0f} MiB = {worst / size:.2f}x the model's "
                    f"{size:.0f} MiB (target <= 1.3x, {bound:.0f} MiB)", worst <= bound))
    speedup = anchor["seconds"] / unverified["seconds"]
    peak = max(unverified["process_peaks"].values())
    results.append((f"1 GB --no-verify: {speedup:.1f}x faster (target >= 8x), peak {peak:.0f} MiB (target <= 300)",
                    speedup >= 8 and peak <= 300))
    for name, peak in sorted(large["check"]["process_peaks"].items()):
        idle = reference["check"]["process_peaks"].get(name, 0.0)
        above = peak - idle
        results.append((f"check 1 GB: {name} peak {peak:.0f} MiB, {above:.0f} MiB above its idle {idle:.0f} MiB = "
                        f"{above / size:.2f}x the model (target <= 1.3x)", above <= bound))
    seconds = reference["verified"]["seconds"]
    results.append((f"reference model verified: {seconds:.2f} s (target <= 1 s)", seconds <= 1.0))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per command (median reported); default 3")
    parser.add_argument("--size-mib", type=int, default=1024, help="size of the generated model; default 1024")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    options = parser.parse_args(argv)

    rows = []
    with tempfile.TemporaryDirectory(prefix="convkit-bench-") as folder:
        scratch = Path(folder)
        reference = scratch / "my_model.h5"
        write_dense_h5(reference, [784, 512, 10])
        rows.append(compare("reference", reference, scratch, options.runs))
        reference.unlink()
        layers = max(1, round(options.size_mib * MIB / (4096 * 4096 * 4)))
        large = scratch / "large.h5"
        write_dense_h5(large, [4096] * (layers + 1))
        rows.append(compare("large", large, scratch, options.runs))
        large.unlink()
    results = verdicts(rows[0], rows[1])
    if options.json:
        print(json.dumps({"rows": rows, "targets": [{"what": what, "met": met} for what, met in results]}, indent=2))
    else:
        for row in rows:
            print(f"== {row['source']}: {row['source_bytes'] / MIB:.0f} MiB")
            for key in ("verified", "unverified", "tensorflowjs_converter", "check"):
                m = row[key]
                peaks = ", ".join(f"{name} {peak:.0f}" for name, peak in sorted(m["process_peaks"].items()))
                print(f"  {m['label']:<40} {m['seconds']:>7.2f} s  {m['cpu_seconds']:>7.2f} cpu s  "
                      f"peak MiB: {peaks}")
                print("\n".join(stage_lines(m["stages"])))
            anchor = row["tensorflowjs_converter"]
            for key in ("verified", "unverified"):
                m = row[key]
                print(f"  ratio tensorflowjs_converter / {m['label']}: time x{anchor['seconds'] / m['seconds']:.2f}, "
                      f"memory x{max(anchor['process_peaks'].values()) / max(m['process_peaks'].values()):.2f}")
        for what, met in results:
            print(f"{'meets' if met else 'MISSES'}: {what}")
    return 0 if all(met for _what, met in results) else 1


if __name__ == "__main__":
    sys.exit(main())
