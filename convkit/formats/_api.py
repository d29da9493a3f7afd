"""``inspect(path)``: detect the format (or take the one named) and describe the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from convkit.errors import ReadError
from convkit.registry import detect, get_format


def inspect(path: str | Path, format: str | None = None, *, weights: bool = False, verify_crc: bool = False) -> Any:
    """Describes the model file at ``path`` without TensorFlow.

    Args:
        path: any file or directory convkit reads.
        format: a registry name (``ckpt``, ``savedmodel``, ``h5``, ``keras``, ``tfjs``);
            default None detects it from content.
        weights: add per-tensor statistics. Default False.
        verify_crc: recompute checkpoint CRC32Cs (checkpoints and SavedModel variables). Default False.

    Returns:
        The format's report (a frozen dataclass with ``to_dict()``).

    Raises:
        DetectionError: no format recognises ``path``.
        UsageError: ``format`` is not a known name.
        ReadError: the file is malformed, truncated or over a size limit.
    """
    path = Path(path)
    fmt = get_format(format) if format else detect(path)
    if format and not path.exists() and not path.with_name(path.name + ".index").exists():
        raise ReadError(f"{path}: no such file or directory")
    # With --format the reader itself says precisely what does not fit (bad magic, not JSON, ...).
    if fmt.inspect is None:
        raise ReadError(f"{path}: convkit cannot inspect {fmt.name} files")
    return fmt.inspect(path, weights=weights, verify_crc=verify_crc)


def failed_checks(report_dict: dict[str, Any]) -> list[str]:
    """Checksum mismatches a report found (``--verify``), as ``key`` strings."""
    found: list[str] = []
    for section in (report_dict, report_dict.get("variables") or {}):
        verify = section.get("verify") if isinstance(section, dict) else None
        if isinstance(verify, dict):
            found.extend(m["key"] for m in verify.get("mismatches", []))
    return found
