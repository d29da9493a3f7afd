"""TF.js runner: layers and graph models run in real TF.js, under Node.js or in headless Chromium.

Each model runs on one TF.js backend (``cpu``, ``wasm``, ``webgl``, ``webgl-f16``)
in a host: one ``node`` process serves every TF.js model of a check run
(``NodeHost``), and the browser backends run in pages of one headless Chromium
(``convkit.check.runners.browser``). Inputs and outputs cross the process
boundary as raw little-endian bytes with a small JSON header (names, dtypes,
shapes, offsets), never as JSON arrays of numbers.
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Iterable, Protocol, Sequence

import numpy as np

from convkit.check.compare import Tolerance
from convkit.check.runners.base import Runner, TensorSpec, shape_tuple
from convkit.errors import ConvkitError, ReadError, UsageError
from convkit.formats.tfjs import group_shards, read_model_json, weight_bytes

RUNNER_SCRIPT = Path(__file__).resolve().parent.parent / "tfjs_runner.mjs"
NODE_TIMEOUT_SECONDS = 1800
# Quantization dtypes, from most to least lossy; the report states the one in use.
QUANTIZATION_ORDER = ("uint8", "uint16", "float16")
_TF_DTYPES = {"DT_FLOAT": "float32", "DT_INT32": "int32", "DT_BOOL": "bool", "DT_INT64": "int32", "DT_HALF": "float32"}
_FEED_DTYPES = {"float16": "float32", "float32": "float32", "float64": "float32", "int8": "int32", "int16": "int32",
                "int32": "int32", "int64": "int32", "uint8": "int32", "uint16": "int32", "bool": "bool"}

# TF.js backends: cpu and wasm run in Node or a browser, webgl only in a browser. webgl-f16 is WebGL with
# float16 textures (WEBGL_FORCE_F16_TEXTURES), what many phones' GPUs give TF.js.
BACKENDS = ("cpu", "wasm", "webgl", "webgl-f16")
BROWSER_ONLY_BACKENDS = ("webgl", "webgl-f16")
DEFAULT_NODE_BACKENDS = ("wasm",)
DEFAULT_BROWSER_BACKENDS = ("webgl", "wasm")
# Default tolerances of float outputs per backend, where looser than float32's 1e-5/1e-5.
# cpu and wasm compute in float32 on the CPU (wasm vs cpu: 7e-6 on the tutorial's logits, up to 10).
# WebGL's float32 textures: 3e-6 on SwiftShader, but GPUs' shader arithmetic (exp, fused multiply-add)
# is specified to a few ulp only. float16 textures keep 11 significant bits per stored value:
# 2.1e-3 on the tutorial's logits.
BACKEND_TOLERANCE = {
    "webgl": Tolerance(1e-4, 1e-4, "default for WebGL float32 textures"),
    "webgl-f16": Tolerance(1e-2, 1e-2, "default for WebGL float16 textures"),
}
_MISSING_WASM_KERNEL = re.compile(r"Kernel '([^']+)' not registered for backend 'wasm'")


class TfjsHost(Protocol):
    """Where TF.js runs: one Node process or one browser, shared by the models of a check run."""

    name: str

    def ensure_available(self) -> None:
        """Raises ``UsageError`` naming what to install when this host cannot run."""

    def run(self, model_json: Path, tensors: list[tuple[str, np.ndarray]], backend: str
            ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Runs ``model_json`` on ``backend``; returns the output header and ``{name: array}``."""

    def close(self) -> None:
        """Stops what the host started."""


