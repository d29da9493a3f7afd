"""A large Keras SavedModel to a TF.js graph model: convkit beside tensorflowjs_converter, time and peak memory.

Setup (a child process, not timed): VGG16 (138 million float32 weights, 553 MB; tf_keras
``keras.applications``, ``weights=None``, seed 0, 224x224 input) saved as a Keras SavedModel, ``saved/``.
Both tools write a graph model (convkit with ``--tfjs-kind graph``). The zoo's larger graph models
cannot be the example: tensorflowjs_converter has no ``Erfc``, the exact GELU of ConvNeXt and of every
Keras 3 ``export()`` of it, which convkit rewrites.

Timed, each a fresh process (wall time, and the peak RSS of its largest process: bench/_measure.py):
  convkit:                convkit convert saved --to tfjs --tfjs-kind graph   (written, then loaded and run once
                          in TF.js under Node)
  tensorflowjs_converter: tensorflowjs_converter --input_format tf_saved_model saved out   (written only)
then both outputs are checked against the SavedModel with ``convkit check`` (not timed).

Usage: python bench/large_tfjs_graph_bench.py [--work DIR] [--json]
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import check_copies, check_verdict, run_in_work, run_steps  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

BUILD = """
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tf_keras
tf_keras.utils.set_random_seed(0)
model = tf_keras.applications.VGG16(weights=None, classifier_activation=None)
model.save(sys.argv[1], save_format="tf")
print(model.count_params())
"""


def run(work: Path) -> dict[str, object]:
    """Builds the SavedModel under ``work``, converts it with both tools and checks both; returns the figures."""
    env = {"PYTHONPATH": str(ROOT)}
    source = work / "saved"
    parameters_file = work / "parameters"
    if not (source / "saved_model.pb").is_file():
        built = subprocess.run([sys.executable, "-c", BUILD, str(source)], check=True, capture_output=True, text=True,
                               env={**os.environ, **env})
        parameters_file.write_text(built.stdout.strip().splitlines()[-1])
    ours, theirs = work / "convkit_tfjs", work / "tensorflowjs_tfjs"
    figures: dict[str, object] = {"parameters": int(parameters_file.read_text()),
                                  "variables_bytes": sum(path.stat().st_size
                                                         for path in (source / "variables").iterdir())}
    figures.update(run_steps([("convkit", [sys.executable, "-m", "convkit", "convert", str(source), "--to", "tfjs",
                                           "--tfjs-kind", "graph", "-o", str(ours), "--overwrite"]),
                              ("tensorflowjs_converter", [str(BIN / "tensorflowjs_converter"), "--input_format",
                                                          "tf_saved_model", str(source), str(theirs)])], env))
    figures.update(check_copies(source, [ours, theirs], 8, env))
    return figures


def main() -> int:
    figures = run_in_work(__doc__.splitlines()[0], "convkit-large-tfjs-", run)
    if figures is None:  # printed as JSON
        return 0
    ours, theirs = figures["convkit"], figures["tensorflowjs_converter"]
    print(f"VGG16 Keras SavedModel, {figures['parameters']:,} weights ({figures['variables_bytes'] / 1e6:.0f} MB) "
          "-> TF.js graph model")
    for tool, row in (("convkit (verified)", ours), ("tensorflowjs_converter", theirs)):
        print(f"  {tool:24s} {row['seconds']:7.1f} s  {row['peak_mib']:7,} MiB peak")  # type: ignore[index]
    print(f"  ratio (tensorflowjs_converter / convkit): time {theirs['seconds'] / ours['seconds']:.2f}x, "  # type: ignore[index]
          f"memory {theirs['peak_mib'] / ours['peak_mib']:.2f}x")  # type: ignore[index]
    return check_verdict(figures)


if __name__ == "__main__":
    sys.exit(main())
