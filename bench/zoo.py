"""Real architectures through convkit: every keras.applications model in both Keras generations.

For each architecture available in both Keras 3 and tf_keras (plus ``ConvNeXtPico``,
a four-stage ConvNeXt with one block per stage, for quick runs), the zoo

1. builds it with ``weights=None``, a fixed seed and logits out, at the smallest
   input size it accepts (32 px where it allows), then gives every scale, bias,
   beta and layer scale random values (fresh initialisers are zeros and ones, which
   hide dropped or misnamed layers) and every BatchNormalization statistics near
   those of the activations it sees, perturbed (:func:`calibrate`: else most of
   these models give one output whatever the input);
2. saves it as a source: Keras 3 ``.keras`` and tf_keras ``.h5`` for every
   architecture (the main sources), and for the smallest member of each family
   every other format its Keras generation writes (Keras 3: ``.h5``, ``export()``
   SavedModel, ``.weights.h5`` and a ``tf.train.Checkpoint(model=...)`` with
   ``--like`` the ``.keras``; tf_keras:
   SavedModel, ``.keras``, checkpoint with ``--like`` the ``.h5``);
3. converts each source to every target (TF.js, ``.keras``, ``.h5``, SavedModel,
   ONNX, TFLite) with ``convkit convert`` as users run it (a fresh process,
   verification on, the default route);
4. loads and runs each output in its own runtime (convkit's runtimes: TF.js in
   Node, Keras 3, tf_keras, TensorFlow, onnxruntime, LiteRT) on the same random
   inputs and compares with the Keras prediction: pass when
   max |diff| <= 1e-3 x max |reference|;
5. runs the usual tool for three targets on the same source, its output checked the
   same way: ``tensorflowjs_converter`` (TF.js), ``python -m tf2onnx.convert``
   (ONNX, ``--keras`` or ``--saved-model``), and a plain ``tf.lite.TFLiteConverter``
   script (``from_keras_model`` or ``from_saved_model``). tf_keras sources run
   them with ``TF_USE_LEGACY_KERAS=1``, as a tf_keras user does.

Each architecture's cells run in a child process of their own, each conversion in
a fresh process with a timeout (``--cell-timeout``, 900 s), and the child is
watched: a cell that outlives its time or the memory limit, or a child that dies,
is recorded as such and the run goes on with the next cell. Every finished cell is
one JSON line appended to the results file (``bench/results/zoo.jsonl``); a rerun
skips the cells already there (``--fresh`` starts again). The order makes a partial
run useful: the two main sources of every architecture first, smallest models first
(by parameter count), each architecture's anchors right after its convkit cells,
then the family members' other sources.

Cells: ``ok`` (loads, runs, matches), ``DIFF`` (runs, relative error above the
tolerance), ``exit N`` (the converter refused, 2, or crashed, 3), ``BROKEN``
(the converter exited 0 but its output does not load, run or match in shape; the
summary counts convkit's DIFF cells with them: exit 0 and an output that does not
match is the case convkit promises never happens), ``timeout``, ``memory`` (over the memory
limit), ``crash`` (the zoo's child died on the cell), ``n/a`` (the converter
refused a file that the Keras generation which wrote it cannot load back either),
``not built`` (the zoo could not save that source).

Usage:
    python bench/zoo.py                           # the whole zoo, resuming bench/results/zoo.jsonl
    python bench/zoo.py --report                  # the tables of the results so far (also to zoo.md)
    python bench/zoo.py --arch ConvNeXtPico --results /tmp/zoo.jsonl
    python bench/zoo.py --quick                   # the family members, main sources only
    python bench/zoo.py --arch MobileNetV2 --sources k3.keras --targets tfjs,onnx --no-anchor
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import queue
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TFDF_DISABLE_WELCOME_MESSAGE", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SEED = 7
SAMPLES = 4
RELATIVE_TOLERANCE = 1e-3
CELL_TIMEOUT_SECONDS = 900
# what the child may take beyond a conversion's timeout to build the sources or run an output
BUILD_TIMEOUT_SECONDS = 1800
RUN_ALLOWANCE_SECONDS = 300
MEMORY_LIMIT_GIB = 16.0
RESULTS = ROOT / "bench" / "results" / "zoo.jsonl"
MARKDOWN = ROOT / "bench" / "results" / "zoo.md"
PARAMETERS = ROOT / "bench" / "results" / "zoo-params.json"
# Smallest input each architecture accepts (32 px where it allows).
INPUT_SIZE = {"InceptionV3": 75, "InceptionResNetV2": 75, "Xception": 71, "NASNetMobile": 32, "NASNetLarge": 32}
# Narrowest width options, where the architecture has them.
OPTIONS = {"MobileNet": {"alpha": 0.25}, "MobileNetV2": {"alpha": 0.35}, "MobileNetV3Small": {"alpha": 0.75},
           "MobileNetV3Large": {"alpha": 0.75}}
# Families by name prefix, longest first; each family's smallest member runs every source.
FAMILIES = ("ConvNeXt", "DenseNet", "EfficientNetV2", "EfficientNet", "InceptionResNetV2", "InceptionV3",
            "MobileNetV3", "MobileNetV2", "MobileNet", "NASNet", "ResNet", "VGG", "Xception")
# The smallest ConvNeXt keras.applications ships runs every source too, beside the zoo's own ConvNeXtPico.
ALSO_MEMBERS = ("ConvNeXtTiny",)
MAIN_SOURCES = ("k3.keras", "k2.h5")
SOURCES = ("k3.keras", "k3.h5", "k3.export", "k3.weights", "k3.ckpt", "k2.h5", "k2.savedmodel", "k2.keras", "k2.ckpt")
TARGETS = ("tfjs", "keras", "h5", "savedmodel", "onnx", "tflite")
EXTRA_TARGETS = ("ckpt",)
CONVKIT = "convkit"
# the usual tool for a target, as its column is named
ANCHORS = {"tfjs": "tensorflowjs_converter", "onnx": "tf2onnx", "tflite": "TFLiteConverter"}
# weights-only sources and the source that gives their architecture
LIKE = {"k3.export": "k3.keras", "k3.weights": "k3.keras", "k3.ckpt": "k3.keras", "k2.ckpt": "k2.h5"}
SAVED_MODEL_SOURCES = ("k3.export", "k2.savedmodel")
TFJS_INPUT_FORMAT = {"k3.keras": "keras_keras", "k2.keras": "keras_keras", "k3.h5": "keras", "k2.h5": "keras",
                     "k2.savedmodel": "keras_saved_model", "k3.export": "tf_saved_model"}
TFLITE_SCRIPT = """
import sys
import tensorflow as tf
source, out = sys.argv[1:3]
if sys.argv[3] == "saved_model":
    converter = tf.lite.TFLiteConverter.from_saved_model(source)
