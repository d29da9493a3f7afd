"""Real architectures through convkit: every keras.applications model in both Keras generations.

For each architecture available in both Keras 3 and tf_keras (plus ``ConvNeXtPico``,
a four-stage ConvNeXt with one block per stage, for quick runs), the zoo

1. builds it with ``weights=None``, a fixed seed and logits out, at a small input
   size, then gives every BatchNormalization random statistics and scales and
   every bias, beta and layer scale random values (fresh initialisers are zeros
   and ones, which hide dropped or misnamed layers);
2. saves it in every format its Keras generation writes (Keras 3: ``.keras``,
   ``.h5``, ``export()`` SavedModel; tf_keras: ``.h5``, SavedModel, ``.keras``,
   checkpoint);
3. converts each file to every target with convkit (verification on, as users run it);
4. loads and runs each output in its own runtime (convkit's runtimes: TF.js
   in Node, Keras 3, tf_keras, TensorFlow) on the same random inputs and compares
   with the Keras prediction: pass when max |diff| <= 1e-3 x max |reference|;
5. runs tensorflowjs_converter on the same sources (a subprocess with a timeout)
   and checks its TF.js output the same way.

Cells: ``ok`` (loads, runs, matches), ``DIFF r`` (runs, relative error r),
``exit 2``/``exit 3`` (convert refused / crashed), ``BROKEN`` (convert exited 0
but the output does not load or run: the case convkit promises never happens),
``n/a`` (convert refused a file that the Keras generation which wrote it cannot
load back either: Keras 3 ``.h5`` of MobileNetV3 and ConvNeXt, tf_keras ``.h5`` of
ConvNeXt), ``-`` (not run). The anchor column is tensorflowjs_converter's TF.js result.

Usage:
    python bench/zoo.py                       # everything (hours on 2 cores)
    python bench/zoo.py --quick               # one small architecture per family, main sources and targets
    python bench/zoo.py --arch MobileNetV2 --arch ConvNeXtPico --targets tfjs,keras
    python bench/zoo.py --quick --json zoo.json --work /tmp/zoo
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TFDF_DISABLE_WELCOME_MESSAGE", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SEED = 7
SAMPLES = 4
RELATIVE_TOLERANCE = 1e-3
ANCHOR_TIMEOUT_SECONDS = 600
# Smallest input each architecture accepts (32 px where it allows).
INPUT_SIZE = {"InceptionV3": 75, "InceptionResNetV2": 75, "Xception": 71, "NASNetMobile": 32, "NASNetLarge": 32}
# Narrowest width options, where the architecture has them.
OPTIONS = {"MobileNet": {"alpha": 0.25}, "MobileNetV2": {"alpha": 0.35}, "MobileNetV3Small": {"alpha": 0.75},
           "MobileNetV3Large": {"alpha": 0.75}}
QUICK = ("ConvNeXtPico", "ConvNeXtTiny", "DenseNet121", "EfficientNetB0", "EfficientNetV2B0", "InceptionV3",
         "MobileNet", "MobileNetV2", "MobileNetV3Small", "NASNetMobile", "ResNet50", "ResNet50V2", "VGG16",
         "Xception")
SOURCES = ("k3.keras", "k3.h5", "k3.export", "k2.h5", "k2.savedmodel", "k2.keras", "k2.ckpt")
QUICK_SOURCES = ("k3.keras", "k3.h5", "k2.h5", "k2.savedmodel")
TARGETS = ("tfjs", "keras", "h5", "savedmodel", "ckpt")
QUICK_TARGETS = ("tfjs", "keras", "h5")
KERAS_TARGETS = ("keras", "h5")


@dataclass
class Case:
    """One (architecture, source, target) conversion and its result."""

    arch: str
    source: str
    target: str
    status: str  # ok, DIFF, exit 2, exit 3, BROKEN, n/a
    detail: str = ""
    kind: str = ""
    relative_error: float | None = None
    seconds: float = 0.0


@dataclass
class ZooResult:
    cases: list[Case] = field(default_factory=list)
    anchor: list[Case] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"cases": [asdict(c) for c in self.cases], "anchor": [asdict(c) for c in self.anchor],
                "notes": self.notes, "summary": self.summary()}

    def summary(self) -> dict[str, Any]:
        tfjs = [c for c in self.cases if c.target == "tfjs" and c.status != "n/a"]
        keras = [c for c in self.cases if c.target in KERAS_TARGETS and c.status != "n/a"]
        anchor = [c for c in self.anchor if c.status != "n/a"]
        return {
            "tfjs_ok": sum(c.status == "ok" for c in tfjs), "tfjs_cases": len(tfjs),
            "keras_round_trips_ok": sum(c.status == "ok" for c in keras), "keras_round_trips": len(keras),
            "broken": sum(c.status == "BROKEN" for c in self.cases),
            "all_ok": sum(c.status == "ok" for c in self.cases), "all_cases": len(self.cases),
            "anchor_ok": sum(c.status == "ok" for c in anchor), "anchor_cases": len(anchor),
        }


# ---------------------------------------------------------------- building


def architectures() -> list[str]:
    """Every keras.applications architecture both Keras 3 and tf_keras ship, plus ConvNeXtPico."""
    import keras
    import tf_keras

    both = {name for name in dir(keras.applications) if name[:1].isupper()} & {
        name for name in dir(tf_keras.applications) if name[:1].isupper()}
    return ["ConvNeXtPico", *sorted(both)]


def build(arch: str, K: Any) -> Any:
    """The architecture in Keras generation ``K`` (keras or tf_keras), logits out, seeded, statistics randomised."""
    size = INPUT_SIZE.get(arch, 32)
    K.utils.set_random_seed(SEED)
    common = dict(weights=None, input_shape=(size, size, 3), classes=10, classifier_activation=None)
    if arch == "ConvNeXtPico":
        convnext = _convnext_module(K)
        naming = {"name": "convnext_pico"} if K.__name__ == "keras" else {"model_name": "convnext_pico"}
        model = convnext.ConvNeXt(depths=[1, 1, 1, 1], projection_dims=[8, 16, 24, 32], default_size=size,
                                  **naming, **common)
    else:
        model = getattr(K.applications, arch)(**OPTIONS.get(arch, {}), **common)
    randomize(model, SEED)
    return model


def _convnext_module(K: Any) -> Any:
    if K.__name__ == "keras":
        from keras.src.applications import convnext
    else:
        from tf_keras.src.applications import convnext
    return convnext


def randomize(model: Any, seed: int) -> None:
    """Non-trivial values for everything a fresh model holds as zeros or ones."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        name = str(getattr(variable, "path", None) or variable.name).split(":")[0]
        shape = tuple(variable.shape)
        leaf = name.rsplit("/", 1)[-1]
        if leaf in ("moving_variance", "variance") or "moving_variance" in name:
            value = rng.uniform(0.5, 1.5, shape)
        elif leaf in ("gamma",) or (leaf.startswith("variable") and len(shape) == 1):
            value = rng.uniform(0.5, 1.5, shape)
        elif leaf in ("moving_mean", "mean", "beta", "bias"):
            value = rng.normal(0.0, 0.1, shape)
        elif np.issubdtype(np.dtype(getattr(variable.dtype, "name", str(variable.dtype))), np.integer):
            continue
        else:
            continue  # kernels: the seeded initialiser already made them random
        variable.assign(value.astype("float32"))


