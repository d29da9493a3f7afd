"""One fuzz target per reader: seed files, how to damage them, and what to run on the result.

Seeds are the tiny real models in fixtures/hostile/good (written by tf_keras,
Keras 3 and tensorflowjs), and for ONNX and TFLite a tiny model written at run
time by the ``onnx`` package's helpers and by TensorFlow's TFLite converter
(once per work folder). Each input copies a seed into a work folder,
applies byte-level or structure-aware mutations (JSON values, protobuf fields,
LevelDB entries with valid CRCs, HDF5 datasets and attributes, zip members),
then runs every TensorFlow-free reader convkit has for the format: detection,
``inspect`` (with weights and CRC verification) and its rendering to text and
JSON, the contract readers, and the conversion engine's reader into the in-memory model with
every weight read. A ``ConvkitError`` is a correct answer; any other exception
is a finding.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import traceback
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from tests.fuzz._mutate import (
    HOSTILE_TEXT,
    Chooser,
    mutate_bytes,
    mutate_json_document,
    mutate_json_text,
    mutate_message,
    write_table,
)

ROOT = Path(__file__).resolve().parents[2]
GOOD = ROOT / "fixtures" / "hostile" / "good"
# The rich text view costs ~100x the reading; draw it for one input in this many.
DRAW_ONE_IN = 8


@dataclass(frozen=True)
class Target:
    """A reader under fuzz.

    Attributes:
        name: the registry name of the format (``inputs``: the input loader's files).
        seed: folder or file under fixtures/hostile/good copied into the work folder.
        entry: the path (relative to the work folder) handed to the readers.
        mutate: damages the work folder in place.
        exercise: runs the readers on ``work/entry`` (drawing the text view when asked);
            returns how many refused the input, or raises.
        make_seed: writes the seed file at the path given, for seeds made at run time
            instead of taken from fixtures/hostile/good; None: a fixture.
    """

    name: str
    seed: str
    entry: str
    mutate: Callable[[Path, Chooser], None]
    exercise: Callable[[Path, bool], int]
    make_seed: Callable[[Path], None] | None = None


@dataclass(frozen=True)
class Trial:
    """What one input did: ``ok``, ``rejected`` (a ConvkitError) or ``finding`` (anything else)."""

    outcome: str
    signature: str = ""
    detail: str = ""


# ------------------------------------------------------------------ running readers


def _show(document: dict[str, Any], draw: bool) -> None:
    """What the CLI does with a report: ``--json`` always; the rich text view when ``draw`` (it is slow)."""
    from rich.console import Console

    from convkit.cli._common import _json_default
    from convkit.formats import _render

    json.dumps(document, default=_json_default)
    if draw:
        _render.render(document, Console(file=io.StringIO(), width=120), tree=True)


def _read_all(path: Path, like: Path | None = None, fmt: str | None = None) -> None:
    from convkit.runtimes.keras.read import read_model

    with contextlib.ExitStack() as stack:
        model = read_model(path, stack, like=like, fmt=fmt)
        for weight in model.weights():
            weight.read()


def _steps(*steps: Callable[[], Any]) -> int:
    """Runs every step; a ConvkitError ends only its own step. Returns how many steps refused the input.

    Any other exception propagates: it is a finding.
    """
    from convkit.errors import ConvkitError

    refused = 0
    for step in steps:
        try:
            step()
        except ConvkitError:
            refused += 1
    return refused


def _detect(path: Path) -> None:
    from convkit.registry import detect

    detect(path)


def _like_h5(work: Path) -> Path:
    return work / "like" / "tiny_k2.h5"


def _like_keras(work: Path) -> Path:
    return work / "like" / "tiny_k3.keras"


def run_trial(target: Target, work: Path, chooser: Chooser) -> Trial:
    """Copies the seed into ``work``, mutates it, runs the readers and classifies what happened."""
    shutil.rmtree(work / "seed", ignore_errors=True)
    if not (work / "like").is_dir():  # the architectures for weights-only files are never mutated: copy once
        (work / "like").mkdir(parents=True)
        shutil.copyfile(GOOD / "tiny_k2.h5", _like_h5(work))
        shutil.copyfile(GOOD / "tiny_k3.keras", _like_keras(work))
    seed = _seed(target, work)
    if seed.is_dir():
        shutil.copytree(seed, work / "seed")
    else:
        (work / "seed").mkdir()
        shutil.copyfile(seed, work / "seed" / seed.name)
    with contextlib.suppress(Exception):  # an edit h5py or zipfile refuses: keep the input as far as it got
        target.mutate(work / "seed", chooser)
    draw = chooser.integer(0, DRAW_ONE_IN - 1) == 0
    try:
        refused = target.exercise(work / "seed" / target.entry if target.entry else work / "seed", draw)
    except Exception as error:
        return Trial("finding", _signature(error), _detail(error))
    return Trial("rejected" if refused else "ok")


def _seed(target: Target, work: Path) -> Path:
    if target.make_seed is None:
        return GOOD / target.seed
    made = work / "made" / target.seed
    if not made.exists():
        made.parent.mkdir(parents=True, exist_ok=True)
        target.make_seed(made)
    return made


def _signature(error: BaseException) -> str:
    """Exception type plus the innermost convkit frame: one signature per distinct bug."""
    frames = traceback.extract_tb(error.__traceback__)
    ours = [f for f in frames if "/convkit/" in f.filename]
    where = f"{Path(ours[-1].filename).name}:{ours[-1].lineno}" if ours else "outside convkit"
    return f"{type(error).__name__} at {where}"


def _detail(error: BaseException) -> str:
    text = "".join(traceback.format_exception(type(error), error, error.__traceback__)[-8:])
    return text[-3000:]


# ------------------------------------------------------------------ hostile classes every target mixes in

# Objects that run code when a Keras config is deserialised; injected anywhere in a config, each
# must make the code policy refuse the file (an injected object that passes is a finding).
CODE_OBJECTS = (
    {"module": "os", "class_name": "function", "config": "system", "registered_name": "system"},
    {"module": "subprocess", "class_name": "Popen", "config": {"args": ["true"]}, "registered_name": None},
    {"class_name": "__lambda__", "config": {"code": "4wEAAAAAAAAA", "defaults": None, "closure": None}},
    {"class_name": "Lambda", "config": {"name": "lam", "function": ["4wE=", None, None], "function_type": "lambda"}},
    {"module": "keras.src.saving.saving_lib", "class_name": "function", "config": "load_model"},
    {"class_name": "TFOpLambda", "config": {"name": "w", "function": "io.write_file"}},
    {"module": "builtins", "class_name": "function", "config": "eval", "registered_name": None},
    {"module": None, "class_name": "Thing", "config": {}, "registered_name": "evil>Thing"},
)
INJECTED = ".code-injected"
HUGE_INT = "9" * 5000


def inject_code(config: Any, chooser: Chooser) -> Any:
    """``config`` with one nested value (a layer field, an initializer, the config itself) replaced by code.

    Never inside a training configuration (``compile_config``, ``training_config``): code there is left out of
    every output with a warning, not refused (``tests/convert/test_training_objects.py``).
    """
    from convkit.policy.code import TRAINING_KEYS

    places: list[tuple[Any, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            kept = [key for key in node if key not in TRAINING_KEYS]
            places.extend((node, key) for key in kept)
            for key in kept:
                walk(node[key])
        elif isinstance(node, list):
            places.extend((node, index) for index in range(len(node)))
            for value in node:
                walk(value)

    walk(config)
    code = json.loads(json.dumps(chooser.choice(CODE_OBJECTS)))
    if not places:
        return code
    owner, key = chooser.choice(places)
    owner[key] = code
    return config


def json_with_huge_int(text: bytes, chooser: Chooser) -> bytes:
    """A JSON text with one number replaced by an integer over Python's 4300-digit limit."""
    import re

    numbers = list(re.finditer(rb"(?<![\w.])\d+(?![\w.])", text))
    if not numbers:
        return text
    match = chooser.choice(numbers)
    return text[: match.start()] + HUGE_INT.encode() + text[match.end():]


def special_entry(folder: Path, chooser: Chooser) -> None:
    """Replaces a file of the model folder by a link (outside, to a device) or a FIFO."""
    import os

    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink())
    if not files:
        return
    victim = chooser.choice(files)
    victim.unlink()
    kind = chooser.integer(0, 2)
    if kind == 0:
        victim.symlink_to("/dev/zero")
    elif kind == 1:
        victim.symlink_to(GOOD / "tiny_k2.h5")
    else:
        os.mkfifo(victim)