else:
    converter = tf.lite.TFLiteConverter.from_keras_model(tf.keras.models.load_model(source, compile=False))
open(out, "wb").write(converter.convert())
"""
# the checkout's convkit before any installed one (an editable install may point at another checkout)
CONVKIT_ENV = {"PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
# statuses that say nothing about the converter: the source was not there to convert
NOT_A_CASE = ("n/a", "not built")


@dataclass
class Case:
    """One cell: an architecture's source converted to a target by a tool (convkit or the anchor), and its result."""

    arch: str
    source: str
    target: str
    status: str  # ok, DIFF, exit N, BROKEN, timeout, memory, crash, n/a, not built
    detail: str = ""
    kind: str = ""
    relative_error: float | None = None
    seconds: float = 0.0  # the conversion's wall time
    tool: str = CONVKIT
    run_seconds: float = 0.0  # loading and running the output

    @property
    def key(self) -> tuple[str, str, str, str]:
        return self.arch, self.source, self.target, self.tool

    @property
    def cell(self) -> str:
        if self.status == "DIFF" and self.relative_error is not None:
            return f"DIFF {self.relative_error:.1g}"
        if self.status == "ok" and self.target == "tfjs" and self.kind == "graph":
            return "ok (graph)"
        return self.status


@dataclass
class ZooResult:
    cases: list[Case] = field(default_factory=list)
    anchor: list[Case] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, case: Case) -> None:
        (self.cases if case.tool == CONVKIT else self.anchor).append(case)

    def to_dict(self) -> dict[str, Any]:
        return {"cases": [asdict(c) for c in self.cases], "anchor": [asdict(c) for c in self.anchor],
                "notes": self.notes}


# ---------------------------------------------------------------- the architectures


def architectures() -> list[str]:
    """Every keras.applications architecture both Keras 3 and tf_keras ship, plus ConvNeXtPico."""
    import keras
    import tf_keras

    both = {name for name in dir(keras.applications) if name[:1].isupper()} & {
        name for name in dir(tf_keras.applications) if name[:1].isupper()}
    return ["ConvNeXtPico", *sorted(both)]


def family(arch: str) -> str:
    """The family an architecture belongs to (ResNet50V2 to ResNetV2, MobileNetV3Small to MobileNetV3)."""
    if arch.startswith("ResNet") and arch.endswith("V2"):
        return "ResNetV2"
    return next((prefix for prefix in FAMILIES if arch.startswith(prefix)), arch)


def family_members(archs: Iterable[str], parameters: dict[str, int]) -> list[str]:
    """The smallest architecture of each family (by parameter count), and ``ALSO_MEMBERS``."""
    smallest: dict[str, str] = {}
    for arch in archs:
        name = family(arch)
        if name not in smallest or parameters.get(arch, 0) < parameters.get(smallest[name], 0):
            smallest[name] = arch
    return [arch for arch in archs if arch in smallest.values() or arch in ALSO_MEMBERS]


def parameter_counts(cache: Path | None = PARAMETERS) -> dict[str, int]:
    """Every architecture (:func:`architectures`, in that order) and its parameters as the zoo builds it (Keras 3).

    Counted once in a child process (this one never imports TensorFlow) and cached in ``cache``; delete the
    cache after a Keras upgrade.
    """
    if cache and cache.is_file():
        return json.loads(cache.read_text())
    done = subprocess.run([sys.executable, __file__, "--count-parameters"], capture_output=True, text=True,
                          check=True)
    counts: dict[str, int] = json.loads(done.stdout.strip().splitlines()[-1])
    if cache:
        cache.write_text(json.dumps(counts, indent=1) + "\n")
    return counts


def _count_parameters() -> dict[str, int]:
    import keras

    counts = {}
    for arch in architectures():
        counts[arch] = int(build(arch, keras, randomized=False).count_params())
        keras.backend.clear_session()
        gc.collect()
    return counts


def build(arch: str, K: Any, *, randomized: bool = True) -> Any:
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
    if randomized:
        randomize(model, SEED)
        # Normalization computes its mean and variance tensors from its variables when built: again from the
        # values just set, as loading the saved file does, or the reference would be the initial zeros and ones
        for layer in model._flatten_layers():
            if callable(getattr(layer, "finalize_state", None)):
                layer.finalize_state()
        calibrate(model, SEED)
    return model


def _convnext_module(K: Any) -> Any:
    if K.__name__ == "keras":
        from keras.src.applications import convnext
    else:
        from tf_keras.src.applications import convnext
    return convnext