def save_sources(arch: str, folder: Path, sources: Sequence[str], inputs: np.ndarray
                 ) -> tuple[dict[str, tuple[Path, Path | None]], dict[str, np.ndarray]]:
    """Saves the architecture in every requested source format.

    Returns:
        source -> (path, like), and generation (``k3``/``k2``) -> the Keras prediction on ``inputs``.
    """
    paths: dict[str, tuple[Path, Path | None]] = {}
    references: dict[str, np.ndarray] = {}
    if any(s.startswith("k3.") for s in sources):
        import keras

        model = build(arch, keras)
        references["k3"] = np.asarray(model(inputs, training=False))
        if "k3.keras" in sources or "k3.export" in sources:
            model.save(folder / "k3.keras")
        if "k3.keras" in sources:
            paths["k3.keras"] = (folder / "k3.keras", None)
        if "k3.h5" in sources:
            model.save(folder / "k3.h5")
            paths["k3.h5"] = (folder / "k3.h5", None)
        if "k3.export" in sources:
            model.export(str(folder / "k3_export"), verbose=False)
            # an export() SavedModel holds no Keras architecture: Keras targets take it from the .keras
            paths["k3.export"] = (folder / "k3_export", folder / "k3.keras")
        del model
    if any(s.startswith("k2.") for s in sources):
        import tf_keras

        model = build(arch, tf_keras)
        references["k2"] = np.asarray(model(inputs, training=False))
        model.save(folder / "k2.h5")
        if "k2.h5" in sources:
            paths["k2.h5"] = (folder / "k2.h5", None)
        if "k2.savedmodel" in sources:
            model.save(str(folder / "k2_savedmodel"), save_format="tf")
            paths["k2.savedmodel"] = (folder / "k2_savedmodel", None)
        if "k2.keras" in sources:
            model.save(folder / "k2.keras")
            paths["k2.keras"] = (folder / "k2.keras", None)
        if "k2.ckpt" in sources:
            model.save_weights(str(folder / "k2_ckpt" / "ckpt"))
            paths["k2.ckpt"] = (folder / "k2_ckpt" / "ckpt", folder / "k2.h5")
        del model
    return paths, references


