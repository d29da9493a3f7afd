"""The workflows that need both engines: convert and then check the copy (``convert --check``), and
check a model across every format (``check --all-formats``).

``convkit/check`` and ``convkit/convert`` do not import each other; what joins
them lives here, above both.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path
from typing import Any

from convkit.check.engine import ModelLike, check
from convkit.check.report import CheckReport, ModelInfo, PairResult
from convkit.convert.engine import ConvertResult, convert
from convkit.errors import ConvkitError, MismatchError, UsageError
from convkit.progress import Progress, no_progress
from convkit.registry import detect, formats, get_format


def convert_and_check(src: str | Path, to: str, out: str | Path | None = None, *, like: str | Path | None = None,
                      progress: Progress | None = None, **options: Any) -> ConvertResult:
    """Converts ``src`` to ``to``, then checks that the copy predicts what the source predicts.

    Takes the options of :func:`convkit.convert.engine.convert`. The result carries the check's
    report (``check``), whatever its verdict.

    Raises:
        MismatchError: the copy predicts differently (its ``result`` attribute holds the result).
    """
    started = time.perf_counter()
    src = Path(src)
    result = convert(src, to, out, like=like, progress=progress, **options)
    (progress or no_progress)("verifying")
    report = check_conversion(src, result.out, like, options.get("signature"))
    result = dataclasses.replace(result, check=report, seconds=round(time.perf_counter() - started, 3))
    if not report.get("passed", False):
        error = MismatchError(f"{result.out}: predicts differently from {src} (see convkit check {src} {result.out})")
        error.result = result  # type: ignore[attr-defined]  # the CLI prints the report whatever the verdict
        raise error
    return result


def check_conversion(src: Path, out: Path, like: str | Path | None, signature: str | None = None) -> dict[str, Any]:
    """The written copy checked against its source, as the report's dict (a weights-only copy runs in the
    architecture of ``like``, else of the source; the source runs the ``signature`` converted)."""
    if detect(out).holds_weights_only(out):
        like = like or src
    return check(src, [out], like=like, signature=signature).to_dict()


def check_all_formats(
    model: str | Path,
    *,
    work_dir: str | Path | None = None,
    progress: Progress | None = None,
    **options: Any,
) -> CheckReport:
    """Converts ``model`` to every format convkit writes, then checks every copy against it.

    TF.js is written both as a layers model and as a graph model. A failed
    conversion is reported as an ERROR row for that format. ``like`` (in
    ``options``) also serves the conversions, for sources without a Keras
    architecture such as ``model.export`` SavedModels.

    Args:
        model: the reference model file.
        work_dir: where the copies go. Default: a temporary folder removed afterwards.
        progress: called with one line per step.
        **options: passed on to ``check`` (inputs, tolerances, ...).
    """
    say = progress or no_progress
    model = Path(model)
    source_format = detect(model)
    with tempfile.TemporaryDirectory(prefix="convkit-check-") as temporary:
        root = Path(work_dir) if work_dir is not None else Path(temporary)
        root.mkdir(parents=True, exist_ok=True)
        copies: list[ModelLike] = []
        names: dict[str, str] = {}
        failed: list[PairResult] = []
        for target, kind in all_targets():
            name = f"{target}_{kind}" if kind else target
            default_output = get_format(target).default_output
            out = default_output(root, name) if default_output else root / name
            say(f"converting {model} to {name}")
            started = time.perf_counter()
            try:
                convert(model, target, out, like=options.get("like"), allow_unsafe=options.get("allow_unsafe", False),
                        tfjs_kind=kind)
            except ConvkitError as error:
                failed.append(PairResult(
                    model=ModelInfo(label=name, path=str(out), format=target,
                                    runtime="convkit convert", seconds=time.perf_counter() - started),
                    error=f"converting {model} to {name} failed: {error}",
                ))
                continue
            copies.append(out)
            names[str(out)] = name
        if not source_format.holds_weights_only(model):
            options.setdefault("like", model)
        report = check(model, copies, progress=progress, **options) if copies else None
    if report is None:
        raise UsageError(f"{model}: no conversion succeeded, so there is nothing to check")
    # Copies in a temporary folder are best named by their format.
    pairs = tuple(
        dataclasses.replace(pair, model=dataclasses.replace(pair.model, label=_short_label(pair.model.label, names)))
        for pair in report.pairs
    )
    return CheckReport(
        reference=report.reference,
        pairs=tuple(failed) + pairs,
        inputs=report.inputs,
        seconds=report.seconds,
        notes=report.notes,
    )


def _short_label(label: str, names: dict[str, str]) -> str:
    """A copy's path in the label replaced by its format name, keeping a TF.js backend suffix."""
    for path, name in names.items():
        if label == path or label.startswith(path + " ("):
            return name + label[len(path):]
    return label


def all_targets() -> list[tuple[str, str | None]]:
    """Every format convkit writes, with each of its model kinds (TF.js ``layers`` and ``graph``)."""
    result: list[tuple[str, str | None]] = []
    for fmt in formats():
        if fmt.writer:
            result.extend((fmt.name, kind) for kind in fmt.write_options.kinds or (None,))
    return result