def randomize(model: Any, seed: int) -> None:
    """Non-trivial values for everything a fresh model holds as zeros or ones.

    Scales are drawn below 1 and variances above 1, so that each normalisation
    shrinks what it passes on: with gains around 1 the deepest models
    (EfficientNetV2M and L) amplify rounding until Keras' own float32 result is as far
    as 1.4x the output's scale from its float64 one, and no copy can be judged.
    """
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        name = str(getattr(variable, "path", None) or variable.name).split(":")[0]
        shape = tuple(variable.shape)
        leaf = name.rsplit("/", 1)[-1]
        if leaf in ("moving_variance", "variance") or "moving_variance" in name:
            value = rng.uniform(1.0, 2.0, shape)
        elif leaf in ("gamma",) or (leaf.startswith("variable") and len(shape) == 1):
            value = rng.uniform(0.5, 1.0, shape)
        elif leaf in ("moving_mean", "mean", "beta", "bias"):
            value = rng.normal(0.0, 0.1, shape)
        else:
            continue  # kernels: the seeded initialiser already made them random
        variable.assign(value.astype("float32"))


def calibrate(model: Any, seed: int) -> None:
    """BatchNormalization statistics near those of the activations each layer sees, then perturbed.

    With statistics unrelated to the activations, most of these untrained models give the same output for
    every input (MobileNetV2 exactly, every EfficientNet within 1e-6 of the output's scale): a copy that
    lost its input path would still match. One pass in training mode over 16 random images (not the ones
    checked) with momentum 0 sets each layer's statistics to its batch's; each mean then moves by up to a
    tenth of a standard deviation, and each variance, floored at 1% of the layer's mean variance (a channel
    constant over the batch would otherwise divide rounding by sqrt(epsilon)), grows by 0-50%: so every
    normalisation shrinks a little what it passes on and the deepest models stay well-conditioned
    (EfficientNetV2L and B7: Keras' float32 result within 3e-6 of its float64 one, outputs of different
    inputs 1.5-4% of the output's scale apart).
    """
    layers = [layer for layer in model._flatten_layers() if type(layer).__name__ == "BatchNormalization"]
    if not layers:
        return
    size = tuple(model.inputs[0].shape)[1:]
    images = np.random.default_rng(seed + 1).uniform(0, 255, (16, *size)).astype("float32")
    momentums = [layer.momentum for layer in layers]
    for layer in layers:
        layer.momentum = 0.0
    model(images, training=True)
    for layer, momentum in zip(layers, momentums):
        layer.momentum = momentum
    rng = np.random.default_rng(seed + 2)
    for layer in layers:
        mean, variance = np.asarray(layer.moving_mean), np.asarray(layer.moving_variance)
        floor = 0.01 * float(np.mean(variance)) + 1e-6
        layer.moving_mean.assign((mean + rng.normal(0.0, 0.1, mean.shape) * np.sqrt(variance)).astype("float32"))
        layer.moving_variance.assign((np.maximum(variance, floor) * rng.uniform(1.0, 1.5, variance.shape))
                                     .astype("float32"))


def sample_inputs(arch: str) -> np.ndarray:
    size = INPUT_SIZE.get(arch, 32)
    return np.random.default_rng(SEED).uniform(0, 255, (SAMPLES, size, size, 3)).astype("float32")


def source_path(folder: Path, source: str) -> Path:
    return {"k3.keras": folder / "k3.keras", "k3.h5": folder / "k3.h5", "k3.export": folder / "k3_export",
            "k3.weights": folder / "k3.weights.h5", "k3.ckpt": folder / "k3_ckpt" / "ckpt", "k2.h5": folder / "k2.h5",
            "k2.savedmodel": folder / "k2_savedmodel", "k2.keras": folder / "k2.keras",
            "k2.ckpt": folder / "k2_ckpt" / "ckpt"}[source]


def save_sources(arch: str, folder: Path, sources: Sequence[str], inputs: np.ndarray
                 ) -> tuple[dict[str, tuple[Path, Path | None]], dict[str, np.ndarray], dict[str, str]]:
    """Saves the architecture in every requested source format.

    Returns:
        source -> (path, like); generation (``k3``/``k2``) -> the Keras prediction on ``inputs``; and
        source -> why it could not be saved (building a generation's model failing fails all its sources).
    """
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, tuple[Path, Path | None]] = {}
    references: dict[str, np.ndarray] = {}
    unsaved: dict[str, str] = {}
    for generation, module in (("k3", "keras"), ("k2", "tf_keras")):
        wanted = [s for s in sources if s.startswith(generation + ".")]
        if not wanted:
            continue
        try:
            K = __import__(module)
            model = build(arch, K)
            references[generation] = np.asarray(model(inputs, training=False))
        except Exception as error:  # the zoo cannot build it in this Keras: no source of that generation
            unsaved.update({s: f"{module} cannot build it ({type(error).__name__}: {_short(error)})" for s in wanted})
            continue
        # the sources other sources take their architecture from are saved first
        needed = dict.fromkeys([*(LIKE[s] for s in wanted if s in LIKE), *wanted])
        for source in needed:
            path = source_path(folder, source)
            try:
                _save(model, generation, source, path)
            except Exception as error:
                unsaved[source] = f"{module} cannot save it ({type(error).__name__}: {_short(error)})"
                continue
            like = source_path(folder, LIKE[source]) if source in LIKE else None
            if like is not None and LIKE[source] in unsaved:
                unsaved[source] = f"its --like source {LIKE[source]} was not saved"
            elif source in wanted:
                paths[source] = (path, like)
        del model
        gc.collect()
    return paths, references, unsaved


