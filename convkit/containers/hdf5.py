"""HDF5 reading shared by the ``.h5`` and ``.keras`` formats (the latter stores
``model.weights.h5`` inside its zip): magic sniffing, a capped walk of the
group/dataset tree with decoded attributes, and the two Keras weight layouts.

Keras 2 layout: a group per layer listed in the ``layer_names`` attribute, each
with a ``weight_names`` attribute naming its datasets. Keras 3 layout: nested
``layers/<name>/vars/<i>`` groups, ``optimizer/vars/<i>`` for the optimizer.
"""

from __future__ import annotations

import contextlib
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from convkit.containers import limits
from convkit.containers.zip import ZIP_MAGIC
from convkit.containers.tensors import tensor_stats
from convkit.errors import ReadError

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
# The superblock may follow a user block of 512, 1024, 2048... bytes.
_MAGIC_OFFSETS = (0, 512, 1024, 2048, 4096)
_INLINE_ARRAY_ELEMENTS = 64


def has_hdf5_magic(head: bytes) -> bool:
    """HDF5's signature at offset 0, or after a user block; a ZIP archive (a ``.keras``) is none, though the
    ``model.weights.h5`` it stores uncompressed may begin at one of those offsets."""
    if head.startswith(ZIP_MAGIC):
        return False
    return any(head[offset : offset + 8] == HDF5_MAGIC for offset in _MAGIC_OFFSETS)


def is_hdf5_file(path: Path) -> bool:
    try:
        with Path(path).open("rb") as handle:
            return has_hdf5_magic(handle.read(_MAGIC_OFFSETS[-1] + 8))
    except OSError:
        return False


def open_hdf5(source: Any, path: Path) -> Any:
    """``h5py.File`` opened read-only on a path or a seekable file object."""
    import h5py

    try:
        return h5py.File(source, "r")
    except (OSError, ValueError) as error:
        raise ReadError(f"{path}: cannot open as HDF5 ({_short(error)}; truncated or corrupt file?)") from None


@contextlib.contextmanager
def reading(path: Path) -> Iterator[None]:
    """Turns what h5py raises on a damaged file into one ``ReadError`` naming ``path``.

    libhdf5 reports corrupt B-trees, object headers and addresses as OSError,
    RuntimeError, KeyError, ValueError or OverflowError depending on where it
    notices; a ``.keras`` member read through zipfile adds BadZipFile (CRC).
    """
    try:
        yield
    except ReadError:
        raise
    except (OSError, RuntimeError, KeyError, ValueError, OverflowError, EOFError, zipfile.BadZipFile) as error:
        raise ReadError(f"{path}: damaged HDF5 data ({_short(error)}; truncated or corrupt file?)") from None


def check_stored(dataset: Any, path: Path) -> None:
    """Refuses a dataset whose header declares more bytes than the file stores.

    A never-written chunked dataset may declare terabytes in a file of a few
    kilobytes; reading it would allocate the declared size. Compressed
    datasets legitimately store less and are exempt.
    """
    declared = int(dataset.size) * int(dataset.dtype.itemsize)
    if dataset.compression is not None or dataset.id.get_create_plist().get_nfilters():
        return
    stored = int(dataset.id.get_storage_size())
    if stored < declared:
        raise ReadError(
            f"{path}: dataset {dataset.name} declares {declared} bytes but the file stores {stored} "
            "(truncated, or a forged size)"
        )


def _short(error: Exception) -> str:
    return " ".join(str(error).split())[:160]


def read_attr(obj: Any, name: str | bytes, path: Path) -> Any:
    """One attribute as a plain value, refusing attributes over ``MAX_HDF5_ATTR_BYTES``."""
    return plain_attr(_raw_attr(obj, name, path))