class TfjsRunner(Runner):
    """Runs ``model.json`` (layers or graph model) with @tensorflow/tfjs on one backend.

    Args:
        path: ``model.json`` or the folder holding it.
        backend: ``cpu``, ``wasm``, ``webgl`` or ``webgl-f16``. Default ``wasm``.
        host: where TF.js runs (a ``NodeHost`` or a browser session), shared across runners.
            Default: a Node process of this runner's own, started for each ``infer``.
        node: the ``node`` executable, for the default host. Default: ``node`` on PATH.
        node_root: a directory whose ``node_modules`` holds @tensorflow/tfjs.
            Default: ``CONVKIT_NODE_ROOT`` or the first such folder above the
            convkit package or the current directory.
        cpu_fallback: when the wasm backend lacks a kernel the model needs, run on cpu and say so.
            Default ``True`` for the default backend.
        label: the name in the report. Default: ``path``.
    """

    in_process = False

    path: Path  # always a file: a TF.js model is never a live object

    def __init__(self, path: Path, *, backend: str = "wasm", host: TfjsHost | None = None, node: str | None = None,
                 node_root: Path | None = None, cpu_fallback: bool | None = None, label: str | None = None) -> None:
        path = Path(path)
        model_json = path / "model.json" if path.is_dir() else path
        super().__init__(model_json, "tfjs", label=label or str(path))
        self.model_json = model_json
        if backend not in BACKENDS:
            raise UsageError(f"unknown TF.js backend {backend!r}; choose from {', '.join(BACKENDS)}")
        self.backend = backend
        self._own_host = host is None
        self.host: TfjsHost = host if host is not None else NodeHost(node=node, node_root=node_root)
        self.node = node
        self.node_root = node_root
        self.cpu_fallback = backend == "wasm" if cpu_fallback is None else cpu_fallback
        self.kind = "layers"
        self.ran_on = backend
        self.version = "?"
        self.last_run: dict[str, Any] = {}

    def on_backend(self, backend: str, host: TfjsHost, *, cpu_fallback: bool, label: str) -> TfjsRunner:
        """This model as a new runner on ``backend`` in ``host``."""
        return TfjsRunner(self.model_json, backend=backend, host=host, node=self.node, node_root=self.node_root,
                          cpu_fallback=cpu_fallback, label=label)

    def _load(self) -> None:
        model_json = read_model_json(self.model_json)
        # TF.js reads the shards; every shard is vetted here first so that a hostile manifest never
        # makes it read outside the folder, read a device, or allocate what the shards do not hold.
        check_shards(self.model_json, model_json)
        topology = model_json.get("modelTopology") or {}
        if not isinstance(topology, dict):
            raise ReadError(f"{self.model_json}: modelTopology is not a JSON object")
        is_graph = model_json.get("format") == "graph-model" or isinstance(topology.get("node"), list)
        self.kind = "graph" if is_graph else "layers"
        try:
            if is_graph:
                self._inputs, self._outputs = _graph_specs(model_json)
            else:
                self._inputs, self._outputs = _layers_specs(self.model_json, topology)
        except (AttributeError, TypeError, KeyError, IndexError, ValueError) as error:
            raise ReadError(f"{self.model_json}: the TF.js model topology is malformed ({type(error).__name__}: {error})"[:400]) from None
        if not self._inputs:
            raise ReadError(f"{self.model_json}: the TF.js model declares no inputs")
        self.quantization = _quantization(model_json)
        self.host.ensure_available()
        self.version = _tfjs_version(Path(self.node_root) if self.node_root else find_node_root())
        self._set_runtime(self.backend)

    def _set_runtime(self, backend: str) -> None:
        self.ran_on = backend
        self.runtime = f"TF.js {self.version} {self.kind} {backend} ({self.host.name})"

    def _infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        ordered = [(spec.name, feed[spec.name]) for spec in self._inputs]
        try:
            try:
                header, outputs = self.host.run(self.model_json, ordered, self.backend)
                self._set_runtime(self.backend)
            except ReadError as error:
                # A model one backend cannot run (a kernel or a fused activation wasm lacks) may run on another:
                # the default backend falls back to cpu, and the row says so.
                if not (self.cpu_fallback and self.backend != "cpu"):
                    raise
                try:
                    header, outputs = self.host.run(self.model_json, ordered, "cpu")
                except ReadError:
                    raise error from None
                self._set_runtime("cpu")
                missing = _MISSING_WASM_KERNEL.search(str(error))
                reason = f"has no {missing.group(1)} kernel" if missing else \
                    f"cannot run this model ({_reason(str(error), self.model_json)})"
                self.notes.append(f"TF.js {self.backend} {reason}, so this model ran on the cpu backend")
        finally:
            if self._own_host:
                self.host.close()
        self.last_run = {key: header.get(key) for key in ("kind", "inputNames", "outputNames", "tfjsVersion", "backend")}
        for note in [*header.get("notes", []), _backend_note(header.get("backend"))]:
            if note and note not in self.notes:
                self.notes.append(note)
        if not self._outputs or [spec.name for spec in self._outputs] != list(outputs):
            self._outputs = [TensorSpec(name, tuple(array.shape), str(array.dtype)) for name, array in outputs.items()]
        return outputs

    def default_tolerance(self, dtype: str) -> Tolerance:
        """Float32's default, or the backend's looser one (WebGL textures), or the quantized weights' if looser."""
        base = super().default_tolerance(dtype)
        if not np.issubdtype(np.dtype(dtype or "float32"), np.floating):
            return base
        info = self.last_run.get("backend") or {}
        backend = self.ran_on
        if backend == "webgl" and info.get("float32Textures") is False:
            backend = "webgl-f16"  # the device had no float32 render targets, so TF.js used float16
        loose = BACKEND_TOLERANCE.get(backend)
        return loose if loose is not None and loose.atol > base.atol else base


