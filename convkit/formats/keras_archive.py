"""Keras 3 ``.keras`` archives: a zip holding ``metadata.json`` (Keras version,
save date), ``config.json`` (the model's serialised config) and
``model.weights.h5`` (weights in the Keras 3 ``layers/<name>/vars/<i>`` layout),
plus optional ``assets/``.

The archive is read in place, never extracted; the config is read as JSON and
never deserialised, so a Lambda layer's code is flagged but never run.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from convkit.containers import hdf5
from convkit.containers.isolate import run_isolated
from convkit.containers.zip import (
    ZIP_MAGIC, BadZipFile, ZipFile, check_members, json_member, open_member, text_member,
)
from convkit.errors import ReadError
from convkit.formats import _report
from convkit.policy.code import without_training
from convkit.registry import Format, register_format

if TYPE_CHECKING:
    from convkit.keras_model.data import ModelData, Template

CONFIG = "config.json"
METADATA = "metadata.json"
WEIGHTS = "model.weights.h5"


@dataclass(frozen=True)
class KerasArchiveReport(_report.ReportBase):
    """What ``convkit inspect`` shows for a ``.keras`` archive."""

    format: str
    path: str
    kind: str
    keras_version: str | None
    metadata: dict[str, Any] | None
    entries: list[dict[str, Any]]
    summary: dict[str, Any]
    model: dict[str, Any] | None
    compile_config: dict[str, Any] | None
    layers: list[dict[str, Any]]
    weights: list[dict[str, Any]]
    optimizer_weights: list[dict[str, Any]]
    weights_tree: dict[str, Any] | None
    model_config: dict[str, Any] | None


def accept(path: Path) -> bool:
    """A zip archive with a ``config.json`` member."""
    path = Path(path)
    try:
        if not path.is_file():
            return False
        with path.open("rb") as handle:
            if handle.read(4) != ZIP_MAGIC:
                return False
        with ZipFile(path) as archive:
            return CONFIG in archive.namelist()
    except (OSError, BadZipFile, ValueError):
        return False


def _inspect(path: Path, *, weights: bool = False, **_options: Any) -> KerasArchiveReport:
    """Describes the ``.keras`` archive at ``path`` without loading the model.

    Args:
        path: the ``.keras`` file.
        weights: add per-weight statistics. Default False.
    """
    path = Path(path)
    try:
        archive = ZipFile(path)
    except FileNotFoundError:
        raise ReadError(f"{path}: no such file") from None
    except (BadZipFile, OSError, ValueError) as error:
        raise ReadError(f"{path}: not a readable zip archive ({error}; truncated?)") from None
    with archive:
        entries = check_members(archive, path)
        names = {row["name"] for row in entries}
        if CONFIG not in names:
            raise ReadError(f"{path}: zip archive has no {CONFIG}; not a Keras 3 .keras file")
        model_config = json_member(archive, CONFIG, path)
        if not isinstance(model_config, dict):
            raise ReadError(f"{path}: {CONFIG} is not a JSON object")
        metadata = json_member(archive, METADATA, path) if METADATA in names else None
        weights_tree = None
        weight_rows: list[dict[str, Any]] = []
        optimizer_rows: list[dict[str, Any]] = []
        metric_count = 0
        if WEIGHTS in names:
            member = open_member(archive, WEIGHTS, path)
            with hdf5.reading(path), member, hdf5.open_hdf5(member, path) as h5:
                weights_tree = hdf5.walk(h5, path)
                all_rows = hdf5.keras3_weights(h5, path, weights)
            weight_rows = [row for row in all_rows if row["role"] == "model"]
            optimizer_rows = [row for row in all_rows if row["role"] == "optimizer"]
            metric_count = len(all_rows) - len(weight_rows) - len(optimizer_rows)
    compile_config = model_config.get("compile_config") if isinstance(model_config.get("compile_config"), dict) else None
    layers = _report.layer_table(model_config, weight_rows, lambda row: row["layer"].split("/")[-1])
    model = _report.config_summary(model_config)
    keras_version = metadata.get("keras_version") if isinstance(metadata, dict) else None
    return KerasArchiveReport(
        format="keras",
        path=str(path),
        kind="keras3-archive",
        keras_version=keras_version,
        metadata=metadata if isinstance(metadata, dict) else None,
        entries=entries,
        summary={
            "entries": len(entries),
            "layers": len(layers),
            "weights": len(weight_rows),
            **_report.weight_totals(weight_rows),
            "optimizer_weights": len(optimizer_rows),
            "metric_weights": metric_count,
            "code_layers": len(model["code_layers"]) if model else 0,
        },
        model=model,
        compile_config=compile_config,
        layers=layers,
        weights=weight_rows,
        optimizer_weights=optimizer_rows,
        weights_tree=weights_tree,
        model_config=model_config,
    )


def inspect(path: Path, **options: Any) -> KerasArchiveReport:
    """:func:`_inspect` in a child process, so a libhdf5 hang or crash on a damaged file is one ReadError."""
    return run_isolated(_inspect, Path(path), **options)


def keras_version(path: Path) -> str | None:
    """The ``keras_version`` in a ``.keras`` archive's ``metadata.json``, if any."""
    try:
        with ZipFile(path) as archive:
            if "metadata.json" not in archive.namelist():
                return None
            metadata = json_member(archive, "metadata.json", path)
    except (BadZipFile, OSError) as error:
        raise ReadError(f"{path}: not a readable .keras archive ({error})") from None
    version = metadata.get("keras_version") if isinstance(metadata, dict) else None
    return version if isinstance(version, str) else None


