"""Runs every benchmark under bench/ in turn; each prints its own ratios.

Run: make bench   (or .venv/bin/python bench/run_all.py)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARKS = ["inspect_bench.py", "convert_bench.py", "check_bench.py", "onnx_tflite_bench.py", "data_bench.py",
              "graph_bench.py"]


def main() -> int:
    here = Path(__file__).resolve().parent
    failed = []
    for name in BENCHMARKS:
        print(f"== {name}", flush=True)
        if subprocess.run([sys.executable, str(here / name)], check=False).returncode != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