def _reason(message: str, model_json: Path) -> str:
    """The runtime's own words from a ``ReadError`` about ``model_json``."""
    prefix = f"{model_json}: TF.js could not run the model ("
    return message[len(prefix):-1] if message.startswith(prefix) and message.endswith(")") else message


def _backend_note(info: Any) -> str | None:
    """What ran a WebGL model, which differs by device: the texture precision and the renderer."""
    if not isinstance(info, dict) or info.get("backend") != "webgl":
        return None
    precision = "float32" if info.get("float32Textures") else "float16"
    renderer = str(info.get("renderer", "an unknown renderer"))
    if "SwiftShader" in renderer:
        renderer = "SwiftShader (Chromium's software renderer)"
    return f"WebGL {info.get('webglVersion', '?')} with {precision} textures on {renderer}"


class NodeHost:
    """One ``node tfjs_runner.mjs --serve`` process that runs every TF.js model of a check run.

    Started at the first ``run`` (or ``prestart``); stopped by ``close``, or when this process ends
    and Node's stdin with it. Requests and answers are JSON lines on the process's stdin and
    stdout; tensors go through files in a temporary folder.

    Args:
        node: the ``node`` executable. Default: ``node`` on PATH.
        node_root: a directory whose ``node_modules`` holds @tensorflow/tfjs. Default: ``find_node_root()``.
        timeout_seconds: the longest one model may run. Default 1800.
    """

    name = "Node"

    def __init__(self, *, node: str | None = None, node_root: Path | None = None,
                 timeout_seconds: float = NODE_TIMEOUT_SECONDS) -> None:
        self.node = node
        self.node_root = Path(node_root) if node_root else None
        self.timeout_seconds = timeout_seconds
        self._process: subprocess.Popen[str] | None = None
        self._stderr: Any = None
        self._work: tempfile.TemporaryDirectory[str] | None = None
        self._count = 0

    def ensure_available(self) -> None:
        self.node = self.node or shutil.which("node")
        if not self.node:
            raise UsageError("TF.js models run under Node.js, and no 'node' is on PATH")
        self.node_root = self.node_root or find_node_root()

    def prestart(self) -> None:
        """Starts Node now, so that TF.js loads while the caller runs other models; errors wait for ``run``."""
        try:
            self._start()
        except ConvkitError:
            pass

    def _start(self) -> subprocess.Popen[str]:
        if self._process is not None and self._process.poll() is None:
            return self._process
        self.ensure_available()
        self._work = tempfile.TemporaryDirectory(prefix="convkit-tfjs-")
        self._stderr = open(Path(self._work.name) / "node.stderr", "w+b")
        env = dict(os.environ, CONVKIT_NODE_ROOT=str(self.node_root))
        self._process = subprocess.Popen([str(self.node), str(RUNNER_SCRIPT), "--serve"], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=self._stderr, text=True, env=env)
        return self._process

    def run(self, model_json: Path, tensors: list[tuple[str, np.ndarray]], backend: str
            ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        process = self._start()
        assert self._work is not None and process.stdin is not None and process.stdout is not None
        self._count += 1
        job = Path(self._work.name) / f"job-{self._count}"
        job.mkdir()
        try:
            write_tensors(job / "inputs.json", tensors)
            request = {"id": self._count, "model": str(model_json), "inputs": str(job / "inputs.json"),
                       "outputs": str(job / "outputs.json"), "backend": backend}
            try:
                process.stdin.write(json.dumps(request) + "\n")
                process.stdin.flush()
            except OSError:
                raise ReadError(f"{model_json}: TF.js could not run the model ({self._failure()})") from None
            answer = self._answer(model_json, self._count)
            if not answer.get("ok"):
                raise ReadError(f"{model_json}: TF.js could not run the model ({str(answer.get('error'))[:400]})")
            return read_tensors(job / "outputs.json")
        finally:
            shutil.rmtree(job, ignore_errors=True)

    def _answer(self, model_json: Path, request_id: int) -> dict[str, Any]:
        process = self._process
        assert process is not None and process.stdout is not None
        while True:
            ready, _, _ = select.select([process.stdout], [], [], self.timeout_seconds)
            if not ready:
                self.close()
                raise ReadError(f"{model_json}: TF.js did not finish within {self.timeout_seconds:g} s")
            line = process.stdout.readline()
            if not line:
                raise ReadError(f"{model_json}: TF.js could not run the model ({self._failure()})")
            try:
                answer = json.loads(line)
            except ValueError:
                continue  # something in TF.js printed to stdout after all
            if isinstance(answer, dict) and answer.get("id") == request_id:
                return answer

    def _failure(self) -> str:
        """Why the process ended: its last error line."""
        if self._process is not None:
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        text = ""
        if self._stderr is not None:
            self._stderr.flush()
            self._stderr.seek(0)
            text = self._stderr.read()[-20000:].decode(errors="replace")
        return _node_error(text)

    def close(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            if process.stdin is not None:
                try:
                    process.stdin.close()
                except OSError:
                    pass
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        if self._work is not None:
            self._work.cleanup()
            self._work = None


class TfjsRuntimes:
    """The TF.js backends one check run asks for, and the hosts (Node, Chromium) that run them.

    Every TF.js model becomes one runner per backend, each its own row in the report.
    ``cpu`` and ``wasm`` run in Node unless a browser is given, ``webgl`` and ``webgl-f16``
    always in the browser (Chromium unless another is given). One Node process and one browser
    serve all models; both start at the first model that needs them and stop at ``close``.

    Args:
        backends: backend names (``"wasm,webgl"`` items are split). Default: ``wasm`` in Node
            (cpu for a model whose kernels wasm lacks); with a browser, ``webgl`` and ``wasm``.
        browser: ``"chromium"``, or a running browser session to share (left open at ``close``).
        allow_unsafe: passed to the code policy that judges each TF.js model first. Default ``False``.
        progress: called with one line when a host starts.

    Raises:
        UsageError: an unknown backend or browser, or a browser that is not installed.
    """

    def __init__(self, backends: Iterable[str] | None = None, browser: Any = None, *, allow_unsafe: bool = False,
                 progress: Any = None) -> None:
        chosen = parse_backends(backends)
        self.allow_unsafe = allow_unsafe
        self.explicit = bool(chosen)
        self.all_in_browser = browser is not None
        if browser is None and any(name in BROWSER_ONLY_BACKENDS for name in chosen):
            browser = "chromium"
        self.backends = chosen or (DEFAULT_BROWSER_BACKENDS if browser is not None else DEFAULT_NODE_BACKENDS)
        self._node: NodeHost | None = None
        self._own_browser = isinstance(browser, str)
        if isinstance(browser, str):
            from convkit.check.runners.browser import BrowserSession

            browser = BrowserSession(browser, progress=progress)
            browser.ensure_available()
        self._browser = browser

    def host(self, backend: str) -> TfjsHost:
        if self._browser is not None and (self.all_in_browser or backend in BROWSER_ONLY_BACKENDS):
            return self._browser
        if self._node is None:
            self._node = NodeHost()
        return self._node

    def runners(self, model: Any) -> list[Any]:
        """One ``TfjsRunner`` per backend for a TF.js model path; anything else as it is, in a list.

        The path opens through its format's registry record (``open_runner``), so the code policy judges
        it first; a path that cannot be opened stays a path, for the engine to open and report.
        """
        if not _is_tfjs_path(model):
            return [model]
        from convkit.check.runners import open_runner

        try:
            opened = open_runner(Path(model), allow_unsafe=self.allow_unsafe)
        except ConvkitError:
            return [model]
        if not isinstance(opened, TfjsRunner):
            return [opened]
        several = len(self.backends) > 1
        for backend in self.backends:
            host = self.host(backend)
            if isinstance(host, NodeHost):
                host.prestart()
        return [opened.on_backend(backend, self.host(backend), cpu_fallback=not self.explicit and not self.all_in_browser,
                                  label=f"{model} ({backend})" if several else str(model))
                for backend in self.backends]

    def expand(self, models: Sequence[Any]) -> list[Any]:
        """``models`` with every TF.js path replaced by its runners, one per backend."""
        return [item for model in models for item in self.runners(model)]

    def reference(self, model: Any) -> Any:
        """The reference model: a TF.js reference runs on the first backend."""
        runner = self.runners(model)[0]
        if isinstance(runner, TfjsRunner):
            runner.label = str(model)
        return runner

    def close(self) -> None:
        """Stops the Node process and the browser this object started."""
        if self._node is not None:
            self._node.close()
        if self._browser is not None and self._own_browser:
            self._browser.close()

    def __enter__(self) -> TfjsRuntimes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def parse_backends(values: Iterable[str] | None) -> tuple[str, ...]:
    """Backend names from options such as ``["wasm,webgl", "cpu"]``, in order, each once.

    Raises:
        UsageError: a name is not one of ``BACKENDS``.
    """
    if isinstance(values, str):
        values = [values]
    chosen: list[str] = []
    for value in values or ():
        for name in str(value).split(","):
            name = name.strip().lower()
            if not name:
                continue
            if name not in BACKENDS:
                raise UsageError(f"unknown TF.js backend {name!r}; choose from {', '.join(BACKENDS)}")
            if name not in chosen:
                chosen.append(name)
    return tuple(chosen)


def _is_tfjs_path(model: Any) -> bool:
    if not isinstance(model, (str, Path)):
        return False
    from convkit.registry import detect

    try:
        return detect(Path(model)).name == "tfjs"
    except ConvkitError:
        return False


def pack_tensors(tensors: list[tuple[str, np.ndarray]]) -> tuple[list[dict[str, Any]], bytes]:
    """Tensors as raw little-endian bytes, one after another, and a header entry for each."""
    entries = []
    payloads = []
    offset = 0
    for name, array in tensors:
        dtype = _FEED_DTYPES.get(str(np.asarray(array).dtype))
        if dtype is None:
            raise UsageError(f"input {name!r} has dtype {np.asarray(array).dtype}, which TF.js cannot take")
        raw = np.ascontiguousarray(array, dtype=np.dtype(dtype if dtype != "bool" else "uint8").newbyteorder("<"))
        payload = raw.tobytes()
        payloads.append(payload)
        entries.append({"name": name, "dtype": dtype, "shape": list(raw.shape), "offset": offset,
                        "byteLength": len(payload)})
        offset += len(payload)
    return entries, b"".join(payloads)


def unpack_tensors(entries: list[dict[str, Any]], data: bytes) -> dict[str, np.ndarray]:
    """The opposite of ``pack_tensors``: ``{name: array}`` from header entries and the bytes they describe."""
    numpy_dtypes = {"float32": "<f4", "int32": "<i4", "bool": "u1"}
    arrays = {}
    for entry in entries:
        chunk = data[entry["offset"] : entry["offset"] + entry["byteLength"]]
        array = np.frombuffer(chunk, dtype=numpy_dtypes[entry["dtype"]]).reshape(entry["shape"])
        arrays[entry["name"]] = array.astype(bool) if entry["dtype"] == "bool" else array.copy()
    return arrays


def write_tensors(header_path: Path, tensors: list[tuple[str, np.ndarray]]) -> None:
    """Writes tensors as one raw little-endian file plus a JSON header beside it."""
    entries, data = pack_tensors(tensors)
    data_path = header_path.with_name(header_path.name + ".bin")
    data_path.write_bytes(data)
    header_path.write_text(json.dumps({"data": data_path.name, "tensors": entries}))


def read_tensors(header_path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Reads what ``write_tensors`` (or the Node script) wrote: the header and ``{name: array}``."""
    header = json.loads(header_path.read_text())
    data = (header_path.parent / header["data"]).read_bytes()
    return header, unpack_tensors(header["tensors"], data)


def check_shards(model_json_path: Path, model_json: dict[str, Any]) -> int:
    """Checks that every weight shard is a regular file inside the model folder (no links) holding exactly
    the bytes the manifest declares; returns the total.

    Raises:
        ReadError: a shard is missing, a link or special file, outside the folder, or the byte counts disagree.
    """
    total = 0
    for index, group in enumerate(model_json.get("weightsManifest") or []):
        needed: int | None = 0
        for weight in group["weights"]:
            size = weight_bytes(weight)
            needed = None if size is None or needed is None else needed + size
        on_disk = sum(shard.stat().st_size for shard in group_shards(model_json_path, group))
        if needed is not None and on_disk != needed:
            raise ReadError(
                f"{model_json_path}: weight group {index} needs {needed} bytes but its shards hold {on_disk}"
            )
        total += on_disk
    return total


def find_node_root() -> Path:
    """The directory whose ``node_modules`` holds @tensorflow/tfjs (where: ``convkit._node``).

    Raises:
        UsageError: none is found; the message says how to install it.
    """
    from convkit._node import find_node_root as find

    return find()


def _graph_specs(model_json: dict[str, Any]) -> tuple[list[TensorSpec], list[TensorSpec]]:
    signature = model_json.get("signature") or model_json.get("modelTopology", {}).get("signature") or {}

    def specs(section: dict[str, Any]) -> list[TensorSpec]:
        from convkit.graphdef.analysis import natural_key

        result = []
        # In the order the TF.js runner uses: a signature's map has none of its own, so by name.
        for name, info in sorted(section.items(), key=lambda item: natural_key(item[0])):
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
        # TF.js tools nest models (Teachable Machine: a Sequential whose first layer is a Sequential)
        while first.get("class_name") in ("Sequential", "Model", "Functional") and not (
                first.get("config", {}).get("batch_input_shape") or first.get("config", {}).get("batch_shape")):
            inner = first.get("config", {})
            inner_layers = inner if isinstance(inner, list) else inner.get("layers", [])
            if not inner_layers:
                break
            first = inner_layers[0]
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
    for entry in _endpoints(body.get("input_layers", [])):
        layer_name = entry[0]
        layer_config = by_name.get(layer_name, {})
        inputs.append(TensorSpec(layer_name, shape_of(layer_config), layer_config.get("dtype") or "float32"))
    output_entries = _endpoints(body.get("output_layers", []))
    names = [entry[0] for entry in output_entries]
    if len(set(names)) != len(names):
        names = [f"{name}_{i}" for i, name in enumerate(names)]
    return inputs, [TensorSpec(name, (None,)) for name in names]


def _endpoints(value: list[Any]) -> list[Any]:
    # Keras 3 writes a single input or output flat (["name", 0, 0]); Keras 2 always nests.
    return [value] if value and isinstance(value[0], str) else list(value)


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
