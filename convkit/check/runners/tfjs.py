"""TF.js runner: layers and graph models run in real TF.js under Node.js.

One ``node`` process per model run. Inputs and outputs cross the process
boundary as raw little-endian binary files with a small JSON header (names,
dtypes, shapes, offsets), never as JSON arrays of numbers.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from convkit.check.runners.base import Runner, TensorSpec, shape_tuple
from convkit.errors import ReadError, UsageError

RUNNER_SCRIPT = Path(__file__).resolve().parent.parent / "tfjs_runner.mjs"
MAX_MODEL_JSON_BYTES = 256 * 1024 * 1024
NODE_TIMEOUT_SECONDS = 1800
# Quantization dtypes, from most to least lossy; the report states the one in use.
QUANTIZATION_ORDER = ("uint8", "uint16", "float16")
_TF_DTYPES = {"DT_FLOAT": "float32", "DT_INT32": "int32", "DT_BOOL": "bool", "DT_INT64": "int32", "DT_HALF": "float32"}
_FEED_DTYPES = {"float16": "float32", "float32": "float32", "float64": "float32", "int8": "int32", "int16": "int32",
                "int32": "int32", "int64": "int32", "uint8": "int32", "uint16": "int32", "bool": "bool"}


class TfjsRunner(Runner):
    """Runs ``model.json`` (layers or graph model) with @tensorflow/tfjs in Node.

    Args:
        path: ``model.json`` or the folder holding it.
        node: the ``node`` executable. Default: ``node`` on PATH.
        node_root: a directory whose ``node_modules`` holds @tensorflow/tfjs.
            Default: ``CONVKIT_NODE_ROOT`` or the first such folder above the
            convkit package or the current directory.
    """

    path: Path  # always a file: a TF.js model is never a live object

    def __init__(self, path: Path, *, node: str | None = None, node_root: Path | None = None) -> None:
        path = Path(path)
        model_json = path / "model.json" if path.is_dir() else path
        super().__init__(model_json, "tfjs", label=str(path))
        self.node = node
        self.node_root = node_root
        self.kind = "layers"
        self.last_run: dict[str, Any] = {}

    def _load(self) -> None:
        model_json = _read_model_json(self.path)
        # Node reads the shards; every shard is vetted here first so that a hostile manifest never
        # makes it read outside the folder, read a device, or allocate what the shards do not hold.
        check_shards(self.path, model_json)
        topology = model_json.get("modelTopology") or {}
        if not isinstance(topology, dict):
            raise ReadError(f"{self.path}: modelTopology is not a JSON object")
        is_graph = model_json.get("format") == "graph-model" or isinstance(topology.get("node"), list)
        self.kind = "graph" if is_graph else "layers"
        try:
            if is_graph:
                self._inputs, self._outputs = _graph_specs(model_json)
            else:
                self._inputs, self._outputs = _layers_specs(self.path, topology)
        except (AttributeError, TypeError, KeyError, IndexError, ValueError) as error:
            raise ReadError(f"{self.path}: the TF.js model topology is malformed ({type(error).__name__}: {error})"[:400]) from None
        if not self._inputs:
            raise ReadError(f"{self.path}: the TF.js model declares no inputs")
        self.quantization = _quantization(model_json)
        self.node = self.node or shutil.which("node")
        if not self.node:
            raise UsageError(f"{self.path}: TF.js models run under Node.js, and no 'node' is on PATH")
        self.node_root = Path(self.node_root) if self.node_root else find_node_root()
        self.runtime = f"TF.js {_tfjs_version(self.node_root)} {self.kind}"

    def _infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        with tempfile.TemporaryDirectory(prefix="convkit-tfjs-") as work:
            work_dir = Path(work)
            ordered = [(spec.name, feed[spec.name]) for spec in self._inputs]
            write_tensors(work_dir / "inputs.json", ordered)
            env = dict(os.environ, CONVKIT_NODE_ROOT=str(self.node_root))
            command = [str(self.node), str(RUNNER_SCRIPT), str(self.path), str(work_dir / "inputs.json"),
                       str(work_dir / "outputs.json")]
            try:
                done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=NODE_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                raise ReadError(f"{self.path}: TF.js did not finish within {NODE_TIMEOUT_SECONDS} s") from None
            if done.returncode != 0:
                raise ReadError(f"{self.path}: TF.js could not run the model ({_node_error(done.stderr)})")
            header, outputs = read_tensors(work_dir / "outputs.json")
        self.last_run = {key: header.get(key) for key in ("kind", "inputNames", "outputNames", "tfjsVersion", "backend")}
        self.notes.extend(note for note in header.get("notes", []) if note not in self.notes)
        if not self._outputs or [spec.name for spec in self._outputs] != list(outputs):
            self._outputs = [TensorSpec(name, tuple(array.shape), str(array.dtype)) for name, array in outputs.items()]
        return outputs


def write_tensors(header_path: Path, tensors: list[tuple[str, np.ndarray]]) -> None:
    """Writes tensors as one raw little-endian file plus a JSON header beside it."""
    entries = []
    offset = 0
    data_path = header_path.with_name(header_path.name + ".bin")
    with open(data_path, "wb") as handle:
        for name, array in tensors:
            dtype = _FEED_DTYPES.get(str(np.asarray(array).dtype))
            if dtype is None:
                raise UsageError(f"input {name!r} has dtype {np.asarray(array).dtype}, which TF.js cannot take")
            raw = np.ascontiguousarray(array, dtype=np.dtype(dtype if dtype != "bool" else "uint8").newbyteorder("<"))
            payload = raw.tobytes()
            handle.write(payload)
            entries.append({"name": name, "dtype": dtype, "shape": list(raw.shape), "offset": offset,
                            "byteLength": len(payload)})
            offset += len(payload)
    header_path.write_text(json.dumps({"data": data_path.name, "tensors": entries}))


def read_tensors(header_path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Reads what ``write_tensors`` (or the Node script) wrote: the header and ``{name: array}``."""
    header = json.loads(header_path.read_text())
    data = (header_path.parent / header["data"]).read_bytes()
    numpy_dtypes = {"float32": "<f4", "int32": "<i4", "bool": "u1"}
    arrays = {}
    for entry in header["tensors"]:
        chunk = data[entry["offset"] : entry["offset"] + entry["byteLength"]]
        array = np.frombuffer(chunk, dtype=numpy_dtypes[entry["dtype"]]).reshape(entry["shape"])
        arrays[entry["name"]] = array.astype(bool) if entry["dtype"] == "bool" else array.copy()
    return header, arrays


