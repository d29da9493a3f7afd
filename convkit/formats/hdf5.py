"""Keras HDF5 files (``.h5``): legacy full models and weights-only files.

Three layouts, recognised by content:

- ``legacy-full-model`` (``model.save('m.h5')`` in either Keras generation):
  root attributes ``model_config`` / ``training_config`` (JSON) and
  ``keras_version``; weights under ``model_weights/<layer>/...`` named by the
  ``layer_names`` and ``weight_names`` attributes; ``optimizer_weights/``.
- ``keras2-weights`` (tf_keras ``save_weights('w.h5')``): the same layer groups
  at the root, no config.
- ``keras3-weights`` (Keras 3 ``.weights.h5``): ``layers/<name>/vars/<i>``
  datasets and ``optimizer/vars/<i>``.

Any other HDF5 file is shown as a plain group/dataset tree (kind ``hdf5``).
Configs are read as JSON only; Lambda layers are flagged, never unmarshalled.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from convkit.containers import hdf5
from convkit.containers.isolate import run_isolated
from convkit.errors import ReadError, UsageError
from convkit.formats import _report
from convkit.registry import Format, register_format

if TYPE_CHECKING:
    from convkit.keras_model.data import ModelData, Template, Weight

JSON_ATTRS = ("model_config", "training_config")


@dataclass(frozen=True)
class Hdf5Report(_report.ReportBase):
    """What ``convkit inspect`` shows for an HDF5 file."""

    format: str
    path: str
    kind: str
    keras_version: str | None
    backend: str | None
    summary: dict[str, Any]
    model: dict[str, Any] | None
    model_config: dict[str, Any] | None
    training_config: dict[str, Any] | None
    layers: list[dict[str, Any]]
    weights: list[dict[str, Any]]
    optimizer_weights: list[dict[str, Any]]
    tree: dict[str, Any]


def accept(path: Path) -> bool:
    """An HDF5 file (magic ``\\x89HDF\\r\\n\\x1a\\n`` at offset 0 or after a user block)."""
    path = Path(path)
    return path.is_file() and hdf5.is_hdf5_file(path)


def _kind(h5: Any) -> str:
    if "model_config" in h5.attrs or "model_weights" in h5:
        return "legacy-full-model"
    if "layer_names" in h5.attrs:
        return "keras2-weights"
    if "layers" in h5 or ("vars" in h5 and "optimizer" in h5):
        return "keras3-weights"
    return "hdf5"


def _inspect(path: Path, *, weights: bool = False, **_options: Any) -> Hdf5Report:
    """Describes the HDF5 file at ``path`` without loading a model.

    Args:
        path: the ``.h5`` file.
        weights: add per-dataset statistics (min, max, mean, std, NaN/Inf). Default False.
    """
    path = Path(path)
    if not accept(path):
        raise ReadError(f"{path}: not an HDF5 file (no HDF5 signature)")
    with hdf5.reading(path), hdf5.open_hdf5(path, path) as h5:
        kind = _kind(h5)
        model_config = hdf5.json_attr(h5, "model_config", path)
        training_config = hdf5.json_attr(h5, "training_config", path)
        if model_config is not None and not isinstance(model_config, dict):
            raise ReadError(f"{path}: attribute 'model_config' is not a JSON object")
        tree = hdf5.walk(h5, path, JSON_ATTRS)
        keras_version = hdf5.read_attr(h5, "keras_version", path) if "keras_version" in h5.attrs else None
        backend = hdf5.read_attr(h5, "backend", path) if "backend" in h5.attrs else None
        optimizer_rows: list[dict[str, Any]] = []
        metric_count = 0
        if kind == "legacy-full-model":
            group = h5.get("model_weights")
            if group is None:
                raise ReadError(f"{path}: legacy Keras model has a model_config but no model_weights group")
            keras_version = keras_version or (hdf5.read_attr(group, "keras_version", path) if "keras_version" in group.attrs else None)
            weight_rows = hdf5.keras2_weights(group, path, weights)
            optimizer_rows = hdf5.keras2_optimizer_weights(h5, path, weights)
        elif kind == "keras2-weights":
            weight_rows = hdf5.keras2_weights(h5, path, weights)
        elif kind == "keras3-weights":
            all_rows = hdf5.keras3_weights(h5, path, weights)
            weight_rows = [row for row in all_rows if row["role"] == "model"]
            optimizer_rows = [row for row in all_rows if row["role"] == "optimizer"]
            metric_count = len(all_rows) - len(weight_rows) - len(optimizer_rows)
        else:
            weight_rows = []
    layers = _report.layer_table(model_config, weight_rows, lambda row: row["layer"])
    model = _report.config_summary(model_config)
    return Hdf5Report(
        format="h5",
        path=str(path),
        kind=kind,
        keras_version=keras_version,
        backend=backend,
        summary={
            "layers": len(layers),
            "weights": len(weight_rows),
            **_report.weight_totals(weight_rows),
            "optimizer_weights": len(optimizer_rows),
            "metric_weights": metric_count,
            "optimizer_parameters": sum(_report.count(row["shape"]) for row in optimizer_rows),
            "code_layers": len(model["code_layers"]) if model else 0,
        },
        model=model,
        model_config=model_config,
        training_config=training_config,
        layers=layers,
        weights=weight_rows,
        optimizer_weights=optimizer_rows,
        tree=tree,
    )


def inspect(path: Path, **options: Any) -> Hdf5Report:
    """:func:`_inspect` in a child process, so a libhdf5 hang or crash on a damaged file is one ReadError."""
    return run_isolated(_inspect, Path(path), **options)


def keras_attributes(path: Path) -> dict[str, str]:
    """The root attributes of a Keras HDF5 file (``keras_version``, ``backend``, ``model_config``), as text."""
    result = {}
    with hdf5.reading(path), hdf5.open_hdf5(path, path) as h5:
        for key in ("keras_version", "backend", "model_config"):
            if key in h5.attrs:
                value = hdf5.read_attr(h5, key, path)
                result[key] = value if isinstance(value, str) else str(value)
    return result


# ---------------------------------------------------------------- reading into the in-memory model


def is_weights_only(path: Path) -> bool:
    """Whether an ``.h5`` file holds weights without a model config."""
    with hdf5.reading(path), hdf5.open_hdf5(path, path) as h5:
        return "model_config" not in h5.attrs


def read_keras_model(path: Path, stack: contextlib.ExitStack) -> ModelData:
    """A whole-model ``.h5`` file (tf_keras or Keras 3 ``model.save('x.h5')``); weights are read when asked for."""
    from convkit.keras_model.cudnn import cudnn_as_keras
    from convkit.keras_model.data import ModelData
    from convkit.keras_model.dialect import to_keras2_config
    from convkit.keras_model.hdf5_weights import keras2_layer_weights, named_by_layer

    h5 = stack.enter_context(hdf5.open_hdf5(path, path))
    raw_config = hdf5.json_attr(h5, "model_config", path)
    if raw_config is None:
        raise UsageError(f"{path}: holds weights only (no model_config); pass --like MODEL for the architecture")
    if not isinstance(raw_config, dict):
        raise ReadError(f"{path}: model_config is not a JSON object")
    version = hdf5.text_attr(h5, "keras_version", path) or "2"
    training = hdf5.json_attr(h5, "training_config", path)
    if training is not None and not isinstance(training, dict):
        raise ReadError(f"{path}: training_config is not a JSON object")
    weights_group = h5["model_weights"] if "model_weights" in h5 else h5
    optimizer = hdf5.object_names(h5["optimizer_weights"], path) if "optimizer_weights" in h5 else []
    config = to_keras2_config(raw_config)
    body = raw_config.get("config")
    model_name = body.get("name") if isinstance(body, dict) else None  # Keras 2.0: a bare list of layers
    layer_weights = keras2_layer_weights(weights_group, path, model_name)
    notes = cudnn_as_keras(config, layer_weights)
    return ModelData(
        config=config,
        layer_weights=named_by_layer(layer_weights, config),
        notes=notes,
        generation=3 if version.startswith("3") else 2,
        keras_version=version,
        training_config=training,
        optimizer_weights=optimizer,
        raw_config=raw_config,
    )


def _read_weights_like(path: Path, like: ModelData, stack: contextlib.ExitStack) -> list[list[Weight]]:
    """Weights of a weights-only ``.h5``, one list per top-level layer of ``like`` that has weights.

    Legacy ``save_weights('x.h5')`` files list layers in order (``layer_names``);
    Keras 3 ``.weights.h5`` files key them by class (``layers/dense_1``), the
    keys Keras derives from the model's layer list, which ``like`` provides.
    """
    from convkit.keras_model.hdf5_weights import keras2_layer_weights, keras3_children, keras3_layer_weights

    h5 = stack.enter_context(hdf5.open_hdf5(path, path))
    if "layer_names" in h5.attrs or "model_weights" in h5:
        group = h5["model_weights"] if "model_weights" in h5 else h5
        return [items for items in keras2_layer_weights(group, path, None).values() if items]
    if "layers" in h5:
        groups = []
        for layer, group in keras3_children(like.raw_config or like.config, h5["layers"]):
            items = keras3_layer_weights(layer, group)
            items.sort(key=lambda weight: not weight.trainable)
            groups.append(items)
        return [items for items in groups if items]
    raise ReadError(f"{path}: an HDF5 file without Keras weights (no layer_names attribute or layers group)")


def read(path: Path, stack: contextlib.ExitStack, *, like: Path | None, template: Template | None) -> ModelData:
    """A whole-model ``.h5``, or a weights-only one in the architecture of ``template`` (the model ``like`` names)."""
    from convkit.keras_model.data import NeedsKeras
    from convkit.keras_model.weights import map_weights_by_structure, needs_like

    if not is_weights_only(path):
        return read_keras_model(path, stack)
    if template is None or like is None:
        raise needs_like(path, "a weights-only .h5 file")
    model = template()
    try:
        groups = _read_weights_like(path, model, stack)
    except NeedsKeras as error:
        raise NeedsKeras(str(error), 3, weights_only=True) from None
    return map_weights_by_structure(model, groups, path, like)


def configs(path: Path) -> list[Any]:
    """The model config of an ``.h5`` file (what the forward pass builds; the training config aside), as data
    (read in a child, like :func:`inspect`)."""
    report = inspect(Path(path))
    return [report.model_config] if report.model_config is not None else []


register_format(Format(
    name="h5",
    description="Keras HDF5 model or weights (.h5)",
    accept=accept,
    inspect=inspect,
    extensions=(".h5", ".hdf5", ".weights.h5"),
    configs=configs,
    weights_only=is_weights_only,
    reader="convkit.formats.hdf5:read",
    writer="convkit.convert.writers.h5:write",
    runner="convkit.runtimes.keras.open:open_h5",
    smoke_runner="convkit.runtimes.keras.open:open_h5_either_generation",
    default_output=lambda parent, name: parent / f"{name}.h5",
    output_suffixes=(".h5", ".hdf5"),
    graph_extractor="convkit.graph.keras:from_h5",
))
