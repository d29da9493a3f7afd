"""TF.js layers models written without TensorFlow: ``model.json`` + ``groupK-shardIofN.bin``.

Weights are streamed tensor by tensor from the in-memory model (copied in the
kernel where they sit in the source file as TF.js stores them), so a 1 GB model
never sits in memory whole; the Keras config goes through the TF.js names of
:mod:`convkit.formats.tfjs.names`. Reading a TF.js layers model back is
:mod:`convkit.formats.tfjs.layers`'.
"""

from __future__ import annotations

import fnmatch
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from convkit.errors import ReadError, UsageError
from convkit.formats.tfjs import DEFAULT_SHARD_SIZE, QUANTIZATIONS
from convkit.formats.tfjs.names import to_tfjs_config
from convkit.keras_model.config import bidirectional_sides, iter_layers, layer_names
from convkit.keras_model.data import ModelData
from convkit.keras_model.weights import tfjs_weight_name
from convkit.progress import Progress

# TF.js tensors are float32, int32, bool (and string, complex64); wider types are narrowed.
_TFJS_NARROWING = {"float64": "float32", "float16": "float32", "int64": "int32", "uint32": "int32",
                   "int16": "int32", "int8": "int32", "uint8": "int32", "uint16": "int32"}


_TFJS_DTYPES = ("float32", "int32", "bool")


@dataclass(frozen=True)
class TfjsWriteResult:
    weights: int
    shards: int
    bytes: int
    warnings: tuple[str, ...]