def _save(model: Any, generation: str, source: str, path: Path) -> None:
    if source == "k3.export":
        model.export(str(path), verbose=False)
    elif source in ("k3.weights", "k2.ckpt"):
        path.parent.mkdir(parents=True, exist_ok=True)
        model.save_weights(str(path))
    elif source == "k3.ckpt":  # what Keras 3 users write with TensorFlow's own checkpointing
        import tensorflow as tf

        tf.train.Checkpoint(model=model).write(str(path))
    elif source == "k2.savedmodel":
        model.save(str(path), save_format="tf")
    else:
        model.save(str(path))


# ---------------------------------------------------------------- one cell


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


def _out_path(work: Path, source: str, target: str, tool: str = CONVKIT) -> Path:
    stem = source.replace(".", "_") + ("_to" if tool == CONVKIT else f"_{tool}")
    return {"tfjs": work / f"{stem}_tfjs", "keras": work / f"{stem}.keras", "h5": work / f"{stem}.h5",
            "savedmodel": work / f"{stem}_savedmodel", "ckpt": work / f"{stem}_ckpt" / "ckpt",
            "onnx": work / f"{stem}.onnx", "tflite": work / f"{stem}.tflite"}[target]


def _command(command: list[str], timeout: float, env: dict[str, str] | None = None
             ) -> tuple[int | None, str, str, float]:
    """Runs ``command``; on timeout kills it and everything it started (Node children included).

    Returns: exit code (None on timeout), stdout, stderr, wall seconds.
    """
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, **(env or {})})
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_tree(process.pid)
        stdout, stderr = process.communicate()
        return None, stdout, stderr, _since(started)
    return process.returncode, stdout, stderr, _since(started)


def _process_table() -> tuple[dict[int, int], dict[int, int]]:
    """Every process's parent and resident bytes, from /proc."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents[int(entry)] = int(fields[1])
        rss[int(entry)] = int(fields[21]) * page
    return parents, rss


def _tree(pid: int, parents: dict[int, int]) -> list[int]:
    """``pid`` and all its descendants, parents first."""
    found, frontier = [pid], [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent and child not in found]
        found.extend(children)
        frontier.extend(children)
    return found


def _kill_tree(pid: int) -> None:
    """Kills ``pid`` and every process below it (a converter's Node server, a child's converter)."""
    for member in _tree(pid, _process_table()[0]):
        try:
            os.kill(member, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _tree_rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` and all its descendants."""
    parents, rss = _process_table()
    return sum(rss.get(member, 0) for member in _tree(pid, parents))


def _error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error: ")]
    return " ".join((errors or lines or [""])[-1].split())[:400]


def convert_command(src: Path, target: str, out: Path, like: Path | None) -> list[str]:
    """``convkit convert`` as users run it: the default route, verification on (this checkout's convkit: see
    :data:`CONVKIT_ENV`)."""
    command = [sys.executable, "-m", "convkit", "convert", str(src), "--to", target, "-o", str(out), "--overwrite",
               "--json"]
    return command + (["--like", str(like)] if like else [])


def anchor_command(tool: str, source: str, src: Path, out: Path) -> list[str] | None:
    """The usual tool's command on ``src``, or None when the source is not one of its inputs."""
    python = sys.executable
    if tool == "tensorflowjs_converter":
        if source not in TFJS_INPUT_FORMAT:
            return None
        kind = "tfjs_graph_model" if TFJS_INPUT_FORMAT[source] == "tf_saved_model" else "tfjs_layers_model"
        return [str(Path(python).parent / "tensorflowjs_converter"), "--input_format", TFJS_INPUT_FORMAT[source],
                "--output_format", kind, str(src), str(out)]
    if source in LIKE and source not in SAVED_MODEL_SOURCES:
        return None  # weights only
    saved_model = source in SAVED_MODEL_SOURCES
    if tool == "tf2onnx":
        return [python, "-m", "tf2onnx.convert", "--saved-model" if saved_model else "--keras", str(src),
                "--output", str(out), "--opset", "17"]
    if tool == "TFLiteConverter":
        return [python, "-c", TFLITE_SCRIPT, str(src), str(out), "saved_model" if saved_model else "keras"]
    raise ValueError(tool)


def anchor_applies(tool: str, source: str) -> bool:
    return anchor_command(tool, source, Path("in"), Path("out")) is not None