# ---------------------------------------------------------------- running


def _run_output(path: Path, like: Path | None, inputs: np.ndarray) -> np.ndarray:
    from convkit.runtimes.open import open_runner

    runner = open_runner(path, like=like)
    runner.load()
    specs = runner.inputs
    outputs = runner.infer({specs[0].name: inputs})
    return np.asarray(next(iter(outputs.values())))


def _compare(got: np.ndarray, reference: np.ndarray) -> tuple[bool, float]:
    scale = float(np.max(np.abs(reference))) or 1.0
    if got.shape != reference.shape:
        return False, float("inf")
    error = float(np.max(np.abs(got.astype(np.float64) - reference))) / scale
    return error <= RELATIVE_TOLERANCE, error


def _out_path(work: Path, source: str, target: str) -> Path:
    stem = source.replace(".", "_")
    return {"tfjs": work / f"{stem}_to_tfjs", "keras": work / f"{stem}_to.keras", "h5": work / f"{stem}_to.h5",
            "savedmodel": work / f"{stem}_to_savedmodel", "ckpt": work / f"{stem}_to_ckpt" / "ckpt"}[target]


def convert_case(arch: str, source: str, target: str, src: Path, like: Path | None, work: Path,
                 inputs: np.ndarray, reference: np.ndarray) -> Case:
    from convkit import convert
    from convkit.errors import ConvkitError

    out = _out_path(work, source, target)
    started = time.perf_counter()
    try:
        result = convert(src, target, out, like=like, overwrite=True)
    except ConvkitError as error:
        unreadable = _keras_cannot_load(source, src)
        if unreadable:  # not a case: the Keras that wrote the file cannot read it back either
            return Case(arch, source, target, "n/a", f"Keras itself cannot load it ({unreadable})",
                        seconds=_since(started))
        return Case(arch, source, target, f"exit {error.exit_code}", _short(error), seconds=_since(started))
    except Exception as error:  # a convkit bug: exit 3 at the command line
        return Case(arch, source, target, "exit 3", f"{type(error).__name__}: {_short(error)}",
                    seconds=_since(started))
    check_like = (like or src) if target == "ckpt" else None
    try:
        got = _run_output(out, check_like, inputs)
    except Exception as error:
        # a loaded machine can time out the HDF5 read of a sound output: that is no verdict on the output
        status = "timeout" if "timed out" in str(error) else "BROKEN"
        return Case(arch, source, target, status, _short(error), result.kind, seconds=_since(started))
    passed, error_value = _compare(got, reference)
    status = "ok" if passed else "DIFF"
    return Case(arch, source, target, status, "" if passed else f"relative error {error_value:.2g}", result.kind,
                error_value, _since(started))


