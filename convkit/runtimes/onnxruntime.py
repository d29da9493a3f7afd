"""onnxruntime, the runtime of ONNX models: an ``.onnx`` file on the CPU execution provider."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from convkit.errors import RunError, error_text
from convkit.formats.onnx import ORT_TYPES, TRANSPOSED_KEY
from convkit.runtimes.base import DEFAULT_BATCH_SIZE, Runner, TensorSpec, fixed_batch, in_batches


def _spec(node: Any, transposed: dict[str, tuple[int, ...]]) -> TensorSpec:
    dims = tuple(d if isinstance(d, int) and d >= 0 else None for d in (getattr(node, "shape", None) or ()))
    axes = transposed.get(node.name)
    return TensorSpec(name=node.name, shape=dims, dtype=ORT_TYPES.get(node.type, node.type),
                      axes=axes if axes is not None and len(axes) == len(dims) else None)


class OnnxRunner(Runner):
    """Runs an ONNX model in an ``onnxruntime.InferenceSession`` on the CPU.

    Symbolic dimensions (``unk__12``, ``batch``) count as open. A model whose
    batch dimension is fixed is fed in slices of that size, the last one padded. External data must
    be regular files inside the model's folder, reached without a link, before
    onnxruntime reads them; inputs and outputs the model records as transposed
    (``convert --nchw``) carry their axes in their specs.

    Args:
        path: the ``.onnx`` file.
        batch_size: samples per run when the batch is open. Default 256.
        once: the model runs once (the smoke run of a file convert just wrote): onnxruntime's memory arena,
            memory-pattern cache and weight prepacking (a second, GEMM-ready copy of each MatMul's weights),
            which pay off over many runs, are off, so the run needs the model's memory and its activations
            only; and the file, convkit's own, goes to onnxruntime unparsed by Python (a parse holds a
            second copy of inline weights for a moment). Default False.
    """

    def __init__(self, path: Path, *, batch_size: int = DEFAULT_BATCH_SIZE, once: bool = False) -> None:
        super().__init__(path, "onnx")
        self.batch_size = batch_size
        self.once = once
        self._file = Path(path)
        self._session: Any = None

    def _load(self) -> None:
        import onnxruntime

        from convkit.formats.onnx import external_data, read_model, transposed, transposed_entry

        layout: dict[str, tuple[int, ...]] = {}
        if not self.once:
            model = read_model(self._file)  # a damaged protobuf fails here, with one line, before onnxruntime sees it
            external_data(self._file, model)  # and external data outside the folder, or through a link
            layout = transposed(self._file, model)
            del model
        self.runtime = f"onnxruntime {onnxruntime.__version__}"
        self.session_options = onnxruntime.SessionOptions()
        if self.once:
            self.session_options.enable_cpu_mem_arena = False
            self.session_options.enable_mem_pattern = False
            self.session_options.add_session_config_entry("session.disable_prepacking", "1")
        try:
            # From the path, so onnxruntime reads the file itself (the parse above is let go first).
            self._session = onnxruntime.InferenceSession(str(self.path), sess_options=self.session_options,
                                                         providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime's own exception classes (Fail, InvalidGraph, ...)
            raise RunError(f"{self.path}: onnxruntime could not load the model ({error_text(error)})") from None
        if self.once:
            metadata = self._session.get_modelmeta().custom_metadata_map
            layout = transposed_entry(self._file, metadata.get(TRANSPOSED_KEY))
        self._inputs = [_spec(node, layout) for node in self._session.get_inputs()]
        self._outputs = [_spec(node, layout) for node in self._session.get_outputs()]

    def _infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        names = [spec.name for spec in self._outputs]
        fixed = fixed_batch(self._inputs)

        def run(part: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            try:
                values = self._session.run(names, {spec.name: part[spec.name] for spec in self._inputs})
            except Exception as error:  # onnxruntime's own exception classes (InvalidArgument, Fail, ...)
                raise RunError(f"{self.path}: onnxruntime could not run the model ({error_text(error)})") from None
            return dict(zip(names, values))

        return in_batches(feed, run, fixed or self.batch_size, fixed=fixed is not None)

    def _release(self) -> None:
        self._session = None


def open_onnx(path: Path, *, like: Path | None, allow_unsafe: bool, training: bool) -> Runner:
    """onnxruntime on the CPU."""
    return OnnxRunner(path)


def open_onnx_once(path: Path, *, like: Path | None, allow_unsafe: bool, training: bool) -> Runner:
    """onnxruntime on the CPU, for one run (the smoke run): no memory arena, no memory-pattern cache."""
    return OnnxRunner(path, once=True)