def _screen_oracle(path: Path, fmt: str) -> None:
    """The code policy on ``path``; where code was injected it must refuse, or that is a finding."""
    from convkit.errors import ConvkitError
    from convkit.policy import screening

    folder = path if path.is_dir() else path.parent
    if not (folder / INJECTED).exists():
        screening.screen(path, fmt, allow_unsafe=False)
        return
    try:
        screening.screen(path, fmt, allow_unsafe=False)
    except ConvkitError:
        raise
    raise AssertionError(f"{path}: code injected into its config passed the code policy")


def _mark_injected(folder: Path) -> None:
    (folder / INJECTED).write_text("")


# ------------------------------------------------------------------ checkpoint


def _mutate_checkpoint(folder: Path, chooser: Chooser) -> None:
    from convkit.containers import protobuf
    from convkit.containers.tensor_bundle import read_table

    index = folder / "ckpt.index"
    data = folder / "ckpt.data-00000-of-00001"
    mode = chooser.integer(0, 5)
    if mode == 0:
        index.write_bytes(mutate_bytes(index.read_bytes(), chooser))
    elif mode == 1:
        data.write_bytes(mutate_bytes(data.read_bytes(), chooser))
    elif mode == 2:
        state = folder / "checkpoint"
        state.write_bytes(mutate_bytes(state.read_bytes(), chooser) if chooser.boolean() else
                          f'model_checkpoint_path: "{chooser.choice(HOSTILE_TEXT)}"\n'.encode())
    else:  # structure-aware: decode the table, change entries, write it back with valid CRCs
        pairs = read_table(index)
        for _ in range(chooser.integer(1, 3)):
            position = chooser.integer(0, len(pairs) - 1)
            key, value = pairs[position]
            op = chooser.integer(0, 4)
            if op <= 2:
                message = protobuf.parse("BundleHeaderProto" if key == b"" else "BundleEntryProto", value)
                pairs[position] = (key, mutate_message(message, chooser).SerializeToString())
            elif op == 3:
                pairs[position] = (mutate_bytes(key, chooser, 2) if key else key, value)
            else:
                del pairs[position]
                if not pairs:
                    break
        index.write_bytes(write_table(sorted(pairs)) if chooser.integer(0, 5) else write_table(pairs))