def run_cell(arch: str, source: str, target: str, tool: str, src: Path, like: Path | None, work: Path,
             inputs: np.ndarray, reference: np.ndarray, timeout: float) -> Case:
    """Converts ``src`` to ``target`` with ``tool``, then loads and runs the output and compares it."""
    out = _out_path(work, source, target, tool)
    _remove(out if target != "ckpt" else out.parent)
    env = None
    if tool == CONVKIT:
        command = convert_command(src, target, out, like)
        env = CONVKIT_ENV
    else:
        command = anchor_command(tool, source, src, out)  # type: ignore[assignment]
        if command is None:
            return Case(arch, source, target, "n/a", f"not a {tool} input", tool=tool)
        if source.startswith("k2."):
            env = {"TF_USE_LEGACY_KERAS": "1"}  # tf.keras is tf_keras, as for a tf_keras user
    code, stdout, stderr, seconds = _command(command, timeout, env)
    if code is None:
        return Case(arch, source, target, "timeout", f"conversion over {timeout:.0f} s", seconds=seconds, tool=tool)
    written = out.parent / "checkpoint" if target == "ckpt" else (out / "model.json" if target == "tfjs" else out)
    if code == 0 and not written.exists():
        return Case(arch, source, target, "BROKEN", "exit 0 without an output", seconds=seconds, tool=tool)
    if code != 0:
        detail = _error_line(stderr)
        unreadable = _keras_cannot_load(source, src)
        if unreadable:  # not a case: the Keras that wrote the file cannot read it back either
            return Case(arch, source, target, "n/a", f"Keras itself cannot load it ({unreadable}); {detail}",
                        seconds=seconds, tool=tool)
        return Case(arch, source, target, f"exit {code}", detail, seconds=seconds, tool=tool)
    kind = ""
    if tool == CONVKIT:
        try:
            kind = str(json.loads(stdout).get("kind", ""))
        except ValueError:
            kind = "?"
    started = time.perf_counter()
    try:
        got = _run_output(out, (like or src) if target == "ckpt" else None, inputs)
    except Exception as error:
        return Case(arch, source, target, "BROKEN", f"{type(error).__name__}: {_short(error)}", kind, seconds=seconds,
                    tool=tool, run_seconds=_since(started))
    finally:
        _clear_keras()
    passed, error_value = _compare(got, reference)
    if got.shape != reference.shape:
        return Case(arch, source, target, "BROKEN", f"output shape {got.shape}, Keras {reference.shape}", kind,
                    seconds=seconds, tool=tool, run_seconds=_since(started))
    return Case(arch, source, target, "ok" if passed else "DIFF", "" if passed else f"relative error {error_value:.2g}",
                kind, error_value, seconds, tool, _since(started))


def _keras_cannot_load(source: str, src: Path) -> str | None:
    """Why the Keras generation that wrote ``src`` cannot load it back (None when it can)."""
    if source in LIKE:
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
    finally:
        _clear_keras()
    return None


def _clear_keras() -> None:
    for module in ("keras", "tf_keras"):
        if module in sys.modules:
            sys.modules[module].backend.clear_session()
    gc.collect()


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        path.unlink()


# ---------------------------------------------------------------- the child: one architecture's cells


def worker(arch: str, cells: list[tuple[str, str, str]], work: Path, timeout: float, keep: bool) -> None:
    """Saves the sources ``cells`` need, then runs each cell; every event is one JSON line on stdout."""

    def emit(event: str, **data: Any) -> None:
        print(json.dumps({"event": event, **data}), flush=True)

    inputs = sample_inputs(arch)
    started = time.perf_counter()
    sources = list(dict.fromkeys(source for source, _, _ in cells))
    paths, references, unsaved = save_sources(arch, work, sources, inputs)
    emit("built", seconds=_since(started))
    for source, target, tool in cells:
        emit("begin", cell=[source, target, tool])
        if source in unsaved:
            case = Case(arch, source, target, "not built", unsaved[source], tool=tool)
        else:
            src, like = paths[source]
            case = run_cell(arch, source, target, tool, src, like, work, inputs, references[source[:2]], timeout)
            if not keep:
                out = _out_path(work, source, target, tool)
                _remove(out if target != "ckpt" else out.parent)
        emit("cell", case=asdict(case))


# ---------------------------------------------------------------- the parent: plan, watch, record


@dataclass(frozen=True)
class Group:
    """The cells one child runs: one architecture, in order."""

    arch: str
    cells: tuple[tuple[str, str, str], ...]  # (source, target, tool)


def plan(archs: Sequence[str], parameters: dict[str, int], *, sources: Sequence[str] | None = None,
         targets: Sequence[str] = TARGETS, anchors: bool = True, members: Sequence[str] | None = None) -> list[Group]:
    """The run's cells in the order they run.

    Without ``sources``: the main sources of every architecture (smallest first), then the other sources of the
    family members (``members``, default the smallest of each family). With ``sources``: those, for every
    architecture. Each architecture's anchor cells follow its convkit cells.
    """
    ordered = sorted(archs, key=lambda arch: (parameters.get(arch, 0), arch))
    members = family_members(ordered, parameters) if members is None else members

    def group(arch: str, chosen: Sequence[str]) -> Group:
        cells = [(source, target, CONVKIT) for source in chosen for target in targets]
        if anchors:
            cells += [(source, target, ANCHORS[target]) for source in chosen for target in targets
                      if target in ANCHORS and anchor_applies(ANCHORS[target], source)]
        return Group(arch, tuple(cells))

    if sources is not None:
        return [group(arch, sources) for arch in ordered]
    main = [group(arch, MAIN_SOURCES) for arch in ordered]
    others = [group(arch, [s for s in SOURCES if s not in MAIN_SOURCES]) for arch in ordered if arch in members]
    return main + others


def read_results(path: Path) -> list[Case]:
    """The cells of a results file, one JSON line each (a line cut short by a killed run is skipped); a cell run
    again (``--retry``) counts by its last line."""
    cases: dict[tuple[str, str, str, str], Case] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                case = Case(**json.loads(line))
            except (ValueError, TypeError):
                continue
            cases.pop(case.key, None)
            cases[case.key] = case
    return list(cases.values())


def _pump(stream: Any, lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def _event(line: str) -> dict[str, Any] | None:
    if not line.startswith("{"):
        return None
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) and "event" in event else None


_CHILDREN: set[int] = set()


def _stop(signum: int, frame: Any) -> None:
    """SIGTERM/SIGINT: the children's trees go too, and the results file keeps every finished cell."""
    for pid in list(_CHILDREN):
        _kill_tree(pid)
    sys.exit(128 + signum)