def _raw_attr(obj: Any, name: str | bytes, path: Path) -> Any:
    import h5py

    try:
        attr_id = h5py.h5a.open(obj.id, name.encode("utf-8") if isinstance(name, str) else bytes(name))
        try:
            size = attr_id.get_storage_size()
        except RuntimeError:  # HDF5 reports an empty attribute's size as an error
            size = 0
        if size > limits.MAX_HDF5_ATTR_BYTES:
            raise ReadError(
                f"{path}: attribute {name!r} of {obj.name} is {size} bytes, over convkit's limit of "
                f"{limits.MAX_HDF5_ATTR_BYTES}"
            )
        return obj.attrs[name]
    except ReadError:
        raise
    except (OSError, KeyError, TypeError, ValueError) as error:
        raise ReadError(f"{path}: cannot read attribute {name!r} of {obj.name} ({_short(error)})") from None


def text_attr(obj: Any, name: str, path: Path) -> str | None:
    """A text attribute (``keras_version``, ``model_config``) as a string; None when absent."""
    if name not in obj.attrs:
        return None
    value = read_attr(obj, name, path)
    return value if isinstance(value, str) else str(value)


def names_attr(obj: Any, name: str, path: Path, what: str) -> list[str]:
    """A string-array attribute (``layer_names``, ``weight_names``), every element; [] when absent.

    Raises:
        ReadError: over the size limit, or an element is not a string (``what`` names it in the message).
    """
    import numpy as np

    if name not in obj.attrs:
        return []
    value = _raw_attr(obj, name, path)
    items = value.tolist() if isinstance(value, np.ndarray) else [value]
    names = []
    for item in items if isinstance(items, list) else [items]:
        text = item.decode("utf-8", "replace") if isinstance(item, bytes) else item
        if not isinstance(text, str):
            raise ReadError(f"{path}: {name} of {what} holds {text!r}, not a name")
        names.append(text)
    return names


def plain_attr(value: Any) -> Any:
    import numpy as np

    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        if value.size > _INLINE_ARRAY_ELEMENTS:
            return {"array": True, "dtype": str(value.dtype), "shape": list(value.shape)}
        return [plain_attr(v) for v in value.tolist()] if value.dtype.kind in "SOU" else value.tolist()
    if isinstance(value, list):
        return [plain_attr(v) for v in value]
    if hasattr(value, "item"):
        return value.item()
    return value


def json_attr(obj: Any, name: str, path: Path) -> Any:
    """A JSON-valued attribute (``model_config``), parsed; None when absent."""
    if name not in obj.attrs:
        return None
    value = read_attr(obj, name, path)
    if not isinstance(value, str):
        raise ReadError(f"{path}: attribute {name!r} is not a JSON string")
    return limits.parse_json(value, path, f"attribute {name!r}")


def walk(h5: Any, path: Path, json_attrs: tuple[str, ...] = ()) -> dict[str, Any]:
    """The group/dataset tree with shapes, dtypes and attributes.

    JSON attributes named in ``json_attrs`` are shown by size only (they are decoded elsewhere).
    """
    import h5py

    visited = 0

    def node(obj: Any, name: str) -> dict[str, Any]:
        nonlocal visited
        visited += 1
        if visited > limits.MAX_HDF5_OBJECTS:
            raise ReadError(f"{path}: HDF5 file holds more than {limits.MAX_HDF5_OBJECTS} objects, over convkit's limit")
        item: dict[str, Any] = {"name": name}
        attrs = {}
        for attr_name in obj.attrs:
            value = read_attr(obj, attr_name, path)
            if attr_name in json_attrs and isinstance(value, str):
                value = f"<JSON, {len(value)} characters>"
            attrs[attr_name] = value
        if isinstance(obj, h5py.Dataset):
            item["kind"] = "dataset"
            item["shape"] = list(obj.shape) if obj.shape is not None else None
            item["dtype"] = str(obj.dtype)
        else:
            item["kind"] = "group"
        if attrs:
            item["attrs"] = attrs
        if isinstance(obj, h5py.Group):
            children = []
            for child_name in obj:
                try:
                    child = obj.get(child_name, getlink=False)
                except (OSError, KeyError, ValueError) as error:
                    raise ReadError(f"{path}: cannot read HDF5 object {obj.name}/{child_name} ({_short(error)})") from None
                if child is None:  # dangling or external link: shown, never followed
                    children.append({"name": child_name, "kind": "link"})
                    continue
                children.append(node(child, child_name))
            if children:
                item["children"] = children
        return item

    return node(h5, "/")