def _keras_cannot_load(source: str, src: Path) -> str | None:
    """Why the Keras generation that wrote ``src`` cannot load it back (None when it can)."""
    if source in ("k3.export", "k2.ckpt"):
        return None
    try:
        if source.startswith("k3."):
            import keras

            keras.models.load_model(src, compile=False)
        else:
            import tf_keras

            tf_keras.models.load_model(str(src), compile=False)
    except Exception as error:  # whatever Keras raises is the answer
        return _short(error)[:120]
    return None


def anchor_case(arch: str, source: str, src: Path, work: Path, inputs: np.ndarray, reference: np.ndarray) -> Case:
    """tensorflowjs_converter on the same source, its output run in TF.js."""
    formats = {"k3.keras": "keras_keras", "k2.keras": "keras_keras", "k3.h5": "keras", "k2.h5": "keras",
               "k2.savedmodel": "keras_saved_model", "k3.export": "tf_saved_model"}
    if source not in formats:
        return Case(arch, source, "tfjs", "n/a", "not a tensorflowjs_converter input")
    out = work / f"{source.replace('.', '_')}_anchor_tfjs"
    shutil.rmtree(out, ignore_errors=True)
    kind = "tfjs_graph_model" if formats[source] == "tf_saved_model" else "tfjs_layers_model"
    command = [str(Path(sys.executable).parent / "tensorflowjs_converter"), "--input_format", formats[source],
               "--output_format", kind, str(src), str(out)]
    started = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=ANCHOR_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        return Case(arch, source, "tfjs", "timeout", f"over {ANCHOR_TIMEOUT_SECONDS} s", seconds=_since(started))
    if done.returncode != 0 or not (out / "model.json").is_file():
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        return Case(arch, source, "tfjs", f"exit {done.returncode}", (lines[-1] if lines else "")[:200],
                    seconds=_since(started))
    try:
        got = _run_output(out, None, inputs)
    except Exception as error:
        return Case(arch, source, "tfjs", "BROKEN", _short(error), seconds=_since(started))
    passed, error_value = _compare(got, reference)
    return Case(arch, source, "tfjs", "ok" if passed else "DIFF", "" if passed else f"relative error {error_value:.2g}",
                relative_error=error_value, seconds=_since(started))


def run_architecture(arch: str, sources: Sequence[str], targets: Sequence[str], work: Path, *, anchor: bool,
                     log: Callable[[str], None]) -> ZooResult:
    result = ZooResult()
    work.mkdir(parents=True, exist_ok=True)
    try:
        size = INPUT_SIZE.get(arch, 32)
        inputs = np.random.default_rng(SEED).uniform(0, 255, (SAMPLES, size, size, 3)).astype("float32")
        paths, references = save_sources(arch, work, sources, inputs)
        if not targets:  # the anchor only
            for source in sources:
                case = anchor_case(arch, source, paths[source][0], work, inputs, references[source[:2]])
                result.anchor.append(case)
                log(f"{arch:18} {source:14} -> tfjs (tensorflowjs_converter) {case.status:7} {case.detail[:150]}")
            return result
    except Exception as error:
        result.notes.append(f"{arch}: could not build or save ({type(error).__name__}: {_short(error)})")
        log(result.notes[-1])
        if os.environ.get("CONVKIT_DEBUG"):
            traceback.print_exc()
        return result
    for source in sources:
        src, like = paths[source]
        reference = references[source[:2]]
        for target in targets:
            case = convert_case(arch, source, target, src, like, work, inputs, reference)
            result.cases.append(case)
            log(f"{arch:18} {source:14} -> {target:10} {case.status:7} {case.kind:16} {case.seconds:6.1f}s {case.detail[:150]}")
        if anchor and "tfjs" in targets:
            case = anchor_case(arch, source, src, work, inputs, reference)
            result.anchor.append(case)
            log(f"{arch:18} {source:14} -> tfjs (tensorflowjs_converter) {case.status:7} {case.detail[:150]}")
    return result