def _exercise_checkpoint(prefix: Path, draw: bool) -> int:
    from convkit.formats import checkpoint

    folder = prefix.parent
    return _steps(
        lambda: _detect(prefix),
        lambda: _show(checkpoint.inspect(prefix, weights=True, verify_crc=True).to_dict(), draw),
        lambda: _show(checkpoint.inspect(folder).to_dict(), draw),
        lambda: list(checkpoint.iter_tensors(prefix)),
        lambda: checkpoint.read_object_graph(prefix),
        lambda: _read_all(prefix, like=_like_h5(folder.parent), fmt="ckpt"),
    )


# ------------------------------------------------------------------ HDF5


def _mutate_hdf5(folder: Path, chooser: Chooser) -> None:
    path = folder / "tiny_k2.h5"
    mode = chooser.integer(0, 5)
    if mode <= 1:
        path.write_bytes(mutate_bytes(path.read_bytes(), chooser))
        return
    import h5py
    import numpy as np

    with h5py.File(path, "r+") as h5:
        if mode == 5:
            h5.attrs["model_config"] = json.dumps(inject_code(json.loads(h5.attrs["model_config"]), chooser))
            _mark_injected(folder)
            return
        if mode == 2:
            config = json.loads(h5.attrs["model_config"])
            h5.attrs["model_config"] = json.dumps(mutate_json_document(config, chooser))
            return
        datasets: list[str] = []
        groups: list[str] = []
        h5.visititems(lambda name, obj: (datasets if isinstance(obj, h5py.Dataset) else groups).append(name))
        if mode == 3 and datasets:
            name = chooser.choice(datasets)
            del h5[name]
            op = chooser.integer(0, 3)
            if op == 0:
                return  # missing dataset
            shape = tuple(chooser.choice((0, 1, 2, 3, 4, 7, 1 << 16, 1 << 31)) for _ in range(chooser.integer(0, 4)))
            dtype = chooser.choice(("float32", "float64", "int8", "float16", "S4", "bool", "complex64"))
            if op == 1 and np.prod(shape, dtype=object) <= 4096:
                h5.create_dataset(name, data=np.zeros(shape, dtype=dtype))
            else:
                chunks = tuple(1 for _ in shape) if shape and all(shape) else None
                h5.create_dataset(name, shape=shape, dtype=dtype, chunks=chunks)
        else:
            owner = h5[chooser.choice(groups)] if groups and chooser.boolean() else h5
            attribute = chooser.choice(("layer_names", "weight_names", "keras_version", "backend", "model_config",
                                        "training_config"))
            value = chooser.choice((
                np.array([b"dense", b"nope"]), np.array([], dtype="S1"), b"", "2.19.0", "3.15.1", 7,
                np.array([1, 2, 3]), np.array([chooser.choice(HOSTILE_TEXT).encode()]), "[" * 3000,
            ))
            owner.attrs[attribute] = value


def _exercise_hdf5(path: Path, draw: bool) -> int:
    from convkit.formats import hdf5

    like = _like_h5(path.parent.parent)
    return _steps(
        lambda: _detect(path),
        lambda: _show(hdf5.inspect(path, weights=True).to_dict(), draw),
        lambda: _screen_oracle(path, "h5"),
        lambda: _read_all(path, like=like, fmt="h5"),
    )


# ------------------------------------------------------------------ .keras