def dataset_row(dataset: Any, name: str, stats: bool, path: Path) -> dict[str, Any]:
    shape = list(dataset.shape) if dataset.shape is not None else []
    limits.check_shape(tuple(shape), path, f"dataset {dataset.name}")
    row: dict[str, Any] = {"name": name, "shape": shape, "dtype": str(dataset.dtype)}
    if stats:
        try:
            check_stored(dataset, path)
            row["stats"] = tensor_stats(dataset[()])
        except (OSError, ValueError, TypeError) as error:
            raise ReadError(f"{path}: cannot read dataset {dataset.name} ({_short(error)})") from None
    return row


def keras2_layers(group: Any, path: Path) -> Iterator[tuple[str, list[tuple[str, Any]]]]:
    """The Keras 2 layout: ``(layer, [(weight name, dataset), ...])`` for each layer ``layer_names`` lists, in order.

    The one walk of this layout, for ``inspect`` and for reading weights alike.

    Raises:
        ReadError: a listed layer has no group, a listed weight no dataset, or a name is not a string.
    """
    import h5py

    for layer in names_attr(group, "layer_names", path, group.name):
        layer_group = group.get(layer)
        if not isinstance(layer_group, h5py.Group):
            raise ReadError(f"{path}: layer {layer!r} is listed in layer_names but has no group")
        datasets = []
        for weight_name in names_attr(layer_group, "weight_names", path, f"layer {layer!r}"):
            dataset = layer_group.get(weight_name)
            if not isinstance(dataset, h5py.Dataset):
                raise ReadError(f"{path}: weight {weight_name!r} of layer {layer!r} is missing")
            datasets.append((weight_name, dataset))
        yield layer, datasets


def keras2_weights(group: Any, path: Path, stats: bool) -> list[dict[str, Any]]:
    """Rows ``{layer, name, shape, dtype}`` for a Keras 2 weight group (``layer_names`` attribute)."""
    rows = []
    for layer, datasets in keras2_layers(group, path):
        for weight_name, dataset in datasets:
            row = dataset_row(dataset, weight_name, stats, path)
            row["layer"] = layer
            rows.append(row)
    return rows


def keras2_optimizer_weights(h5: Any, path: Path, stats: bool) -> list[dict[str, Any]]:
    """Rows for the ``optimizer_weights`` group of a Keras 2 whole-model file (``weight_names`` attribute)."""
    import h5py

    group = h5.get("optimizer_weights")
    if not isinstance(group, h5py.Group):
        return []
    rows = []
    for name in names_attr(group, "weight_names", path, "optimizer_weights"):
        dataset = group.get(name)
        if not isinstance(dataset, h5py.Dataset):
            raise ReadError(f"{path}: optimizer weight {name!r} is listed but missing")
        rows.append(dataset_row(dataset, name, stats, path))
    return rows


def member(group: Any, name: str) -> Any:
    """The group or dataset ``name`` inside ``group``, or None (a Keras 3 layer without weights has none)."""
    return group[name] if group is not None and name in group else None


