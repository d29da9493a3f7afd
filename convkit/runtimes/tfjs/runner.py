"""The TF.js runtime: layers and graph models run in real TF.js, under Node.js or in headless Chromium.

Each model runs on one TF.js backend (``cpu``, ``wasm``, ``webgl``, ``webgl-f16``)
in a host: one ``node`` process serves every TF.js model of a check run
(:class:`~convkit.runtimes.tfjs.node.NodeHost`), and the browser backends run in
pages of one headless Chromium (:mod:`convkit.runtimes.tfjs.browser`). Which
backends a check asks for, and which host runs each, is
:mod:`~convkit.runtimes.tfjs.backends`'; how tensors cross the process boundary,
:mod:`~convkit.runtimes.tfjs.protocol`'.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from convkit import profile
from convkit.errors import ReadError, UsageError
from convkit.formats.tfjs import check_shards, read_model_json
from convkit.formats.tfjs.signature import model_specs, quantization
from convkit.runtimes.base import Runner, TensorSpec
from convkit.runtimes.precision import Tolerance
from convkit.runtimes.tfjs.install import find_node_root
from convkit.runtimes.tfjs.node import NodeHost

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
        cpu_fallback: when the backend cannot run the model (wasm lacks a kernel or a fused activation), run on
            cpu and say so.
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
        self.kind, self._inputs, self._outputs = model_specs(self.model_json, model_json)
        self.quantization = quantization(model_json)
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
        _record_profile(header.get("profile"), self.host.name.lower())
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


def _record_profile(figures: Any, process: str) -> None:
    """Hands the seconds and memory the TF.js host measured for loading and running the model to the profile."""
    if not isinstance(figures, dict):
        return
    before = figures.get("idle") or {}
    for name in ("load", "run"):
        stage = figures.get(name) or {}
        memory = stage.get("memory") or {}
        notes = []
        if name == "load":
            notes.append("each weight read once, in place" if stage.get("inPlace") else "through TF.js's own loader")
        if memory.get("wasmHeap"):
            notes.append(f"wasm heap {memory['wasmHeap'] / 2**20:.0f} MiB")
        peak = memory.get("hwm")
        raised = max(0, peak - before["hwm"]) if peak is not None and before.get("hwm") is not None else None
        cpu = stage.get("cpuSeconds")
        profile.record(name, process, float(stage.get("seconds") or 0.0), cpu_seconds=None if cpu is None else float(cpu),
                       peak_bytes=peak, raised_bytes=raised, start_bytes=before.get("rss"), notes=tuple(notes))
        before = memory


def _reason(message: str, model_json: Path) -> str:
    """The runtime's own words from an error about ``model_json``."""
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


def _tfjs_version(node_root: Path) -> str:
    try:
        package = json.loads((node_root / "node_modules" / "@tensorflow" / "tfjs" / "package.json").read_text())
        return str(package.get("version", "?"))
    except (OSError, ValueError):
        return "?"


def open_tfjs(path: Path, *, like: Path | None, allow_unsafe: bool, training: bool) -> Runner:
    """TF.js under Node (the record's runtime; a check run fans it out over backends and hosts)."""
    return TfjsRunner(path)