_WEIGHT_BYTES = {"float32": 4, "int32": 4, "bool": 1, "uint8": 1, "uint16": 2, "float16": 2, "int8": 1, "int16": 2}


def check_shards(model_json_path: Path, model_json: dict[str, Any]) -> int:
    """Checks that every weight shard is a regular file inside the model folder holding exactly the bytes
    the manifest declares; returns the total.

    Raises:
        ReadError: a shard path leaves the folder, is not a regular file, or the byte counts disagree.
    """
    folder = model_json_path.parent.resolve()
    manifest = model_json.get("weightsManifest") or []
    if not isinstance(manifest, list):
        raise ReadError(f"{model_json_path}: weightsManifest is not a list")
    total = 0
    for index, group in enumerate(manifest):
        paths = group.get("paths") if isinstance(group, dict) else None
        weights = group.get("weights") if isinstance(group, dict) else None
        if not isinstance(paths, list) or not isinstance(weights, list):
            raise ReadError(f"{model_json_path}: weightsManifest group {index} needs 'paths' and 'weights' lists")
        needed: int | None = 0
        for weight in weights:
            size = _declared_bytes(model_json_path, weight)
            needed = None if size is None or needed is None else needed + size
        on_disk = 0
        for relative in paths:
            if not isinstance(relative, str) or not relative or "\0" in relative:
                raise ReadError(f"{model_json_path}: shard path {relative!r} is not a file name")
            shard = folder / relative
            try:
                resolved = shard.resolve()
                inside = folder in resolved.parents
                regular = resolved.is_file()
            except (OSError, ValueError, RuntimeError):
                inside = regular = False
            if not inside or not regular:
                raise ReadError(f"{shard}: weight shard is not a regular file inside the model folder")
            on_disk += resolved.stat().st_size
        if needed is not None and on_disk != needed:
            raise ReadError(
                f"{model_json_path}: weight group {index} needs {needed} bytes but its shards hold {on_disk}"
            )
        total += on_disk
    return total


def _declared_bytes(model_json_path: Path, weight: Any) -> int | None:
    if not isinstance(weight, dict) or not isinstance(weight.get("shape"), list):
        raise ReadError(f"{model_json_path}: manifest has a weight without a shape: {str(weight)[:80]}")
    shape = weight["shape"]
    if not all(isinstance(dim, int) and not isinstance(dim, bool) and dim >= 0 for dim in shape):
        raise ReadError(f"{model_json_path}: weight {weight.get('name')!r} has an invalid shape {shape}"[:300])
    quantization = weight.get("quantization")
    dtype = quantization.get("dtype") if isinstance(quantization, dict) else weight.get("dtype", "float32")
    if dtype == "string":
        return None
    if dtype not in _WEIGHT_BYTES:
        raise ReadError(f"{model_json_path}: weight {weight.get('name')!r} has unsupported dtype {dtype!r}")
    count = 1
    for dim in shape:
        count *= dim
    return count * _WEIGHT_BYTES[dtype]


