"""`convkit inspect` against saved_model_cli and inspect_checkpoint on the same files.

The files come from `convkit train` (short epochs, in a temporary folder) unless
``--dir`` names an existing `convkit train` output. Every command runs as a
fresh process, ``--runs`` times; the median wall time and peak RSS are printed
with the ratio other tool / convkit.

Pairs:
- SavedModel: ``saved_model_cli show --all --dir D`` vs ``convkit inspect --json D``.
- Checkpoint listing: ``python -m tensorflow.python.tools.inspect_checkpoint --file_name=P``
  vs ``convkit inspect --json P``.
- Checkpoint values: the same with ``--all_tensors`` vs ``convkit inspect --json --weights --verify P``.
Plus convkit alone on the ``.h5`` and ``.keras`` files (no comparable stock tool).

Target: every convkit inspect <= 0.5 s and <= 150 MiB, the SavedModel <= 0.25 s. Exit code 1 if one is missed.

Usage: python bench/inspect_bench.py [--runs 5] [--dir TRAINED] [--keras 3] [--json]
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

BIN = Path(sys.executable).parent
TARGET_SECONDS = 0.5
# The case users run most (the tutorial's SavedModel) has the tighter target.
CASE_TARGET_SECONDS = {"SavedModel": 0.25}
TARGET_MIB = 150.0
QUIET = {"TF_CPP_MIN_LOG_LEVEL": "3"}


def _train(out: Path, keras: int) -> Path:
    subprocess.run(
        [str(BIN / "convkit"), "train", "--out", str(out), "--keras", str(keras), "--epochs-per-stage", "1,5,1"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**__import__("os").environ, **QUIET},
    )
    return out


def _cases(trained: Path) -> list[tuple[str, list[str], list[str] | None]]:
    convkit = [str(BIN / "convkit"), "inspect", "--json"]
    saved_model = trained / "saved_model" / "my_model"
    prefix = trained / "training_1" / "cp.ckpt"
    inspect_checkpoint = [sys.executable, "-m", "tensorflow.python.tools.inspect_checkpoint", f"--file_name={prefix}"]
    return [
        ("SavedModel", [*convkit, str(saved_model)], [str(BIN / "saved_model_cli"), "show", "--all", "--dir", str(saved_model)]),
        ("checkpoint listing", [*convkit, str(prefix)], inspect_checkpoint),
        ("checkpoint values", [*convkit, "--weights", "--verify", str(prefix)], [*inspect_checkpoint, "--all_tensors"]),
        ("HDF5 (.h5)", [*convkit, str(trained / "my_model.h5")], None),
        (".keras archive", [*convkit, str(trained / "my_model.keras")], None),
        ("checkpoint folder (human view)", [str(BIN / "convkit"), "inspect", str(trained / "training_2")], None),
    ]


def run(trained: Path, runs: int) -> list[dict]:
    rows = []
    for label, ours, theirs in _cases(trained):
        mine = measure(f"convkit: {label}", ours, runs=runs, env=QUIET)
        other_name = Path(theirs[0]).name if theirs and theirs[0] != sys.executable else (theirs[2].rsplit(".", 1)[-1] if theirs else "")
        other = measure(other_name, theirs, runs=runs, env=QUIET) if theirs else None
        row = {
            "case": label,
            "convkit": mine.to_dict(),
            "other": other.to_dict() if other else None,
            "time_ratio": round(other.seconds / mine.seconds, 1) if other else None,
            "cpu_ratio": round(other.cpu_seconds / mine.cpu_seconds, 1) if other else None,
            "memory_ratio": round(other.peak_mib / mine.peak_mib, 1) if other else None,
            "target_seconds": CASE_TARGET_SECONDS.get(label, TARGET_SECONDS),
            "target_met": mine.seconds <= CASE_TARGET_SECONDS.get(label, TARGET_SECONDS) and mine.peak_mib <= TARGET_MIB,
        }
        rows.append(row)
    return rows


def _print(rows: list[dict], runs: int) -> None:
    load = os.getloadavg()[0]
    print(f"median of {runs} runs; target per convkit inspect: <= {TARGET_SECONDS} s (SavedModel <= "
          f"{CASE_TARGET_SECONDS['SavedModel']} s) and <= {TARGET_MIB:.0f} MiB; "
          f"load average {load:.1f} on {os.cpu_count()} CPUs (wall times stretch when the machine is busy; CPU s do not)")
    header = (f"{'case':32} {'wall s':>7} {'CPU s':>6} {'MiB':>5}   {'other tool':20} {'wall s':>7} {'CPU s':>6} {'MiB':>5}"
              f"   {'x wall':>6} {'x CPU':>6} {'x mem':>6}  target")
    print(header)
    print("-" * len(header))
    for row in rows:
        mine, other = row["convkit"], row["other"]
        if other:
            other_cells = (f"{other['label']:20} {other['seconds']:7.2f} {other['cpu_seconds']:6.2f} {other['peak_mib']:5.0f}   "
                           f"{row['time_ratio']:6.1f} {row['cpu_ratio']:6.1f} {row['memory_ratio']:6.1f}")
        else:
            other_cells = f"{'-':20} {'':7} {'':6} {'':5}   {'':6} {'':6} {'':6}"
        print(f"{row['case']:32} {mine['seconds']:7.3f} {mine['cpu_seconds']:6.3f} {mine['peak_mib']:5.0f}   {other_cells}  "
              f"{'met' if row['target_met'] else 'MISSED'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=None, help="an existing `convkit train` output folder")
    parser.add_argument("--keras", type=int, default=3, choices=(2, 3))
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="convkit-inspect-bench-") as scratch:
        trained = args.dir or _train(Path(scratch) / "trained", args.keras)
        rows = run(trained, args.runs)
    if args.json:
        print(json.dumps({"runs": args.runs, "rows": rows}, indent=2))
    else:
        _print(rows, args.runs)
    if args.json:
        return 0
    return 0 if all(row["target_met"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
