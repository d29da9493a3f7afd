"""SavedModel -> ONNX and -> TFLite: convkit against ``python -m tf2onnx.convert`` and a plain TFLiteConverter script.

Two sources, each a tf_keras SavedModel made from a generated Keras 2 style
``.h5`` (by ``convkit convert --to savedmodel``, once, before timing): the
tutorial's reference model (784 -> 512 -> 10) and a larger Dense stack
(784 -> 2048 x 6 -> 10, about 70 MiB of weights). Every tool reads the same
SavedModel and runs as a fresh process; medians of wall time and peak RSS are
printed with the ratios tool / convkit. convkit's time includes what the
others do not do: loading the output in onnxruntime or LiteRT and running it
once before the file appears.

The usual tools:
- ``python -m tf2onnx.convert --saved-model SRC --output OUT --opset 17``
  (its ``--keras`` route cannot load the tutorial's ``.h5`` under Keras 3);
- ``tf.lite.TFLiteConverter.from_saved_model(SRC).convert()`` written to OUT.

Usage: python bench/onnx_tflite_bench.py [--runs 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import measure  # noqa: E402
from convert_bench import write_dense_h5  # noqa: E402

BIN = Path(sys.executable).parent
QUIET = {"TF_CPP_MIN_LOG_LEVEL": "3", "TFDF_DISABLE_WELCOME_MESSAGE": "1"}
MODELS = {"reference": [784, 512, 10], "dense-70MiB": [784] + [2048] * 5 + [10]}
TFLITE_SCRIPT = (
    "import sys, tensorflow as tf; "
    "open(sys.argv[2], 'wb').write(tf.lite.TFLiteConverter.from_saved_model(sys.argv[1]).convert())"
)


def _row(label: str, target: str, ours, theirs, source_mib: float) -> dict:
    return {
        "source": label,
        "source_mib": source_mib,
        "target": target,
        "convkit": ours.to_dict(),
        "usual": theirs.to_dict(),
        "time_ratio": round(theirs.seconds / ours.seconds, 2),
        "memory_ratio": round(theirs.peak_mib / ours.peak_mib, 2),
    }


def compare(label: str, saved_model: Path, scratch: Path, runs: int) -> list[dict]:
    source_mib = round(sum(p.stat().st_size for p in saved_model.rglob("*") if p.is_file()) / 2**20, 1)
    rows = []
    for target in ("onnx", "tflite"):
        ours_out = scratch / f"{label}_convkit.{target}"
        theirs_out = scratch / f"{label}_usual.{target}"

        def clear() -> None:
            ours_out.unlink(missing_ok=True)
            theirs_out.unlink(missing_ok=True)

        ours = measure(f"convkit convert --to {target}", [str(BIN / "convkit"), "convert", str(saved_model),
                                                         "--to", target, "-o", str(ours_out)], runs, clear, QUIET)
        if target == "onnx":
            argv = [sys.executable, "-m", "tf2onnx.convert", "--saved-model", str(saved_model),
                    "--output", str(theirs_out), "--opset", "17"]
            theirs = measure("python -m tf2onnx.convert", argv, runs, clear, QUIET)
        else:
            argv = [sys.executable, "-c", TFLITE_SCRIPT, str(saved_model), str(theirs_out)]
            theirs = measure("TFLiteConverter script", argv, runs, clear, QUIET)
        clear()
        rows.append(_row(label, target, ours, theirs, source_mib))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per tool (median reported); default 3")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    options = parser.parse_args(argv)

    rows = []
    with tempfile.TemporaryDirectory(prefix="convkit-bench-") as folder:
        scratch = Path(folder)
        for label, widths in MODELS.items():
            h5 = scratch / f"{label}.h5"
            write_dense_h5(h5, widths)
            saved_model = scratch / f"{label}_savedmodel"
            subprocess.run([str(BIN / "convkit"), "convert", str(h5), "--to", "savedmodel", "-o", str(saved_model)],
                           check=True, capture_output=True, env={**os.environ, **QUIET})
            rows.extend(compare(label, saved_model, scratch, options.runs))

    if options.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'source':<12} {'MiB':>6}  {'tool':<28} {'median s':>9} {'peak MiB':>9}")
    for row in rows:
        for tool in ("convkit", "usual"):
            m = row[tool]
            print(f"{row['source']:<12} {row['source_mib']:>6}  {m['label']:<28} {m['seconds']:>9.3f} {m['peak_mib']:>9.1f}")
        print(f"{'':<12} {'':>6}  ratio ({row['usual']['label']} / convkit): time x{row['time_ratio']}, "
              f"memory x{row['memory_ratio']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