class _ShardWriter:
    """Concatenated weight bytes cut into files of at most ``shard_size`` bytes.

    TF.js joins all shards of a group before slicing weights out, so a tensor
    may span shard boundaries, as in tensorflowjs_converter's output.
    """

    def __init__(self, directory: Path, total: int, shard_size: int) -> None:
        self.directory = directory
        self.shard_size = shard_size
        self.count = max(1, -(-total // shard_size))
        self.paths = [f"group1-shard{index + 1}of{self.count}.bin" for index in range(self.count)]
        self._index = 0
        self._filled = 0
        self._fd = self._open(0)
        self.written = 0

    def _open(self, index: int) -> int:
        return os.open(self.directory / self.paths[index], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)

    def _room(self) -> int:
        room = self.shard_size - self._filled
        if room == 0:
            os.close(self._fd)
            self._index += 1
            self._fd = self._open(self._index)
            self._filled = 0
            room = self.shard_size
        return room

    def _advance(self, count: int) -> None:
        self._filled += count
        self.written += count

    def write(self, data: memoryview) -> None:
        while len(data):
            count = os.write(self._fd, data[: self._room()])
            self._advance(count)
            data = data[count:]

    def copy(self, source_fd: int, offset: int, nbytes: int) -> None:
        """Copies ``nbytes`` at ``offset`` of ``source_fd`` in the kernel, without reading them into Python."""
        while nbytes:
            want = min(nbytes, self._room())
            try:
                count = os.copy_file_range(source_fd, self._fd, want, offset)
            except OSError:
                count = 0
            if count <= 0:  # filesystem without copy_file_range: read and write
                count = os.write(self._fd, os.pread(source_fd, min(want, 16 * 1024 * 1024), offset))
                if count <= 0:
                    raise OSError(f"short write to {self.paths[self._index]}")
            self._advance(count)
            offset += count
            nbytes -= count

    def close(self) -> None:
        os.close(self._fd)
        # a model without weights still gets one (empty) shard so the manifest is uniform
        for index in range(self._index + 1, self.count):
            os.close(self._open(index))


def _quantize(values: np.ndarray, dtype: str) -> tuple[np.ndarray, dict[str, Any]]:
    if dtype == "float16":
        return values.astype(np.float16), {"dtype": "float16", "original_dtype": "float32"}
    levels = 255 if dtype == "uint8" else 65535
    low = float(values.min()) if values.size else 0.0
    high = float(values.max()) if values.size else 0.0
    scale = (high - low) / levels if high > low else 1.0
    quantized = np.round((values - low) / scale).clip(0, levels).astype(dtype)
    return quantized, {"dtype": dtype, "min": low, "scale": scale, "original_dtype": "float32"}


def _wants_quantization(name: str, patterns: Iterable[str]) -> bool:
    patterns = list(patterns)
    return not patterns or any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def write_tfjs_layers(
    model: ModelData,
    directory: Path,
    *,
    shard_size: int = DEFAULT_SHARD_SIZE,
    quantize: str | None = None,
    quantize_weights: Iterable[str] = (),
    generated_by: str = "convkit",
    progress: Progress | None = None,
) -> TfjsWriteResult:
    """Writes ``model`` as a TF.js layers model in ``directory`` (created).

    Args:
        model: the model to write; its config must be TF.js-expressible.
        directory: output folder (must not exist).
        shard_size: maximum bytes per shard file; default 4 MiB as tensorflowjs_converter.
        quantize: ``float16``, ``uint8`` or ``uint16`` to store float32 weights smaller.
        quantize_weights: glob patterns of TF.js weight names to quantize; default all.
        generated_by: the ``generatedBy`` field.
        progress: told the ``writing`` stage with bytes done and bytes total.
    """
    if shard_size <= 0:
        raise UsageError(f"shard size must be a positive number of bytes, not {shard_size}")
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise UsageError(f"unknown quantization {quantize!r}; choose one of {', '.join(QUANTIZATIONS)}")
    directory.mkdir(parents=True)
    warnings: list[str] = []
    plan = []
    total = 0
    known = layer_names(model.config)
    # TF.js scopes a Bidirectional's weights by the wrapper and its side: bidirectional/forward_lstm/kernel
    sides = {side: str((layer.get("config") or {}).get("name")) for layer in iter_layers(model.config)
             for side in bidirectional_sides(layer)}
    for weight in model.weights():
        name = tfjs_weight_name(weight.name, known)
        if name.rpartition("/")[0] in sides:
            name = f"{sides[name.rpartition('/')[0]]}/{name}"
        stored = _TFJS_NARROWING.get(weight.dtype, weight.dtype)
        if stored not in _TFJS_DTYPES:
            raise UsageError(f"weight {weight.name!r} has dtype {weight.dtype}, which TF.js cannot hold")
        if stored != weight.dtype:
            warnings.append(f"weight {weight.name!r} narrowed from {weight.dtype} to {stored} (TF.js has no {weight.dtype})")
        quantized_as = None
        if quantize and stored == "float32" and _wants_quantization(name, quantize_weights):
            quantized_as = quantize
        count = int(np.prod(weight.shape, dtype=np.int64))
        nbytes = count * np.dtype(quantized_as or stored).itemsize
        plan.append((weight, name, stored, quantized_as, nbytes))
        total += nbytes
    names = [item[1] for item in plan]
    if len(set(names)) != len(names):
        duplicate = next(name for name in names if names.count(name) > 1)
        raise UsageError(f"two weights map to the TF.js name {duplicate!r}; TF.js layers cannot hold this model")

    shards = _ShardWriter(directory, total, shard_size)
    manifest = []
    done = 0
    sources: dict[str, int] = {}
    try:
        for weight, name, stored, quantized_as, nbytes in plan:
            if weight.raw_span and stored == weight.dtype and not quantized_as and hasattr(os, "copy_file_range"):
                filename, offset = weight.raw_span
                if filename not in sources:
                    sources[filename] = os.open(filename, os.O_RDONLY)
                shards.copy(sources[filename], offset, nbytes)
                manifest.append({"name": name, "shape": list(weight.shape), "dtype": stored})
                done += nbytes
                if progress:
                    progress("writing", done, total)
                continue
            values = np.ascontiguousarray(weight.read())
            if tuple(values.shape) != tuple(weight.shape):
                raise ReadError(f"weight {weight.name!r} reads as shape {values.shape}, expected {weight.shape}")
            values = values.astype(stored, copy=False)
            entry: dict[str, Any] = {"name": name, "shape": list(weight.shape), "dtype": stored}
            if quantized_as:
                values, entry["quantization"] = _quantize(values, quantized_as)
            values = values.astype(values.dtype.newbyteorder("<"), copy=False)
            shards.write(values.reshape(-1).data.cast("B"))
            manifest.append(entry)
            done += nbytes
            if progress:
                progress("writing", done, total)
            del values
    finally:
        shards.close()
        for descriptor in sources.values():
            os.close(descriptor)

    config, dropped = to_tfjs_config(model.config, model.generation)
    warnings.extend(f"left out of the tfjs output: {what}" for what in dropped)
    topology = {
        "class_name": config["class_name"],
        "config": config["config"],
        "keras_version": keras2_version(model.keras_version),
        "backend": "tensorflow",
    }
    document = {
        "format": "layers-model",
        "generatedBy": f"keras v{model.keras_version}",
        "convertedBy": generated_by,
        "modelTopology": topology,
        "weightsManifest": [{"paths": shards.paths, "weights": manifest}],
    }
    (directory / "model.json").write_text(json.dumps(document))
    return TfjsWriteResult(len(manifest), shards.count, shards.written, tuple(warnings))


def keras2_version(version: str) -> str:
    # TF.js only reads the field; state the dialect the topology is written in.
    return version if version.startswith("2") else "2.19.0"
