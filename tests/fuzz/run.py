"""The long fuzz campaign: ``python -m tests.fuzz.run --inputs 10000`` (``make fuzz``).

Runs the hypothesis-driven targets of ``tests/fuzz/targets.py`` for each reader
in a worker process watched by this one: a worker that stops reporting for
``--hang-seconds`` is killed, the input it was on is kept as a hang, and a new
worker carries on. Prints per reader: inputs tried, findings (distinct
exception signatures), inputs that raised an uncaught exception, hangs. Every
finding and hang is saved with its input files under ``--keep``. Exit status 1
when anything was found.

    python -m tests.fuzz.run --inputs 10000                 # every reader
    python -m tests.fuzz.run --inputs 500 --reader tfjs     # one reader
    python -m tests.fuzz.run --inputs 10000 --jobs 5        # all readers at once
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tests.hostile._corpus import Hang, deadline

SECONDS_PER_INPUT = 60  # the first input that reaches Keras imports TensorFlow (5-15 s on a busy machine)
HANG_SECONDS = 120
PROGRESS_EVERY = 1000


# ------------------------------------------------------------------ worker


def worker(reader: str, count: int, seed: int, work: Path) -> None:
    """Runs ``count`` hypothesis inputs against ``reader``; one JSON line per input on stdout."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed
    from hypothesis import strategies as st

    from tests.fuzz._mutate import HypothesisChooser
    from tests.fuzz.targets import TARGETS, run_trial

    target = TARGETS[reader]
    out = sys.stdout
    sys.stdout = sys.stderr  # readers and libraries must not corrupt the report stream
    done = 0

    @settings(max_examples=count, deadline=None, database=None, suppress_health_check=list(HealthCheck),
              phases=[Phase.generate])
    @hypothesis_seed(seed)
    @given(st.data())
    def one_input(data: st.DataObject) -> None:
        nonlocal done
        if done >= count:
            return
        out.write(json.dumps({"event": "start", "index": done}) + "\n")
        out.flush()
        try:
            with deadline(SECONDS_PER_INPUT):
                trial = run_trial(target, work, HypothesisChooser(data))
            record = {"event": "done", "outcome": trial.outcome, "signature": trial.signature, "detail": trial.detail}
        except Hang:
            record = {"event": "done", "outcome": "hang", "signature": "hang", "detail": ""}
        done += 1
        if record["outcome"] in ("finding", "hang"):
            keep = work.parent / f"input-{done}"
            shutil.rmtree(keep, ignore_errors=True)
            shutil.copytree(work / "seed", keep, symlinks=True)
            record["kept"] = str(keep)
        out.write(json.dumps(record) + "\n")
        out.flush()

    while done < count:
        before = done
        one_input()
        if done == before:  # hypothesis found nothing new to try; reseed
            seed += 7919
            one_input = hypothesis_seed(seed)(one_input)


# ------------------------------------------------------------------ campaign