def run_group(group: Group, work: Path, record: Callable[[Case], None], *, timeout: float = CELL_TIMEOUT_SECONDS,
              memory_limit_gib: float = MEMORY_LIMIT_GIB, keep: bool = False) -> None:
    """Runs a group's cells in children, restarting one after a cell it died on; records every cell."""
    pending = list(group.cells)
    while pending:
        folder = work / group.arch
        log_path = work / f"{group.arch}.stderr"
        command = [sys.executable, __file__, "--worker", group.arch, "--cells", json.dumps(pending),
                   "--work", str(folder), "--cell-timeout", str(timeout)] + (["--keep"] if keep else [])
        # The worker's and its converters' temporary files: a tree killed over its memory limit cleans nothing.
        temporary = work / f"{group.arch}.tmp"
        temporary.mkdir(parents=True, exist_ok=True)
        with log_path.open("w") as log_file:
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log_file, text=True,
                                       env={**os.environ, "TMPDIR": str(temporary)})
            _CHILDREN.add(process.pid)
            lines: queue.Queue[str | None] = queue.Queue()
            threading.Thread(target=_pump, args=(process.stdout, lines), daemon=True).start()
            current: tuple[str, str, str] | None = None
            began = time.monotonic()
            deadline = began + BUILD_TIMEOUT_SECONDS
            verdict = ""
            while True:
                try:
                    line = lines.get(timeout=2.0)
                except queue.Empty:
                    line = ""
                if line is None:
                    break
                event = _event(line)
                if event:
                    if event["event"] == "begin":
                        current = tuple(event["cell"])
                        began = time.monotonic()
                        deadline = began + timeout + RUN_ALLOWANCE_SECONDS
                    elif event["event"] == "cell":
                        case = Case(**event["case"])
                        record(case)
                        pending.remove((case.source, case.target, case.tool))
                        current = None
                if time.monotonic() > deadline:
                    verdict = "timeout"
                elif _tree_rss_bytes(process.pid) > memory_limit_gib * 2**30:
                    verdict = "memory"
                if verdict:
                    _kill_tree(process.pid)
                    break
            _kill_tree(process.pid)  # what the child left running (a Node server, a converter)
            process.wait()
            _CHILDREN.discard(process.pid)
        shutil.rmtree(temporary, ignore_errors=True)
        tail = _error_line(log_path.read_text(errors="replace")) if log_path.exists() else ""
        seconds = round(time.monotonic() - began, 1)
        if verdict == "timeout":
            detail = f"over {timeout + RUN_ALLOWANCE_SECONDS:.0f} s" if current else "building the sources timed out"
        elif verdict == "memory":
            detail = f"over {memory_limit_gib:g} GiB"
        else:
            detail = f"the zoo's child died (exit {process.returncode}): {tail}"
        if current is not None:
            source, target, tool = current
            record(Case(group.arch, source, target, verdict or "crash", detail, seconds=seconds, tool=tool))
            pending.remove(current)
        elif pending:  # died or stalled before its first cell: nothing of this group can run
            for source, target, tool in pending:
                record(Case(group.arch, source, target, "not built", f"building the sources: {verdict or 'crash'}: "
                            f"{detail}", tool=tool))
            pending = []
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)


def run(archs: Sequence[str], sources: Sequence[str] | None = MAIN_SOURCES, targets: Sequence[str] = TARGETS, *,
        work: Path | None = None, anchor: bool = True, log: Callable[[str], None] | None = None,
        results: Path | None = None, parameters: dict[str, int] | None = None, members: Sequence[str] | None = None,
        timeout: float = CELL_TIMEOUT_SECONDS, memory_limit_gib: float = MEMORY_LIMIT_GIB,
        after_group: Callable[[], None] | None = None, retry: Sequence[str] = ()) -> ZooResult:
    """Runs the zoo's cells on ``archs`` (``sources=None``: the full plan); returns every cell of this run.

    With ``results``, each finished cell is appended there as a JSON line and cells already there are skipped,
    but for those whose status is in ``retry`` (``memory``: a run given more memory), which run again.
    """
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    total = ZooResult()
    done = {case.key for case in read_results(results) if case.status not in retry} if results else set()
    if results and results.is_file() and results.stat().st_size:
        with results.open("rb+") as stream:  # a line cut short by a killed run: the next cell starts a line of its own
            stream.seek(-1, os.SEEK_END)
            if stream.read(1) != b"\n":
                stream.write(b"\n")
    groups = plan(archs, parameters or {arch: 0 for arch in archs}, sources=sources, targets=targets, anchors=anchor,
                  members=members)

    def record(case: Case) -> None:
        total.add(case)
        if results:
            with results.open("a") as stream:
                stream.write(json.dumps(asdict(case)) + "\n")
        tool = "" if case.tool == CONVKIT else f"({case.tool}) "
        log(f"{case.arch:18} {case.source:13} -> {case.target:10} {tool}{case.status:9} {case.kind:16} "
            f"{case.seconds:6.1f}s {case.run_seconds:5.1f}s {case.detail[:150]}")

    with tempfile.TemporaryDirectory(prefix="convkit-zoo-") as scratch:
        base = Path(work) if work else Path(scratch)
        base.mkdir(parents=True, exist_ok=True)
        for group in groups:
            cells = tuple(cell for cell in group.cells if (group.arch, *cell) not in done)
            if cells:
                run_group(Group(group.arch, cells), base, record, timeout=timeout, memory_limit_gib=memory_limit_gib,
                          keep=work is not None)
                if after_group:
                    after_group()
    return total


# ---------------------------------------------------------------- the tables


def render(result: ZooResult, targets: Sequence[str]) -> str:
    """A Markdown table: one row per (architecture, source), one column per target, each anchor beside its target."""
    return "\n".join(_source_table(result.cases + result.anchor, targets, list(dict.fromkeys(
        (c.arch, c.source) for c in result.cases + result.anchor))))