def numbered_datasets(group: Any, path: Path) -> list[Any]:
    """The datasets ``0``, ``1``, ... of a Keras 3 ``vars`` group, in order.

    Raises:
        ReadError: more members than convkit's object limit, or a number missing.
    """
    import h5py

    count = len(group)
    if count > limits.MAX_HDF5_OBJECTS:
        raise ReadError(f"{path}: {group.name} holds {count} objects, over convkit's limit of {limits.MAX_HDF5_OBJECTS}")
    datasets = [group.get(str(index)) for index in range(count)]
    for index, dataset in enumerate(datasets):
        if not isinstance(dataset, h5py.Dataset):
            raise ReadError(f"{path}: {group.name} has no dataset {index}")
    return datasets


def holds_datasets(group: Any, path: Path) -> bool:
    """Whether any dataset sits at or below ``group``, under the object limit."""
    import h5py

    if isinstance(group, h5py.Dataset):
        return True
    return any(isinstance(group.get(name), h5py.Dataset) for name in object_names(group, path))


def object_names(group: Any, path: Path) -> list[str]:
    """The path of every group and dataset below ``group`` (``optimizer_weights``), under the object limit."""
    names: list[str] = []

    def visit(name: str) -> None:
        names.append(name)
        if len(names) > limits.MAX_HDF5_OBJECTS:
            raise ReadError(f"{path}: HDF5 file holds more than {limits.MAX_HDF5_OBJECTS} objects, over convkit's limit")

    group.visit(visit)
    return names


def refuse_forged(path: Path) -> None:
    """Raises ``ReadError`` when a dataset of the file at ``path`` declares more bytes than the file stores.

    A runtime would allocate the declared size while loading (a forged header can
    declare terabytes), so the sizes are checked before any runtime sees the file.
    """
    import h5py

    datasets: list[Any] = []
    with reading(path), open_hdf5(path, path) as h5:
        h5.visititems(lambda name, node: datasets.append(node) if isinstance(node, h5py.Dataset) else None)
        for dataset in datasets:
            check_stored(dataset, path)


def copy_group(source: Path, target: Path, name: str) -> None:
    """Copies the group ``name`` (``optimizer_weights``) of one HDF5 file into another, if present."""
    import h5py

    with h5py.File(source, "r") as src, h5py.File(target, "a") as dst:
        if name in src:
            src.copy(src[name], dst, name=name)


def keras3_weights(h5: Any, path: Path, stats: bool) -> list[dict[str, Any]]:
    """Rows ``{layer, name, shape, dtype, role}`` for the Keras 3 layout (``.../vars/<i>`` datasets).

    ``role`` is ``model``, ``optimizer`` or ``metrics`` (tf_keras archives also store metric state).
    """
    import h5py

    rows: list[dict[str, Any]] = []
    visited = 0

    def visit(group: Any, where: str) -> None:
        nonlocal visited
        for child_name in group:
            visited += 1
            if visited > limits.MAX_HDF5_OBJECTS:
                raise ReadError(f"{path}: HDF5 file holds more than {limits.MAX_HDF5_OBJECTS} objects, over convkit's limit")
            child = group.get(child_name, getlink=False)
            child_path = f"{where}/{child_name}" if where else child_name
            if isinstance(child, h5py.Dataset) and group.name.endswith("/vars"):
                owner = where.rsplit("/vars", 1)[0]
                row = dataset_row(child, child_path, stats, path)
                row["layer"] = _owner_label(owner)
                root = owner.split("/", 1)[0]
                row["role"] = root if root in ("optimizer", "metrics") else "model"
                rows.append(row)
            elif isinstance(child, h5py.Group):
                visit(child, child_path)

    visit(h5, "")
    rows.sort(key=lambda row: _natural(row["name"]))
    return rows


def _owner_label(owner: str) -> str:
    # "layers/dense" -> "dense"; nested "layers/functional/layers/dense" -> "functional/dense".
    parts = [p for p in owner.split("/") if p != "layers"]
    return "/".join(parts) or "(model)"


def _natural(name: str) -> tuple[Any, ...]:
    head, _, tail = name.rpartition("/")
    return (head, int(tail)) if tail.isdigit() else (head, 0, tail)