def read(path: Path, stack: contextlib.ExitStack, *, like: Path | None, template: Template | None) -> ModelData:
    """A ``.keras`` archive (``config.json`` + ``model.weights.h5``) as ModelData; weights are read when asked for.

    ``model.weights.h5`` is copied out of the archive into a temporary folder (never next to the input).

    Raises:
        NeedsKeras: a layer keeps variables only the Keras that wrote the archive names.
        ReadError: the archive or its members are damaged or over convkit's limits.
    """
    from convkit.keras_model.data import ModelData, NeedsKeras, Weight
    from convkit.keras_model.dialect import to_keras2_config
    from convkit.keras_model.hdf5_weights import keras3_children, keras3_layer_weights

    try:
        archive = stack.enter_context(ZipFile(path))
        check_members(archive, path)
        raw_config = json_member(archive, CONFIG, path)
        if not isinstance(raw_config, dict):
            raise ReadError(f"{path}: {CONFIG} is not a JSON object")
        metadata = {}
        if METADATA in archive.namelist():
            metadata = json_member(archive, METADATA, path)
            metadata = metadata if isinstance(metadata, dict) else {}
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="convkit-keras-")))
        weights_path = scratch / WEIGHTS
        with archive.open(WEIGHTS) as source, open(weights_path, "wb") as target:
            shutil.copyfileobj(source, target, 16 * 1024 * 1024)
    except (BadZipFile, KeyError, OSError) as error:
        raise ReadError(f"{path}: not a readable .keras archive ({error})") from None
    # tf_keras writes .keras archives too; its activations and TFOpLambda layers are its own
    generation = 2 if str(metadata.get("keras_version", "3")).startswith("2.") else 3
    raw_config = _with_vocabularies(raw_config, archive, path)
    h5 = stack.enter_context(hdf5.open_hdf5(weights_path, weights_path))
    layer_weights: dict[str, list[Weight]] = {}
    try:
        for layer, group in keras3_children(raw_config, hdf5.member(h5, "layers")):
            name = (layer.get("config") or {}).get("name", layer.get("name"))
            items = keras3_layer_weights(layer, group)
            items.sort(key=lambda weight: not weight.trainable)
            layer_weights[name] = items
    except NeedsKeras as error:  # the Keras that wrote the archive reads it
        raise NeedsKeras(str(error), generation) from None
    return ModelData(
        config=to_keras2_config(raw_config),
        layer_weights=layer_weights,
        generation=generation,
        keras_version=str(metadata.get("keras_version", "3")),
        training_config=raw_config.get("compile_config"),
        raw_config=raw_config,
    )


def _with_vocabularies(raw_config: dict[str, Any], archive: ZipFile, path: Path) -> dict[str, Any]:
    """The config with each lookup layer's vocabulary (``assets/layers/<key>/vocabulary.txt``, one token a line,
    as Keras writes it) as its ``vocabulary`` argument, so that every Keras target carries it."""
    import copy

    from convkit.keras_model.config import LOOKUP_CLASSES, MODEL_CLASSES
    from convkit.keras_model.hdf5_weights import keras3_keys

    names = set(archive.namelist())
    config = copy.deepcopy(raw_config)

    def visit(model: dict[str, Any], prefix: str) -> None:
        for layer, key in keras3_keys(model):
            body = layer.get("config")
            if layer.get("class_name") in MODEL_CLASSES:
                visit(layer, f"{prefix}{key}/layers/")
            elif layer.get("class_name") in LOOKUP_CLASSES and isinstance(body, dict) and body.get("vocabulary") is None:
                member = f"assets/{prefix}{key}/vocabulary.txt"
                if member in names:
                    lines = text_member(archive, member, path).splitlines()
                    while lines and lines[-1] == "":
                        lines.pop()
                    integers = layer.get("class_name") == "IntegerLookup"
                    body["vocabulary"] = [int(line) for line in lines] if integers else lines

    visit(config, "layers/")
    return config


def configs(path: Path) -> list[Any]:
    """The model config of a ``.keras`` archive without its compile config (what the forward pass builds), as data."""
    report = inspect(Path(path))
    return [without_training(report.model_config)] if report.model_config is not None else []


register_format(Format(
    name="keras",
    description="Keras 3 archive (.keras)",
    accept=accept,
    inspect=inspect,
    extensions=(".keras",),
    configs=configs,
    reader="convkit.formats.keras_archive:read",
    writer="convkit.convert.writers.keras:write",
    runner="convkit.runtimes.keras.open:open_keras",
    default_output=lambda parent, name: parent / f"{name}.keras",
    output_suffixes=(".keras",),
    graph_extractor="convkit.graph.keras:from_keras_archive",
))