def _columns(targets: Sequence[str], tools: set[str]) -> list[tuple[str, str]]:
    columns = []
    for target in targets:
        columns.append((target, CONVKIT))
        if target in ANCHORS and ANCHORS[target] in tools:
            columns.append((target, ANCHORS[target]))
    return columns


def _header(columns: list[tuple[str, str]], first: list[str]) -> list[str]:
    names = [f"-> {target}" if tool == CONVKIT else f"{tool} -> {target}" for target, tool in columns]
    return ["| " + " | ".join(first + names) + " |", "|" + "---|" * (len(first) + len(names))]


def _source_table(cases: list[Case], targets: Sequence[str], rows: list[tuple[str, str]],
                  tools: set[str] | None = None) -> list[str]:
    by = {case.key: case for case in cases}
    columns = _columns(targets, tools if tools is not None else {case.tool for case in cases})
    lines = _header(columns, ["architecture", "source"])
    for arch, source in rows:
        cells = []
        for target, tool in columns:
            case = by.get((arch, source, target, tool))
            cells.append(case.cell if case else ("" if tool != CONVKIT and not anchor_applies(tool, source) else "-"))
        lines.append("| " + " | ".join([arch, source, *cells]) + " |")
    return lines


def report(cases: list[Case], archs: Sequence[str], parameters: dict[str, int]) -> str:
    """The README's tables of a results file: the main sources of every architecture, then the family members'
    every source, and the counts against the whole plan."""
    by = {case.key: case for case in cases}
    full = plan(archs, parameters)
    planned = [(group.arch, *cell) for group in full for cell in group.cells]
    ordered = sorted(archs, key=lambda arch: (parameters.get(arch, 0), arch))
    members = family_members(ordered, parameters)
    columns = _columns(TARGETS, set(ANCHORS.values()))
    lines = summary_lines(cases, planned)
    lines += ["", "Main sources, every architecture, smallest first: each cell is Keras 3 `.keras` / tf_keras `.h5` "
              "(`-` not yet run).", ""]
    lines += _header(columns, ["architecture", "parameters"])
    for arch in ordered:
        row = [arch, _count(parameters[arch]) if arch in parameters else "?"]
        for target, tool in columns:
            pair = [by.get((arch, source, target, tool)) for source in MAIN_SOURCES]
            row.append(" / ".join(case.cell if case else "-" for case in pair))
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "<details><summary>Every source, the smallest member of each family (blank: not an input of that "
                  "tool)</summary>", ""]
    lines += _source_table(cases, TARGETS, [(arch, source) for arch in members for source in SOURCES],
                           set(ANCHORS.values()))
    return "\n".join(lines + ["", "</details>"])


def _count(parameters: int) -> str:
    return f"{parameters / 1e6:.1f} M" if parameters >= 1e6 else f"{parameters / 1e3:.0f} k"


def summary_lines(cases: list[Case], planned: Sequence[tuple[str, str, str, str]] = ()) -> list[str]:
    """Counts per tool: ok of the cells run, each failure kind, the cells not yet run, timing."""
    recorded = {case.key for case in cases}
    lines = []
    for tool in (CONVKIT, *ANCHORS.values()):
        mine = [case for case in cases if case.tool == tool]
        run_cases = [case for case in mine if case.status not in NOT_A_CASE]
        ok = sum(case.status == "ok" for case in run_cases)
        kinds: dict[str, int] = {}
        for case in run_cases:
            if case.status != "ok":
                kinds[case.status] = kinds.get(case.status, 0) + 1
        share = f" ({100 * ok / len(run_cases):.1f}%)" if run_cases else ""
        others = ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items()))
        missing = sum(1 for key in planned if key[3] == tool and key not in recorded)
        skipped = len(mine) - len(run_cases)
        name = "convkit" if tool == CONVKIT else f"{tool} (anchor)"
        text = f"- {name}: {ok}/{len(run_cases)} cells load, run and match{share}"
        if tool == CONVKIT:  # exit 0 and an output that does not load, run or match: the case that must not be
            diff = kinds.pop("DIFF", 0)
            text += f"; BROKEN {kinds.pop('BROKEN', 0) + diff}" + (f" ({diff} of them DIFF)" if diff else "")
            others = ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items()))
        text += f"; {others}" if others else ""
        unbuilt = sum(case.status == "not built" for case in mine)
        text += f"; {skipped - unbuilt} n/a" if skipped - unbuilt else ""
        text += f"; {unbuilt} not built" if unbuilt else ""
        text += f"; {missing} of {sum(1 for key in planned if key[3] == tool)} planned not yet run" if planned else ""
        seconds = [case.seconds for case in run_cases if case.seconds]
        if seconds:
            text += f"; conversion median {statistics.median(seconds):.1f} s, max {max(seconds):.0f} s"
            whole = [case.seconds + case.run_seconds for case in run_cases if case.seconds]
            text += f" (with the run: median {statistics.median(whole):.1f} s, max {max(whole):.0f} s)"
        lines.append(text)
    return lines + speed_lines(cases)


def speed_lines(cases: list[Case]) -> list[str]:
    """Per anchor: convkit's conversion time (verification included) against the tool's, on the cells where
    both ran and matched, and over the same sources and targets."""
    ok = {case.key: case for case in cases if case.status == "ok" and case.seconds}
    lines = []
    for target, tool in ANCHORS.items():
        pairs = [(ok[(arch, source, target_, CONVKIT)].seconds, case.seconds)
                 for (arch, source, target_, tool_), case in ok.items()
                 if tool_ == tool and target_ == target and (arch, source, target, CONVKIT) in ok]
        if not pairs:
            continue
        mine, theirs = sum(pair[0] for pair in pairs), sum(pair[1] for pair in pairs)
        ratios = [pair[1] / pair[0] for pair in pairs]
        lines.append(f"- speed to {target}, the {len(pairs)} cells where both matched: convkit {mine:.0f} s "
                     f"(verification included), {tool} {theirs:.0f} s: {theirs / mine:.2f}x convkit's time "
                     f"(per cell: median {statistics.median(ratios):.2f}x, {min(ratios):.2f}x to {max(ratios):.2f}x)")
    return lines