def run(archs: Sequence[str], sources: Sequence[str] = QUICK_SOURCES, targets: Sequence[str] = QUICK_TARGETS, *,
        work: Path | None = None, anchor: bool = True, log: Callable[[str], None] | None = None) -> ZooResult:
    """Runs the zoo on ``archs``; returns every case (the table is :func:`render`)."""
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    total = ZooResult()
    with tempfile.TemporaryDirectory(prefix="convkit-zoo-") as scratch:
        base = Path(work) if work else Path(scratch)
        for arch in archs:
            part = run_architecture(arch, sources, targets, base / arch, anchor=anchor, log=log)
            total.cases.extend(part.cases)
            total.anchor.extend(part.anchor)
            total.notes.extend(part.notes)
            if not work:
                shutil.rmtree(base / arch, ignore_errors=True)
    return total


# ---------------------------------------------------------------- the table


def render(result: ZooResult, targets: Sequence[str]) -> str:
    """A Markdown table: one row per (architecture, source), one column per target, the anchor beside."""
    rows: dict[tuple[str, str], dict[str, str]] = {}
    for case in result.cases:
        cell = case.status if case.status != "DIFF" else f"DIFF {case.relative_error:.1g}"
        if case.status == "ok" and case.target == "tfjs" and case.kind == "graph":
            cell = "ok (graph)"
        rows.setdefault((case.arch, case.source), {})[case.target] = cell
    anchors = {(case.arch, case.source): (case.status if case.status != "DIFF" else f"DIFF {case.relative_error:.1g}")
               for case in result.anchor}
    header = ["architecture", "source", *[f"-> {t}" for t in targets]]
    with_anchor = bool(result.anchor)
    if with_anchor:
        header.append("tensorflowjs_converter -> tfjs")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for (arch, source), cells in rows.items():
        row = [arch, source, *[cells.get(t, "-") for t in targets]]
        if with_anchor:
            row.append(anchors.get((arch, source), "-"))
        lines.append("| " + " | ".join(row) + " |")
    s = result.summary()
    lines.append("")
    lines.append(f"convkit -> TF.js: {s['tfjs_ok']}/{s['tfjs_cases']} load in TF.js and match; Keras-format round "
                 f"trips: {s['keras_round_trips_ok']}/{s['keras_round_trips']}; all cases: {s['all_ok']}/"
                 f"{s['all_cases']}; convert exit 0 with an output that does not load or run: {s['broken']}")
    if with_anchor:
        lines.append(f"tensorflowjs_converter -> TF.js: {s['anchor_ok']}/{s['anchor_cases']} load in TF.js and match")
    for note in result.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines)


def render_by_architecture(result: ZooResult, targets: Sequence[str]) -> str:
    """A Markdown table with one row per architecture: cases that load, run and match, of those run."""
    archs = list(dict.fromkeys(case.arch for case in result.cases))
    header = ["architecture", "sources", *[f"-> {t}" for t in targets]]
    if result.anchor:
        header.append("tensorflowjs_converter -> tfjs")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]

    def tally(cases: list[Case]) -> str:
        counted = [c for c in cases if c.status != "n/a"]
        text = f"{sum(c.status == 'ok' for c in counted)}/{len(counted)}"
        skipped = len(cases) - len(counted)
        return text + (f" ({skipped} n/a)" if skipped else "")

    for arch in archs:
        mine = [c for c in result.cases if c.arch == arch]
        row = [arch, str(len({c.source for c in mine}))]
        row += [tally([c for c in mine if c.target == t]) for t in targets]
        if result.anchor:
            row.append(tally([c for c in result.anchor if c.arch == arch]))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


