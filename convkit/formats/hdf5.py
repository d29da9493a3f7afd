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

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from convkit.errors import ReadError
from convkit.formats import _h5, _report
from convkit.formats._isolate import run_isolated
from convkit.registry import Format, register_format

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
    return path.is_file() and _h5.is_hdf5_file(path)


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
    with _h5.reading(path), _h5.open_hdf5(path, path) as h5:
        kind = _kind(h5)
        model_config = _h5.json_attr(h5, "model_config", path)
        training_config = _h5.json_attr(h5, "training_config", path)
        if model_config is not None and not isinstance(model_config, dict):
            raise ReadError(f"{path}: attribute 'model_config' is not a JSON object")
        tree = _h5.walk(h5, path, JSON_ATTRS)
        keras_version = _h5.read_attr(h5, "keras_version", path) if "keras_version" in h5.attrs else None
        backend = _h5.read_attr(h5, "backend", path) if "backend" in h5.attrs else None
        optimizer_rows: list[dict[str, Any]] = []
        metric_count = 0
        if kind == "legacy-full-model":
            group = h5.get("model_weights")
            if group is None:
                raise ReadError(f"{path}: legacy Keras model has a model_config but no model_weights group")
            keras_version = keras_version or (_h5.read_attr(group, "keras_version", path) if "keras_version" in group.attrs else None)
            weight_rows = _h5.keras2_weights(group, path, weights)
            optimizer_rows = _optimizer_rows(h5, path, weights)
        elif kind == "keras2-weights":
            weight_rows = _h5.keras2_weights(h5, path, weights)
        elif kind == "keras3-weights":
            all_rows = _h5.keras3_weights(h5, path, weights)
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


def _optimizer_rows(h5: Any, path: Path, stats: bool) -> list[dict[str, Any]]:
    import h5py

    group = h5.get("optimizer_weights")
    if not isinstance(group, h5py.Group):
        return []
    names = _h5.read_attr(group, "weight_names", path) if "weight_names" in group.attrs else []
    rows = []
    for name in names if isinstance(names, list) else []:
        dataset = group.get(name) if isinstance(name, str) else None
        if not isinstance(dataset, h5py.Dataset):
            raise ReadError(f"{path}: optimizer weight {name!r} is listed but missing")
        rows.append(_h5.dataset_row(dataset, name, stats, path))
    return rows


def inspect(path: Path, **options: Any) -> Hdf5Report:
    """:func:`_inspect` in a child process, so a libhdf5 hang or crash on a damaged file is one ReadError."""
    return run_isolated(_inspect, Path(path), **options)


def keras_attributes(path: Path) -> dict[str, str]:
    """The root attributes of a Keras HDF5 file (``keras_version``, ``backend``, ``model_config``), as text."""
    result = {}
    with _h5.reading(path), _h5.open_hdf5(path, path) as h5:
        for key in ("keras_version", "backend", "model_config"):
            if key in h5.attrs:
                value = _h5.read_attr(h5, key, path)
                result[key] = value if isinstance(value, str) else str(value)
    return result


def refuse_forged(path: Path) -> None:
    """Raises ``ReadError`` when a dataset declares more bytes than the file stores.

    Keras would allocate the declared size while loading (a forged header can
    declare terabytes), so the sizes are checked before any runtime sees the file.
    """
    import h5py

    datasets: list[Any] = []
    with _h5.reading(path), _h5.open_hdf5(path, path) as h5:
        h5.visititems(lambda name, node: datasets.append(node) if isinstance(node, h5py.Dataset) else None)
        for dataset in datasets:
            _h5.check_stored(dataset, path)


def copy_group(source: Path, target: Path, name: str) -> None:
    """Copies the group ``name`` (``optimizer_weights``) of one ``.h5`` file into another, if present."""
    import h5py

    with h5py.File(source, "r") as src, h5py.File(target, "a") as dst:
        if name in src:
            src.copy(src[name], dst, name=name)


def configs(path: Path) -> list[Any]:
    """The model and training configs of an ``.h5`` file, as data (read in a child, like :func:`inspect`)."""
    report = inspect(Path(path))
    return [config for config in (report.model_config, report.training_config) if config is not None]


register_format(Format(
    name="h5",
    description="Keras HDF5 model or weights (.h5)",
    accept=accept,
    inspect=inspect,
    extensions=(".h5", ".hdf5", ".weights.h5"),
    configs=configs,
    reader="convkit.formats.portable:read_h5",
    writer="convkit.convert.routes:to_h5",
    runner="convkit.check.runners:open_h5",
    default_output=lambda parent, name: parent / f"{name}.h5",
    graph_extractor="convkit.graph.keras:from_h5",
))