def failures(cases: list[Case]) -> list[str]:
    """convkit's cells that did not load, run and match, with what was said."""
    return [f"- {case.arch} {case.source} -> {case.target}: {case.status}: {case.detail}"
            for case in cases if case.tool == CONVKIT and case.status not in ("ok", *NOT_A_CASE)]


def write_report(results: Path, markdown: Path | None, archs: Sequence[str], parameters: dict[str, int],
                 readme: Path | None = None) -> str:
    cases = read_results(results)
    text = report(cases, archs, parameters)
    failed = failures(cases)
    if failed:
        text += "\n\nconvkit's cells that did not load, run and match:\n\n" + "\n".join(failed)
    if markdown:
        markdown.write_text(text + "\n")
    if readme:
        planned = sum(len(group.cells) for group in plan(archs, parameters))
        update_readme(readme, text, cases, planned)
    return text


README_BEGIN, README_END = "<!-- zoo:begin -->", "<!-- zoo:end -->"


def update_readme(readme: Path, text: str, cases: list[Case], planned: int) -> None:
    """Puts the report between the README's zoo markers, with how many cells it holds."""
    content = readme.read_text()
    start, end = content.index(README_BEGIN) + len(README_BEGIN), content.index(README_END)
    done = len({case.key for case in cases})
    status = "every planned cell" if done >= planned else f"{done} of the {planned} planned cells so far"
    stamp = time.strftime("%Y-%m-%d", time.gmtime())
    readme.write_text(content[:start] + f"\n\nResults of `make zoo` ({stamp}, {status}):\n\n{text}\n\n" + content[end:])


# ---------------------------------------------------------------- the command line


def _short(error: BaseException) -> str:
    return " ".join(str(error).split())[:300]


def _since(started: float) -> float:
    return round(time.perf_counter() - started, 1)


def _split(values: Sequence[str] | str | None) -> list[str]:
    items = [values] if isinstance(values, str) else list(values or [])
    return [name for item in items for name in item.split(",") if name]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", action="append", default=[], help="architecture (repeatable or comma-separated)")
    parser.add_argument("--quick", action="store_true", help="the family members' main sources only")
    parser.add_argument("--sources", help=f"comma-separated subset of {','.join(SOURCES)}, for every architecture")
    parser.add_argument("--targets", help=f"comma-separated subset of {','.join(TARGETS + EXTRA_TARGETS)}")
    parser.add_argument("--no-anchor", action="store_true", help="convkit's cells only")
    parser.add_argument("--results", type=Path, default=RESULTS, help="the JSON-lines results file (resumed)")
    parser.add_argument("--markdown", type=Path, default=MARKDOWN, help="where the report is written")
    parser.add_argument("--fresh", action="store_true", help="start the results file again")
    parser.add_argument("--retry", help="comma-separated statuses whose cells run again (memory,timeout,crash)")
    parser.add_argument("--report", action="store_true", help="print the tables of the results file and stop")
    parser.add_argument("--readme", type=Path, help=f"with --report: also put them between {README_BEGIN} and "
                        f"{README_END} in this file")
    parser.add_argument("--cell-timeout", type=float, default=CELL_TIMEOUT_SECONDS, help="seconds per conversion")
    parser.add_argument("--memory-limit", type=float, default=MEMORY_LIMIT_GIB, help="GiB per child, all processes")
    parser.add_argument("--work", type=Path, help="keep every file under this folder")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--cells", help=argparse.SUPPRESS)
    parser.add_argument("--keep", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--count-parameters", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.count_parameters:
        print(json.dumps(_count_parameters()))
        return 0
    if args.worker:
        cells = [tuple(cell) for cell in json.loads(args.cells)]
        worker(args.worker, cells, args.work, args.cell_timeout, args.keep)
        return 0
    parameters = parameter_counts()
    everything = list(parameters)
    if args.report:
        print(write_report(args.results, args.markdown, everything, parameters, args.readme))
        return 0
    archs = _split(args.arch) or (family_members(everything, parameters) if args.quick else everything)
    sources = _split(args.sources) or (list(MAIN_SOURCES) if args.quick else None)
    members = family_members(everything, parameters)
    targets = _split(args.targets) or list(TARGETS)
    unknown = [s for s in sources or () if s not in SOURCES] + [t for t in targets if t not in TARGETS + EXTRA_TARGETS]
    unknown += [a for a in archs if a not in everything]
    if unknown:
        parser.error(f"unknown architecture, source or target: {', '.join(unknown)}")
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if args.fresh:
        args.results.unlink(missing_ok=True)
    args.results.parent.mkdir(parents=True, exist_ok=True)

    def refresh() -> None:
        if args.markdown:
            write_report(args.results, args.markdown, everything, parameters)

    result = run(archs, sources, targets, work=args.work, anchor=not args.no_anchor, results=args.results,
                 parameters=parameters, members=members, timeout=args.cell_timeout, memory_limit_gib=args.memory_limit,
                 after_group=refresh, retry=_split(args.retry))
    print(write_report(args.results, args.markdown, everything, parameters))
    return 1 if any(case.status == "BROKEN" for case in result.cases) else 0


if __name__ == "__main__":
    sys.exit(main())