_LOG_LINE = re.compile(r"^(\S+)\s+(\S+)\s+-> (\S+)\s+(?:\(tensorflowjs_converter\) )?(ok|DIFF|exit \d+|BROKEN|timeout|n/a)"
                       r"\s*(\S*)\s*(?:[\d.]+s)?\s*(.*)$")


def from_log(lines: Sequence[str]) -> ZooResult:
    """The cases of a run's log (stderr), so that an interrupted run still gives its table.

    A case logged twice (an architecture run again after a fix) counts once, as last logged.
    """
    result = ZooResult()
    for line in lines:
        match = _LOG_LINE.match(line.rstrip("\n"))
        if not match:
            continue
        arch, source, target, status, kind, detail = match.groups()
        error = re.search(r"relative error ([\d.e+-]+)", line)
        case = Case(arch, source, target, status, detail.strip(), "" if kind.endswith("s") and kind[:-1].replace(".", "").isdigit() else kind,
                    float(error.group(1)) if error else None)
        (result.anchor if "(tensorflowjs_converter)" in line else result.cases).append(case)
    result.cases = _last_of_each(result.cases)
    result.anchor = _last_of_each(result.anchor)
    return result


def _last_of_each(cases: list[Case]) -> list[Case]:
    last = {(case.arch, case.source, case.target): case for case in cases}
    order = dict.fromkeys((case.arch, case.source, case.target) for case in cases)
    return [last[key] for key in order]


def _short(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text[:300]


def _since(started: float) -> float:
    return round(time.perf_counter() - started, 1)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", action="append", default=[], help="architecture (repeatable or comma-separated)")
    parser.add_argument("--quick", action="store_true", help="one small architecture per family, main sources/targets")
    parser.add_argument("--sources", help=f"comma-separated subset of {','.join(SOURCES)}")
    parser.add_argument("--targets", help=f"comma-separated subset of {','.join(TARGETS)}")
    parser.add_argument("--no-anchor", action="store_true", help="skip tensorflowjs_converter")
    parser.add_argument("--anchor-only", action="store_true", help="run tensorflowjs_converter only")
    parser.add_argument("--work", type=Path, help="keep every file under this folder")
    parser.add_argument("--json", type=Path, help="also write every case as JSON here")
    parser.add_argument("--from-log", type=Path, help="print the table of an earlier run's stderr log instead")
    parser.add_argument("--by-arch", action="store_true", help="with --from-log: one row per architecture first")
    args = parser.parse_args(argv)
    if args.from_log:
        logged = from_log(args.from_log.read_text().splitlines())
        logged_targets = sorted({case.target for case in logged.cases}, key=TARGETS.index)
        if args.by_arch:
            print(render_by_architecture(logged, logged_targets) + "\n")
        print(render(logged, logged_targets))
        return 1 if logged.summary()["broken"] else 0
    archs = [name for item in args.arch for name in item.split(",") if name]
    if not archs:
        archs = list(QUICK) if args.quick else architectures()
    sources = args.sources.split(",") if args.sources else list(QUICK_SOURCES if args.quick else SOURCES)
    targets = args.targets.split(",") if args.targets else list(QUICK_TARGETS if args.quick else TARGETS)
    if args.anchor_only:
        targets = []
    unknown = [s for s in sources if s not in SOURCES] + [t for t in targets if t not in TARGETS]
    if unknown:
        parser.error(f"unknown source or target: {', '.join(unknown)}")
    result = run(archs, sources, targets, work=args.work, anchor=not args.no_anchor)
    print(render(result, targets))
    if args.json:
        args.json.write_text(json.dumps(result.to_dict(), indent=1))
    summary = result.summary()
    return 1 if summary["broken"] else 0


if __name__ == "__main__":
    sys.exit(main())