def find_node_root() -> Path:
    """The directory whose ``node_modules`` holds @tensorflow/tfjs (where: ``convkit._node``).

    Raises:
        UsageError: none is found; the message says how to install it.
    """
    from convkit._node import find_node_root as find

    return find()


def _read_model_json(path: Path) -> dict[str, Any]:
    from convkit.formats.tfjs import read_model_json

    return read_model_json(path)


def _graph_specs(model_json: dict[str, Any]) -> tuple[list[TensorSpec], list[TensorSpec]]:
    signature = model_json.get("signature") or model_json.get("modelTopology", {}).get("signature") or {}

    def specs(section: dict[str, Any]) -> list[TensorSpec]:
        result = []
        for name, info in section.items():
            dims = [int(d.get("size", -1)) for d in info.get("tensorShape", {}).get("dim", [])]
            result.append(TensorSpec(name, shape_tuple(dims), _TF_DTYPES.get(info.get("dtype"), "float32")))
        return result

    if signature.get("inputs") and signature.get("outputs"):
        return specs(signature["inputs"]), specs(signature["outputs"])
    inputs = []
    for node in model_json["modelTopology"].get("node", []):
        if node.get("op") == "Placeholder":
            attr = node.get("attr", {})
            dims = [int(d.get("size", -1)) for d in attr.get("shape", {}).get("shape", {}).get("dim", [])]
            dtype = _TF_DTYPES.get(attr.get("dtype", {}).get("type"), "float32")
            inputs.append(TensorSpec(node["name"], shape_tuple(dims), dtype))
    return inputs, []  # the outputs are named by the run


def _layers_specs(path: Path, topology: dict[str, Any]) -> tuple[list[TensorSpec], list[TensorSpec]]:
    config = topology.get("model_config", topology)
    class_name = config.get("class_name")
    body = config.get("config", {})
    layers = body if isinstance(body, list) else body.get("layers", [])
    if not layers:
        raise ReadError(f"{path}: the TF.js layers model lists no layers")

    def shape_of(layer_config: dict[str, Any]) -> tuple[int | None, ...]:
        return shape_tuple(layer_config.get("batch_input_shape") or layer_config.get("batch_shape") or [None])

    if class_name == "Sequential":
        first = layers[0]
        first_config = first.get("config", {})
        if first.get("class_name") == "InputLayer":
            name = first_config.get("name", "input")
        else:
            name = f"{first_config.get('name', 'input')}_input"
        inputs = [TensorSpec(name, shape_of(first_config), first_config.get("dtype") or "float32")]
        outputs = [TensorSpec(layers[-1].get("config", {}).get("name", "output"), (None,))]
        return inputs, outputs
    by_name = {layer.get("config", {}).get("name"): layer.get("config", {}) for layer in layers}
    inputs = []
    for entry in body.get("input_layers", []):
        layer_name = entry[0]
        layer_config = by_name.get(layer_name, {})
        inputs.append(TensorSpec(layer_name, shape_of(layer_config), layer_config.get("dtype") or "float32"))
    output_entries = body.get("output_layers", [])
    names = [entry[0] for entry in output_entries]
    if len(set(names)) != len(names):
        names = [f"{name}_{i}" for i, name in enumerate(names)]
    return inputs, [TensorSpec(name, (None,)) for name in names]


def _quantization(model_json: dict[str, Any]) -> str | None:
    found = set()
    for group in model_json.get("weightsManifest", []) or []:
        for weight in group.get("weights", []):
            quantization = weight.get("quantization")
            if quantization:
                found.add(str(quantization.get("dtype")))
    for dtype in QUANTIZATION_ORDER:
        if dtype in found:
            return dtype
    return None


def _node_error(stderr: str) -> str:
    for line in reversed(stderr.strip().splitlines()):
        if line.startswith("convkit-tfjs-error:"):
            return line.split(":", 1)[1].strip()[:400]
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return (lines[-1] if lines else "node exited with an error")[:400]


def _tfjs_version(node_root: Path) -> str:
    try:
        package = json.loads((node_root / "node_modules" / "@tensorflow" / "tfjs" / "package.json").read_text())
        return str(package.get("version", "?"))
    except (OSError, ValueError):
        return "?"
