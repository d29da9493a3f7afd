"""Keras 3 ``.keras`` archives: a zip holding ``metadata.json`` (Keras version,
save date), ``config.json`` (the model's serialised config) and
``model.weights.h5`` (weights in the Keras 3 ``layers/<name>/vars/<i>`` layout),
plus optional ``assets/``.

The archive is read in place, never extracted; the config is read as JSON and
never deserialised, so a Lambda layer's code is flagged but never run.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from convkit.errors import ReadError
from convkit.formats import _h5, _limits, _report
from convkit.formats._isolate import run_isolated
from convkit.registry import Format, register_format

CONFIG = "config.json"
METADATA = "metadata.json"
WEIGHTS = "model.weights.h5"
ZIP_MAGIC = b"PK\x03\x04"


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
        with zipfile.ZipFile(path) as archive:
            return CONFIG in archive.namelist()
    except (OSError, zipfile.BadZipFile, ValueError):
        return False


def check_members(archive: zipfile.ZipFile, path: Path) -> list[dict[str, Any]]:
    """The archive's members, checked against the member-count, size and zip-bomb limits before any is read."""
    infos = archive.infolist()
    if len(infos) > _limits.MAX_ARCHIVE_MEMBERS:
        raise ReadError(f"{path}: archive holds {len(infos)} members, over convkit's limit of {_limits.MAX_ARCHIVE_MEMBERS}")
    names = [info.filename for info in infos]
    if len(set(names)) != len(names):
        twice = sorted({name for name in names if names.count(name) > 1})[0]
        raise ReadError(f"{path}: archive holds two members named {twice!r}; which one a reader takes is undefined")
    total = 0
    rows = []
    for info in infos:
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > 1024 * 1024 and ratio > _limits.MAX_COMPRESSION_RATIO:
            raise ReadError(
                f"{path}: member {info.filename!r} expands {ratio:.0f}x, over convkit's limit of "
                f"{_limits.MAX_COMPRESSION_RATIO}x (zip bomb?)"
            )
        rows.append({
            "name": info.filename,
            "bytes": info.file_size,
            "compressed_bytes": info.compress_size,
            "compression": {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}.get(info.compress_type, str(info.compress_type)),
        })
    if total > _limits.MAX_ARCHIVE_BYTES:
        raise ReadError(f"{path}: archive expands to {total} bytes, over convkit's limit of {_limits.MAX_ARCHIVE_BYTES}")
    return rows


def json_member(archive: zipfile.ZipFile, name: str, path: Path) -> Any:
    info = archive.getinfo(name)
    if info.file_size > _limits.MAX_JSON_BYTES:
        raise ReadError(f"{path}: {name} is {info.file_size} bytes, over convkit's limit of {_limits.MAX_JSON_BYTES}")
    try:
        data = archive.read(name)
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise ReadError(f"{path}: cannot read {name} from the archive ({error})") from None
    return _limits.parse_json(data, path, name)


def _inspect(path: Path, *, weights: bool = False, **_options: Any) -> KerasArchiveReport:
    """Describes the ``.keras`` archive at ``path`` without loading the model.

    Args:
        path: the ``.keras`` file.
        weights: add per-weight statistics. Default False.
    """
    path = Path(path)
    try:
        archive = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise ReadError(f"{path}: no such file") from None
    except (zipfile.BadZipFile, OSError, ValueError) as error:
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
            try:
                member = archive.open(WEIGHTS)
            except (zipfile.BadZipFile, OSError, EOFError) as error:
                raise ReadError(f"{path}: cannot read {WEIGHTS} from the archive ({error})") from None
            with _h5.reading(path), member, _h5.open_hdf5(member, path) as h5:
                weights_tree = _h5.walk(h5, path)
                all_rows = _h5.keras3_weights(h5, path, weights)
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
        with zipfile.ZipFile(path) as archive:
            if "metadata.json" not in archive.namelist():
                return None
            metadata = json_member(archive, "metadata.json", path)
    except (zipfile.BadZipFile, OSError) as error:
        raise ReadError(f"{path}: not a readable .keras archive ({error})") from None
    version = metadata.get("keras_version") if isinstance(metadata, dict) else None
    return version if isinstance(version, str) else None


def configs(path: Path) -> list[Any]:
    """The model config (with its compile config) of a ``.keras`` archive, as data."""
    report = inspect(Path(path))
    return [config for config in (report.model_config, report.compile_config) if config is not None]


register_format(Format(
    name="keras",
    description="Keras 3 archive (.keras)",
    accept=accept,
    inspect=inspect,
    extensions=(".keras",),
    configs=configs,
    reader="convkit.formats.portable:read_keras",
    writer="convkit.convert.routes:to_keras",
    runner="convkit.check.runners:open_keras",
    default_output=lambda parent, name: parent / f"{name}.keras",
    graph_extractor="convkit.graph.keras:from_keras_archive",
))
