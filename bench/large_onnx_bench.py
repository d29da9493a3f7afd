"""A Keras model over 2 GB to ONNX (weights as external data), inspected and checked: time and peak memory.

A protobuf ends at 2 GiB, so such a model's ONNX file keeps its weights in
``<name>.onnx.data`` beside it. Setup (a child process, not timed): a Dense
stack 4096 -> 16384 -> 16384 -> 14000 -> 10 (565 million float32 weights,
2.26 GB; Keras 3, seed 0, Glorot-initialised) saved as ``big.keras``.

Timed, each a fresh process (wall time, peak RSS), for both ONNX writers:
  convert:  convkit convert big.keras --to onnx   (the native writer; written, then smoke-run in onnxruntime)
  inspect:  convkit inspect big.onnx
  check:    convkit check big.keras big.onnx --random 16
  convert_tf2onnx, check_tf2onnx: the same through --onnx-route tf2onnx (tf2onnx converts the graph
            with the weights lifted out, convkit writes them)

Usage: python bench/large_onnx_bench.py [--work DIR] [--json]
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import check_copies, check_verdict, run_in_work, run_steps  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
UNITS = (16384, 16384, 14000, 10)
INPUTS = 4096

BUILD = f"""
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import keras
keras.utils.set_random_seed(0)
layers = [keras.Input(({INPUTS},), name="features")]
layers += [keras.layers.Dense(units, activation="relu" if index < {len(UNITS) - 1} else None, name=f"dense_{{index}}")
           for index, units in enumerate({UNITS!r})]
model = keras.Sequential(layers, name="dense_stack")
model.save(sys.argv[1])
"""


def run(work: Path) -> dict[str, object]:
    """Builds, converts, inspects and checks the model under ``work``; returns the figures."""
    convkit = [sys.executable, "-m", "convkit"]
    env = {"PYTHONPATH": str(ROOT)}
    source = work / "big.keras"
    out = work / "big.onnx"
    other = work / "big_tf2onnx.onnx"
    if not source.is_file():
        subprocess.run([sys.executable, "-c", BUILD, str(source)], check=True, env={**os.environ, **env})
    for stale in (out, other):
        stale.unlink(missing_ok=True)
        stale.with_name(stale.name + ".data").unlink(missing_ok=True)
    figures: dict[str, object] = {"parameters": sum(a * b + b for a, b in zip((INPUTS, *UNITS), UNITS)),
                                  "source_bytes": source.stat().st_size}
    figures.update(run_steps([("convert", [*convkit, "convert", str(source), "--to", "onnx", "-o", str(out)]),
                              ("inspect", [*convkit, "inspect", str(out)]),
                              ("check", [*convkit, "check", str(source), str(out), "--random", "16"]),
                              ("convert_tf2onnx", [*convkit, "convert", str(source), "--to", "onnx", "--onnx-route",
                                                   "tf2onnx", "-o", str(other)]),
                              ("check_tf2onnx", [*convkit, "check", str(source), str(other), "--random", "16"])],
                             env))
    figures["onnx_bytes"] = out.stat().st_size
    figures["external_data_bytes"] = out.with_name(out.name + ".data").stat().st_size
    figures.update(check_copies(source, [out, other], 16, env))
    return figures


def main() -> int:
    figures = run_in_work(__doc__.splitlines()[0], "convkit-large-onnx-", run)
    if figures is None:  # printed as JSON
        return 0
    print(f"Dense stack, {figures['parameters']:,} weights, .keras {figures['source_bytes'] / 1e9:.2f} GB -> "
          f".onnx {figures['onnx_bytes'] / 1e3:.0f} kB + .onnx.data {figures['external_data_bytes'] / 1e9:.2f} GB")
    for step in ("convert", "inspect", "check", "convert_tf2onnx", "check_tf2onnx"):
        row = figures[step]
        print(f"  {step:16s} {row['seconds']:7.1f} s  {row['peak_mib']:7,} MiB peak")  # type: ignore[index]
    return check_verdict(figures)


if __name__ == "__main__":
    sys.exit(main())