def campaign(reader: str, inputs: int, seed: int, keep: Path, hang_seconds: float) -> dict[str, Any]:
    stats: dict[str, Any] = {"reader": reader, "inputs": 0, "ok": 0, "rejected": 0, "uncaught": 0, "hangs": 0,
                             "signatures": Counter(), "examples": {}}
    # Every input rewrites a few files: keep them in memory (tmpfs) where the machine has it.
    shm = Path("/dev/shm")
    scratch = Path(tempfile.mkdtemp(prefix=f"convkit-fuzz-{reader}-", dir=shm if shm.is_dir() else None))
    started = time.monotonic()
    restarts = 0
    try:
        while stats["inputs"] < inputs:
            remaining = inputs - stats["inputs"]
            work = scratch / f"worker-{restarts}" / "work"
            command = [sys.executable, "-m", "tests.fuzz.run", "--worker", reader, "--inputs", str(remaining),
                       "--seed", str(seed + restarts), "--work", str(work)]
            env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
                                       cwd=Path(__file__).resolve().parents[2])
            assert process.stdout is not None
            in_flight = False
            while True:
                ready, _, _ = select.select([process.stdout], [], [], hang_seconds)
                if not ready:  # no word from the worker: a hang
                    process.kill()
                    process.wait()
                    stats["inputs"] += 1
                    stats["hangs"] += 1
                    stats["signatures"]["hang (worker silent)"] += 1
                    if work.exists():
                        target = keep / reader / f"hang-{stats['hangs']}"
                        shutil.rmtree(target, ignore_errors=True)
                        shutil.copytree(work / "seed", target, symlinks=True)
                        stats["examples"].setdefault("hang (worker silent)", str(target))
                    break
                line = process.stdout.readline()
                if not line:
                    process.wait()
                    if in_flight:  # the worker died on an input (a crash in native code)
                        signature = f"worker died (exit {process.returncode})"
                        stats["inputs"] += 1
                        stats["uncaught"] += 1
                        stats["signatures"][signature] += 1
                        if work.exists() and signature not in stats["examples"]:
                            target = keep / reader / f"died-{stats['uncaught']}"
                            shutil.rmtree(target, ignore_errors=True)
                            shutil.copytree(work / "seed", target, symlinks=True)
                            stats["examples"][signature] = str(target)
                    break
                record = json.loads(line)
                if record["event"] == "start":
                    in_flight = True
                    continue
                in_flight = False
                stats["inputs"] += 1
                if stats["inputs"] % PROGRESS_EVERY == 0:
                    print(f"{reader}: {stats['inputs']} inputs, {stats['uncaught']} uncaught, {stats['hangs']} hangs, "
                          f"{time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
                outcome = record["outcome"]
                if outcome in ("ok", "rejected"):
                    stats[outcome] += 1
                    continue
                signature = record["signature"]
                stats["hangs" if outcome == "hang" else "uncaught"] += 1
                stats["signatures"][signature] += 1
                if signature not in stats["examples"] and record.get("kept"):
                    target = keep / reader / f"finding-{len(stats['examples']) + 1}"
                    shutil.rmtree(target, ignore_errors=True)
                    shutil.copytree(record["kept"], target, symlinks=True)
                    (target / "FINDING.txt").write_text(signature + "\n\n" + record["detail"])
                    stats["examples"][signature] = str(target)
            restarts += 1
            if restarts > 50:
                print(f"{reader}: gave up after 50 worker restarts", file=sys.stderr)
                break
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    stats["seconds"] = round(time.monotonic() - started, 1)
    stats["findings"] = len(stats["signatures"])
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fuzz convkit's readers (see tests/fuzz/targets.py).")
    parser.add_argument("--inputs", type=int, default=10000, help="inputs per reader (default 10000)")
    parser.add_argument("--reader", action="append", help="reader to fuzz (repeatable); default all")
    parser.add_argument("--seed", type=int, default=0, help="hypothesis seed (default 0)")
    parser.add_argument("--keep", type=Path, default=None, help="folder for findings' inputs (default a temp folder)")
    parser.add_argument("--hang-seconds", type=float, default=HANG_SECONDS,
                        help=f"silence after which an input counts as a hang (default {HANG_SECONDS})")
    parser.add_argument("--jobs", type=int, default=2, help="readers fuzzed at the same time (default 2)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.inputs, args.seed, args.work)
        return 0

    from tests.fuzz.targets import TARGETS

    readers = args.reader or list(TARGETS)
    unknown = [name for name in readers if name not in TARGETS]
    if unknown:
        parser.error(f"unknown reader {unknown[0]!r}; known: {', '.join(TARGETS)}")
    keep = args.keep or Path(tempfile.mkdtemp(prefix="convkit-fuzz-findings-"))
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [pool.submit(campaign, reader, args.inputs, args.seed, keep, args.hang_seconds) for reader in readers]
        results = [future.result() for future in futures]
    for stats in results:
        reader = stats["reader"]
        print(f"{reader:<11} inputs {stats['inputs']:>6}  findings {stats['findings']:>3}  "
              f"uncaught exceptions {stats['uncaught']:>4}  hangs {stats['hangs']:>3}  "
              f"(answered {stats['ok']}, refused {stats['rejected']}; {stats['seconds']} s)", flush=True)
        for signature, times in stats["signatures"].most_common():
            print(f"    {times:>5} x {signature}  -> {stats['examples'].get(signature, '')}", flush=True)
    print(f"{sum(r['inputs'] for r in results)} inputs in {time.monotonic() - started:.0f} s "
          f"({args.jobs} reader(s) at a time); seed {args.seed}")
    if args.json:
        print(json.dumps([{**r, "signatures": dict(r["signatures"])} for r in results], indent=2))
    found = any(r["findings"] for r in results)
    if found:
        print(f"inputs of the findings: {keep}")
    else:
        shutil.rmtree(keep, ignore_errors=True)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