def _mutate_keras(folder: Path, chooser: Chooser) -> None:
    path = folder / "tiny_k3.keras"
    mode = chooser.integer(0, 7)
    if mode == 0:
        path.write_bytes(mutate_bytes(path.read_bytes(), chooser))
        return
    with zipfile.ZipFile(path) as archive:
        members = [(info.filename, archive.read(info)) for info in archive.infolist()]
    if mode in (1, 2):
        members = [(n, mutate_json_text(d, chooser) if n == "config.json" else d) for n, d in members]
    elif mode == 3:
        members = [(n, mutate_bytes(d, chooser) if n == "model.weights.h5" else d) for n, d in members]
    elif mode == 4:
        members = [(n, mutate_json_text(d, chooser) if n == "metadata.json" else d) for n, d in members]
    elif mode == 6:
        members = [(n, json.dumps(inject_code(json.loads(d), chooser)).encode() if n == "config.json" else d)
                   for n, d in members]
        _mark_injected(folder)
    elif mode == 7:
        members = [(n, json_with_huge_int(d, chooser) if n.endswith(".json") else d) for n, d in members]
    else:
        op = chooser.integer(0, 2)
        if op == 0:
            members.append((chooser.choice(HOSTILE_TEXT[1:8]) or "x", chooser.raw(64)))
        elif op == 1:
            members = [m for m in members if m[0] != chooser.choice(("config.json", "model.weights.h5", "metadata.json"))]
        else:
            members.append((chooser.choice(("config.json", "model.weights.h5")), chooser.raw(64)))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(2025, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED if chooser.integer(0, 3) == 0 else zipfile.ZIP_STORED
            with contextlib.suppress(Exception):
                archive.writestr(info, data)
    path.write_bytes(buffer.getvalue())


def _exercise_keras(path: Path, draw: bool) -> int:
    from convkit.formats import keras_archive

    return _steps(
        lambda: _detect(path),
        lambda: _show(keras_archive.inspect(path, weights=True).to_dict(), draw),
        lambda: _screen_oracle(path, "keras"),
        lambda: _read_all(path, fmt="keras"),
    )


# ------------------------------------------------------------------ TF.js


def _mutate_tfjs(folder: Path, chooser: Chooser) -> None:
    model_json = folder / "model.json"
    shard = folder / "group1-shard1of1.bin"
    mode = chooser.integer(0, 7)
    if mode == 5:
        special_entry(folder, chooser)
        return
    if mode == 6:
        model_json.write_bytes(json_with_huge_int(model_json.read_bytes(), chooser))
        return
    if mode == 7:
        document = json.loads(model_json.read_text())
        document["modelTopology"] = inject_code(document["modelTopology"], chooser)
        model_json.write_text(json.dumps(document))
        _mark_injected(folder)
        return
    if mode <= 2:
        model_json.write_bytes(mutate_json_text(model_json.read_bytes(), chooser) if mode < 2
                               else mutate_bytes(model_json.read_bytes(), chooser))
    elif mode == 3:
        shard.write_bytes(mutate_bytes(shard.read_bytes(), chooser))
    else:
        document = json.loads(model_json.read_text())
        group = document["weightsManifest"][0]
        weight = chooser.choice(group["weights"])
        op = chooser.integer(0, 5)
        if op == 4:
            weight["name"] = chooser.choice(group["weights"])["name"]  # two weights, one name
        elif op == 5:
            document["signature"] = {"inputs": {"x": {"tensorShape": {"dim": [
                {"size": chooser.choice(("abc", "-1", "4", None, 7, [], "9" * 30))}]}}}}
        elif op == 0:
            weight["quantization"] = {"dtype": chooser.choice(("uint8", "uint16", "float16", "int8", "bool", "x")),
                                      "scale": chooser.choice((1.0, 0.0, -1, "x")), "min": chooser.choice((0, "y", None))}
        elif op == 1:
            weight["dtype"] = chooser.choice(("float32", "int32", "bool", "string", "complex64", "float64", "uint8"))
        elif op == 2:
            weight["shape"] = [chooser.choice((0, 1, 3, 4, -1, 1 << 20, 1 << 40)) for _ in range(chooser.integer(0, 5))]
        else:
            group["paths"] = [chooser.choice(HOSTILE_TEXT) for _ in range(chooser.integer(0, 3))]
        model_json.write_text(json.dumps(document))


def _exercise_tfjs(folder: Path, draw: bool) -> int:
    from convkit.formats import tfjs

    return _steps(
        lambda: _detect(folder),
        lambda: _show(tfjs.inspect(folder, weights=True).to_dict(), draw),
        lambda: list(tfjs.iter_weights(folder)),
        lambda: _screen_oracle(folder, "tfjs"),
        lambda: _read_all(folder, fmt="tfjs"),
    )


# ------------------------------------------------------------------ SavedModel


def _mutate_saved_model(folder: Path, chooser: Chooser) -> None:
    from convkit.containers import protobuf

    pb = folder / "saved_model.pb"
    mode = chooser.integer(0, 6)
    if mode == 5:
        special_entry(folder, chooser)
        return
    if mode == 6:  # a file, process or Python op in the graph or in one library function
        from convkit.policy.graph_ops import RISKY_OPS

        message = protobuf.parse("SavedModel", pb.read_bytes())
        graph = message.meta_graphs[0].graph_def
        functions = list(graph.library.function)
        holder = chooser.choice(functions).node_def if functions and chooser.boolean() else graph.node
        holder.add(name="injected", op=chooser.choice(sorted(RISKY_OPS | {"SaveV2", "RestoreV2"})))
        pb.write_bytes(message.SerializeToString())
        _mark_injected(folder)
        return
    if mode <= 1:
        pb.write_bytes(mutate_bytes(pb.read_bytes(), chooser))
    elif mode <= 3:
        message = protobuf.parse("SavedModel", pb.read_bytes())
        pb.write_bytes(mutate_message(message, chooser, max_ops=6).SerializeToString())
    else:
        victim = folder / "variables" / chooser.choice(("variables.index", "variables.data-00000-of-00001"))
        victim.write_bytes(mutate_bytes(victim.read_bytes(), chooser))


def _exercise_saved_model(folder: Path, draw: bool) -> int:
    from convkit.formats import savedmodel

    like = _like_keras(folder.parent)
    return _steps(
        lambda: _detect(folder),
        lambda: _show(savedmodel.inspect(folder, weights=True, verify_crc=True).to_dict(), draw),
        lambda: savedmodel.read_saved_model(folder),
        lambda: _screen_oracle(folder, "savedmodel"),
        lambda: _read_all(folder, like=like, fmt="savedmodel"),
    )


# ------------------------------------------------------------------ ONNX


def _make_onnx(path: Path) -> None:
    """A two-layer MLP (MatMul, Add, Relu) with named, open-batch inputs and metadata, by the onnx helpers."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    initializers = [numpy_helper.from_array(rng.random(shape).astype("float32"), name)
                    for name, shape in (("w1", (4, 3)), ("b1", (3,)), ("w2", (3, 2)), ("b2", (2,)))]
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["m1"]), helper.make_node("Add", ["m1", "b1"], ["a1"]),
             helper.make_node("Relu", ["a1"], ["h"]), helper.make_node("MatMul", ["h", "w2"], ["m2"]),
             helper.make_node("Add", ["m2", "b2"], ["y"])]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2])],
                              initializer=initializers)
    model = helper.make_model(graph, producer_name="convkit-fuzz", opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(model, {"source": "tests/fuzz/targets.py"})
    path.write_bytes(model.SerializeToString())


def _mutate_onnx(folder: Path, chooser: Chooser) -> None:
    path = folder / "tiny.onnx"
    mode = chooser.integer(0, 4)
    if mode <= 1:
        path.write_bytes(mutate_bytes(path.read_bytes(), chooser))
        return
    if mode == 4:
        special_entry(folder, chooser)
        return
    from onnx import ModelProto

    model = ModelProto()
    model.ParseFromString(path.read_bytes())
    if mode == 3 and model.graph.initializer:  # external data pointing anywhere, with any offset and length
        tensor = chooser.choice(list(model.graph.initializer))
        tensor.ClearField("raw_data")
        tensor.data_location = 1
        for key, value in (("location", chooser.choice(HOSTILE_TEXT)), ("offset", chooser.choice(("0", "-1", "x"))),
                           ("length", chooser.choice(("4", "9" * 30, "")))):
            entry = tensor.external_data.add()
            entry.key, entry.value = key, value
    else:
        mutate_message(model, chooser, max_ops=6)
    path.write_bytes(model.SerializeToString())


def _exercise_onnx(path: Path, draw: bool) -> int:
    from convkit.formats import onnx

    return _steps(
        lambda: _detect(path),
        lambda: _show(onnx.inspect(path, weights=True).to_dict(), draw),
        lambda: onnx.read_model(path),
        lambda: _screen_oracle(path, "onnx"),
    )


# ------------------------------------------------------------------ TFLite


def _make_tflite(path: Path) -> None:
    """Writes the TFLite seed in a child process, so that this one (which forks per HDF5 read) stays without TensorFlow."""
    import os
    import subprocess
    import sys

    code = f"from tests.fuzz.targets import write_tflite_seed; write_tflite_seed({str(path)!r})"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH")))),
               TF_CPP_MIN_LOG_LEVEL="3")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, env=env, timeout=300)


def write_tflite_seed(path: str) -> None:
    """A Dense model converted by TensorFlow's TFLite converter, with its serving_default signature."""
    import numpy as np
    import tensorflow as tf

    kernel = tf.constant(np.linspace(-1.0, 1.0, 12, dtype="float32").reshape(4, 3))
    bias = tf.constant(np.array([0.5, -0.5, 0.25], dtype="float32"))

    @tf.function(input_signature=[tf.TensorSpec((None, 4), tf.float32, name="x")])
    def serve(x: Any) -> dict[str, Any]:
        return {"y": tf.nn.relu(tf.matmul(x, kernel) + bias)}

    converter = tf.lite.TFLiteConverter.from_concrete_functions([serve.get_concrete_function()])
    Path(path).write_bytes(converter.convert())


def _mutate_tflite(folder: Path, chooser: Chooser) -> None:
    path = folder / "tiny.tflite"
    data = path.read_bytes()
    mode = chooser.integer(0, 4)
    if mode == 4:
        special_entry(folder, chooser)
        return
    if mode == 3:  # a 32-bit offset or length anywhere in the flatbuffer set to an edge value
        import struct

        at = chooser.integer(0, max(len(data) // 4 - 1, 0)) * 4
        value = chooser.choice((0, 1, 3, 0x7FFFFFFF, 0xFFFFFFFF, len(data), len(data) - 4, at))
        path.write_bytes(data[:at] + struct.pack("<I", value) + data[at + 4:])
        return
    path.write_bytes(mutate_bytes(data, chooser))


def _exercise_tflite(path: Path, draw: bool) -> int:
    from convkit.formats import tflite

    return _steps(
        lambda: _detect(path),
        lambda: _show(tflite.inspect(path, weights=True).to_dict(), draw),
        lambda: tflite.uses_flex_ops(path),
        lambda: tflite.quantization(path),
        lambda: _screen_oracle(path, "tflite"),
    )


def _make_inputs(folder: Path) -> None:
    """What the input loader reads: PNG, JPEG and BMP images in a folder, a CSV with a header, an .npz, an .npy."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    (folder / "images").mkdir(parents=True)
    for index, (mode, suffix) in enumerate((("L", ".png"), ("RGB", ".jpg"), ("RGB", ".bmp"), ("RGBA", ".png"))):
        shape = (6, 5) if mode == "L" else (6, 5, len(mode))
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(folder / "images" / f"{index}{suffix}")
    (folder / "table.csv").write_text("a,b,c\n1,2,3\n4.5,-6,7e-3\n")
    np.savez(folder / "arrays.npz", x=rng.random((3, 3), dtype=np.float32), extra=np.arange(4))
    np.save(folder / "array.npy", np.arange(9, dtype=np.int64).reshape(3, 3))


def _mutate_inputs(folder: Path, chooser: Chooser) -> None:
    files = sorted(path for path in folder.rglob("*") if path.is_file())
    victim = chooser.choice(files)
    victim.write_bytes(mutate_bytes(victim.read_bytes(), chooser))


def _exercise_inputs(folder: Path, draw: bool) -> int:
    from convkit.containers.tensors import TensorSpec
    from convkit.data.loader import load_inputs

    table = [TensorSpec("x", (None, 3))]
    image = [TensorSpec("image", (None, 4, 4, 3))]
    return _steps(
        lambda: load_inputs(image, str(folder / "images")),
        lambda: load_inputs([TensorSpec("image", (None, None, None, 1))], str(folder / "images" / "0.png")),
        lambda: load_inputs(table, str(folder / "table.csv")),
        lambda: load_inputs([TensorSpec("a", (None, 1)), TensorSpec("b", (None,))], str(folder / "table.csv")),
        lambda: load_inputs(table, str(folder / "arrays.npz")),
        lambda: load_inputs([TensorSpec("x", (None, 3), "int32")], str(folder / "array.npy")),
    )


# ------------------------------------------------------------------ TensorFlow graphs (frozen .pb, .meta, TF.js graphs)


def damage_graph(graph: Any, chooser: Chooser, folder: Path) -> None:
    """Structural damage a careless graph reader loops, recurses or allocates on (in place).

    Cycles, a function that calls itself, constants declaring terabytes, inputs naming no node,
    duplicate names, fused ops with odd activations or argument counts, and ops that reach
    files, processes or Python (marked as injected: the policy must refuse them).
    """
    from tensorboard.compat.proto import function_pb2

    from convkit.policy.graph_ops import RISKY_OPS

    nodes = list(graph.node)
    mode = chooser.integer(0, 7)
    if mode == 0 and len(nodes) >= 2:  # a cycle outside any while loop
        first, second = chooser.choice(nodes), chooser.choice(nodes)
        first.input.append(second.name)
        second.input.append(first.name)
    elif mode == 1:  # a library function calling itself, called from the graph
        function = function_pb2.FunctionDef()
        function.signature.name = chooser.choice(("again", "__inference_again_1", "f"))
        call = function.node_def.add(name="call", op=function.signature.name if chooser.boolean() else "PartitionedCall")
        call.attr["f"].func.name = function.signature.name
        graph.library.function.add().CopyFrom(function)
        graph.node.add(name="caller", op="PartitionedCall").attr["f"].func.name = function.signature.name
    elif mode == 2 and nodes:  # a constant declaring far more than it holds
        const = graph.node.add(name=f"huge_{chooser.integer(0, 9)}", op="Const")
        const.attr["dtype"].type = chooser.choice((1, 3, 7, 9, 19, 20, 99))
        tensor = const.attr["value"].tensor
        tensor.dtype = const.attr["dtype"].type
        for dim in [chooser.choice((1 << 20, 1 << 32, 0, 3, -1)) for _ in range(chooser.integer(0, 4))]:
            tensor.tensor_shape.dim.add(size=dim)
        if chooser.boolean():
            tensor.float_val.append(0.5)
        else:
            tensor.tensor_content = bytes(chooser.integer(0, 64))
        chooser.choice(nodes).input.append(const.name)
    elif mode == 3 and nodes:  # an input naming no node, or a function-style reference
        chooser.choice(nodes).input.append(chooser.choice(("nowhere", "x:99", "^ghost", "a:output:0", "", ":")))
    elif mode == 4 and nodes:  # two nodes of one name
        graph.node.add().CopyFrom(chooser.choice(nodes))
    elif mode == 5 and nodes:  # fused ops TensorFlow and TF.js read differently
        node = chooser.choice(nodes)
        node.op = chooser.choice(("_FusedConv2D", "_FusedMatMul", "FusedDepthwiseConv2dNative", "Prelu"))
        node.attr["fused_ops"].list.s[:] = [chooser.choice((b"BiasAdd", b"Prelu", b"FusedBatchNorm", b"Tanh",
                                                            b"LeakyRelu", b"NoOp", b"Mish", b"\xff"))
                                            for _ in range(chooser.integer(0, 3))]
        node.attr["num_args"].i = chooser.integer(-1, 5)
    elif mode == 6 and nodes:  # a file, process or Python op
        victim = graph.node.add(name="injected", op=chooser.choice(sorted(RISKY_OPS)))
        chooser.choice(nodes).input.append(f"^{victim.name}")
        _mark_injected(folder)
    else:
        mutate_message(graph, chooser, max_ops=4)


def _exercise_graph(path: Path, fmt: str, read: Callable[[], Any], inspect: Callable[[], Any], draw: bool) -> int:
    def rebuilt() -> None:
        model = read()
        model.pruned().SerializeToString()
        model.open_inputs()

    return _steps(
        lambda: _detect(path),
        lambda: _show(inspect().to_dict(), draw),
        rebuilt,
        lambda: _screen_oracle(path, fmt),
    )


def _mutate_frozen(folder: Path, chooser: Chooser) -> None:
    from convkit.graph_model import messages

    pb = folder / "tiny_frozen.pb"
    mode = chooser.integer(0, 3)
    if mode == 0:
        pb.write_bytes(mutate_bytes(pb.read_bytes(), chooser))
        return
    graph = messages.parse(messages.graph_def_class(), pb.read_bytes(), pb, "GraphDef")
    if mode == 1:
        mutate_message(graph, chooser, max_ops=6)
    else:
        damage_graph(graph, chooser, folder)
    pb.write_bytes(graph.SerializeToString())


def _exercise_frozen(path: Path, draw: bool) -> int:
    from convkit.formats import frozen_graph

    return _exercise_graph(path, "pb", lambda: frozen_graph.read_graph(path),
                           lambda: frozen_graph.inspect(path, weights=True), draw)


def _mutate_metagraph(folder: Path, chooser: Chooser) -> None:
    from convkit.graph_model import messages

    meta = folder / "model.ckpt.meta"
    mode = chooser.integer(0, 4)
    if mode == 0:
        meta.write_bytes(mutate_bytes(meta.read_bytes(), chooser))
    elif mode == 1:
        victim = folder / chooser.choice(("model.ckpt.index", "model.ckpt.data-00000-of-00001"))
        victim.write_bytes(mutate_bytes(victim.read_bytes(), chooser))
    else:
        message = messages.parse(messages.meta_graph_class(), meta.read_bytes(), meta, "MetaGraphDef")
        if mode == 2:
            mutate_message(message, chooser, max_ops=6)
        else:
            damage_graph(message.graph_def, chooser, folder)
        meta.write_bytes(message.SerializeToString())


def _exercise_metagraph(prefix: Path, draw: bool) -> int:
    from convkit.formats import metagraph

    return _exercise_graph(prefix, "metagraph", lambda: metagraph.read_graph(prefix),
                           lambda: metagraph.inspect(prefix, weights=True, verify_crc=True), draw)


def _mutate_tfjs_graph(folder: Path, chooser: Chooser) -> None:
    from google.protobuf import json_format

    from convkit.graph_model.tfjs import graph_def_from_json

    model_json = folder / "model.json"
    mode = chooser.integer(0, 5)
    if mode <= 1:
        _mutate_tfjs(folder, chooser)  # what breaks any TF.js model: manifests, shards, paths, JSON
        # Keras objects injected into a graph's topology are not code there: TF.js and convkit read its ops.
        (folder / INJECTED).unlink(missing_ok=True)
        return
    document = json.loads(model_json.read_text())
    if mode == 2:
        document["modelTopology"] = mutate_json_document(document["modelTopology"], chooser)
    elif mode == 3:  # string attributes as character codes, as some tools write them
        for node in document["modelTopology"].get("node", []):
            for value in (node.get("attr") or {}).values():
                if isinstance(value, dict) and isinstance(value.get("s"), str):
                    value["s"] = chooser.choice(([80, 65, 68], {"0": 83}, ["x"], [1 << 40], "!!"))
    else:
        graph = graph_def_from_json(document["modelTopology"], model_json)
        damage_graph(graph, chooser, folder)
        document["modelTopology"] = json_format.MessageToDict(graph)
    model_json.write_text(json.dumps(document))


def _exercise_tfjs_graph(folder: Path, draw: bool) -> int:
    from convkit.formats import tfjs
    from convkit.formats.tfjs.graph import read

    return _exercise_graph(folder, "tfjs", lambda: read(folder), lambda: tfjs.inspect(folder, weights=True),
                           draw)


def _mutate_tfjs_pb(folder: Path, chooser: Chooser) -> None:
    from convkit.graph_model import messages

    pb = folder / "tensorflowjs_model.pb"
    manifest = folder / "weights_manifest.json"
    mode = chooser.integer(0, 4)
    if mode == 0:
        pb.write_bytes(mutate_bytes(pb.read_bytes(), chooser))
    elif mode == 1:
        manifest.write_bytes(mutate_json_text(manifest.read_bytes(), chooser))
    elif mode == 2:
        shard = folder / "group1-shard1of1.bin"
        shard.write_bytes(mutate_bytes(shard.read_bytes(), chooser))
    else:
        graph = messages.parse(messages.graph_def_class(), pb.read_bytes(), pb, "GraphDef")
        damage_graph(graph, chooser, folder)
        pb.write_bytes(graph.SerializeToString())


def _exercise_tfjs_pb(folder: Path, draw: bool) -> int:
    from convkit.formats import tfjs_pb
    from convkit.formats.tfjs_pb import read_graph

    return _exercise_graph(folder, "tfjs-pb", lambda: read_graph(folder),
                           lambda: tfjs_pb.inspect(folder, weights=True), draw)


TARGETS: dict[str, Target] = {
    target.name: target
    for target in (
        Target("ckpt", "tiny_ckpt", "ckpt", _mutate_checkpoint, _exercise_checkpoint),
        Target("h5", "tiny_k2.h5", "tiny_k2.h5", _mutate_hdf5, _exercise_hdf5),
        Target("keras", "tiny_k3.keras", "tiny_k3.keras", _mutate_keras, _exercise_keras),
        Target("tfjs", "tiny_tfjs", "", _mutate_tfjs, _exercise_tfjs),
        Target("savedmodel", "tiny_savedmodel", "", _mutate_saved_model, _exercise_saved_model),
        Target("onnx", "tiny.onnx", "tiny.onnx", _mutate_onnx, _exercise_onnx, make_seed=_make_onnx),
        Target("tflite", "tiny.tflite", "tiny.tflite", _mutate_tflite, _exercise_tflite, make_seed=_make_tflite),
        # not a format: the data check --inputs and convert --calibrate read
        Target("inputs", "inputs", "", _mutate_inputs, _exercise_inputs, make_seed=_make_inputs),
        Target("pb", "tiny_frozen.pb", "tiny_frozen.pb", _mutate_frozen, _exercise_frozen),
        Target("metagraph", "tiny_tf1", "model.ckpt", _mutate_metagraph, _exercise_metagraph),
        Target("tfjs-graph", "tiny_tfjs_graph", "", _mutate_tfjs_graph, _exercise_tfjs_graph),
        Target("tfjs-pb", "tiny_tfjs_pb", "", _mutate_tfjs_pb, _exercise_tfjs_pb),
    )
}
