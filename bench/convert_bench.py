"""Keras .h5 -> TF.js layers: convkit against tensorflowjs_converter.

Two sources: the tutorial's reference model (784 -> 512 -> 10, as a tf_keras
``.h5``) and a generated ~1 GB ``.h5`` (a stack of 4096x4096 Dense layers,
written with h5py in a temporary folder and deleted afterwards). Each tool
runs as a fresh process; the median wall time and peak RSS of several runs
are printed with the ratio tensorflowjs_converter / convkit.

Targets: <= 1 s for the reference model; <= 3 s and <= 300 MiB for 1 GB.

Usage: python bench/convert_bench.py [--runs 3] [--size-mib 1024] [--json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import measure  # noqa: E402

BIN = Path(sys.executable).parent
TARGETS = {"reference": (1.0, None), "large": (3.0, 300.0)}


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
    out_tfjs = scratch / f"{label}_tfjs"

    def clear() -> None:
        shutil.rmtree(out_convkit, ignore_errors=True)
        shutil.rmtree(out_tfjs, ignore_errors=True)

    quiet = {"TF_CPP_MIN_LOG_LEVEL": "3", "TFDF_DISABLE_WELCOME_MESSAGE": "1"}
    ours = measure("convkit convert --to tfjs", [str(BIN / "convkit"), "convert", str(src), "--to", "tfjs",
                                                  "-o", str(out_convkit)], runs, clear, quiet)
    theirs = measure("tensorflowjs_converter", [str(BIN / "tensorflowjs_converter"), "--input_format", "keras",
                                                str(src), str(out_tfjs)], runs, clear, quiet)
    clear()
    max_seconds, max_mib = TARGETS[label]
    return {
        "source": label,
        "source_mib": round(src.stat().st_size / 2**20, 1),
        "convkit": ours.to_dict(),
        "tensorflowjs_converter": theirs.to_dict(),
        "time_ratio": round(theirs.seconds / ours.seconds, 2),
        "memory_ratio": round(theirs.peak_mib / ours.peak_mib, 2),
        "target_seconds": max_seconds,
        "target_peak_mib": max_mib,
        "meets_target": ours.seconds <= max_seconds and (max_mib is None or ours.peak_mib <= max_mib),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per tool (median reported); default 3")
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
        layers = max(1, round(options.size_mib * 2**20 / (4096 * 4096 * 4)))
        large = scratch / "large.h5"
        write_dense_h5(large, [4096] * (layers + 1))
        rows.append(compare("large", large, scratch, options.runs))
        large.unlink()

    if options.json:
        print(json.dumps(rows, indent=2))
    else:
        print(f"{'source':<10} {'MiB':>7}  {'tool':<26} {'median s':>9} {'peak MiB':>9}")
        for row in rows:
            for tool in ("convkit", "tensorflowjs_converter"):
                m = row[tool]
                print(f"{row['source']:<10} {row['source_mib']:>7}  {m['label']:<26} {m['seconds']:>9.3f} {m['peak_mib']:>9.1f}")
            verdict = "meets" if row["meets_target"] else "MISSES"
            limit = f"<= {row['target_seconds']} s" + (f", <= {row['target_peak_mib']} MiB" if row["target_peak_mib"] else "")
            print(f"{'':<10} {'':>7}  ratio (tensorflowjs / convkit): time x{row['time_ratio']}, "
                  f"memory x{row['memory_ratio']}; convkit {verdict} its target ({limit})")
    return 0 if all(row["meets_target"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
