"""The check's result: per pair of models, per output; as a rich table, JSON or JUnit XML."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from convkit.check.compare import OutputComparison
from convkit.errors import ConvkitError, MismatchError

PASS, FAIL, ERROR = "PASS", "FAIL", "ERROR"
EXIT_CODES = {PASS: 0, FAIL: 1, ERROR: 2}


@dataclass(frozen=True)
class ModelInfo:
    """One model in the check: where it is, its format and the runtime that ran it."""

    label: str
    path: str | None
    format: str
    runtime: str
    quantization: str | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "path": self.path,
            "format": self.format,
            "runtime": self.runtime,
            "quantization": self.quantization,
            "seconds": self.seconds,
        }


@dataclass(frozen=True)
class PairResult:
    """A copy checked against the reference: one comparison per output, or the error that stopped it."""

    model: ModelInfo
    outputs: tuple[OutputComparison, ...] = ()
    error: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def status(self) -> str:
        if self.error is not None:
            return ERROR
        return PASS if self.outputs and all(o.passed for o in self.outputs) else FAIL

    def failures(self) -> list[str]:
        """One line per failing output (or the error), naming the model."""
        if self.error is not None:
            return [self.error if self.model.label in self.error else f"{self.model.label}: {self.error}"]
        return [f"{self.model.label}: {o.describe_failure()}" for o in self.outputs if not o.passed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.to_dict(),
            "status": self.status,
            "error": self.error,
            "notes": list(self.notes),
            "outputs": [o.to_dict() for o in self.outputs],
        }


@dataclass(frozen=True)
class CheckReport:
    """Everything a check found.

    Attributes:
        reference: the model every copy is compared with.
        pairs: one result per copy, in the order given.
        inputs: what was fed (source, count, shapes).
        seconds: wall time of the whole check.
    """

    reference: ModelInfo
    pairs: tuple[PairResult, ...]
    inputs: dict[str, Any]
    seconds: float = 0.0
    notes: tuple[str, ...] = field(default=())

    @property
    def passed(self) -> bool:
        """True when every copy matched the reference on every output."""
        return all(pair.status == PASS for pair in self.pairs)

    @property
    def status(self) -> str:
        statuses = {pair.status for pair in self.pairs}
        return ERROR if ERROR in statuses else FAIL if FAIL in statuses else PASS

    @property
    def exit_code(self) -> int:
        """0 when all pass, 1 on any mismatch, 2 when a copy could not be loaded or run."""
        return EXIT_CODES[self.status]

    def failures(self) -> list[str]:
        return [line for pair in self.pairs for line in pair.failures()]

    def headline(self) -> str:
        """``PASSED: ...`` or ``FAILED: ...`` with counts, in one line."""
        count = self.inputs.get("count")
        total = len(self.pairs)
        if self.passed:
            return f"PASSED: {total} cop{'y' if total == 1 else 'ies'} match {self.reference.label} on {count} inputs"
        failed = sum(pair.status == FAIL for pair in self.pairs)
        errors = sum(pair.status == ERROR for pair in self.pairs)
        parts = []
        if failed:
            parts.append(f"{failed} of {total} cop{'y' if total == 1 else 'ies'} differ from {self.reference.label}")
        if errors:
            parts.append(f"{errors} of {total} could not be loaded or run")
        return f"FAILED: {', '.join(parts)} on {count} inputs"

    def summary(self) -> str:
        """The headline followed by every failure line."""
        if self.passed:
            return self.headline()
        return self.headline() + ": " + "; ".join(self.failures())

    def assert_passed(self) -> None:
        """Raises unless every copy matched; for use in a test suite.

        Raises:
            MismatchError: a copy predicts differently (names the output and the difference).
            ConvkitError: a copy could not be loaded or run.
        """
        if self.status == ERROR:
            raise ConvkitError(self.summary())
        if self.status == FAIL:
            raise MismatchError(self.summary())

    def to_dict(self) -> dict[str, Any]:
        """The ``check --json`` document (docs/json.md); keys are spelled out so renames stay internal."""
        return {
            "status": self.status,
            "passed": self.passed,
            "exit_code": self.exit_code,
            "reference": self.reference.to_dict(),
            "inputs": self.inputs,
            "pairs": [pair.to_dict() for pair in self.pairs],
            "headline": self.headline(),
            "failures": self.failures(),
            "notes": list(self.notes),
            "seconds": round(self.seconds, 3),
        }


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.1e}"


def render_table(report: CheckReport, console: Any) -> None:
    """Prints one row per copy and output, then notes, failures and the PASSED/FAILED line, on ``console``.

    Model paths and output names are never cut: a narrow terminal first loses the folder
    the copies share, then the number columns (all in ``--json``).
    """
    from rich import box
    from rich.markup import escape
    from rich.text import Text

    from convkit._table import NAME, NUMBER, TEXT, Column, print_table

    rows = [(pair, out) for pair in report.pairs for out in (pair.outputs or (None,))]
    tolerances = {(o.atol, o.rtol, o.tolerance_source) for _, o in rows if o is not None}
    caption = f"inputs: {report.inputs.get('source')}"
    if len(tolerances) == 1:
        atol, rtol, source = next(iter(tolerances))
        caption += f"; tolerance atol {atol:g}, rtol {rtol:g} ({source})"
    elif tolerances:
        caption += "; tolerances: " + ", ".join(f"{a:g}/{r:g} ({source})" for a, r, source in sorted(tolerances))
    # Mean errors and the needed tolerance are in --json and the FAIL lines.
    columns = [Column("model", NAME, path=True), Column("runtime", TEXT), Column("output", NAME),
               Column("max abs", NUMBER, "right"), Column("max rel", NUMBER, "right"),
               Column("top-1", NUMBER, "right"), Column("result", NAME)]
    if len(tolerances) > 1:
        columns.insert(5, Column("atol/rtol", NUMBER, "right"))
    styles = {PASS: "[green]PASS[/]", FAIL: "[bold red]FAIL[/]", ERROR: "[bold red]ERROR[/]"}
    cells = []
    for pair, out in rows:
        if out is None:
            row = [pair.model.label, pair.model.runtime, "-", "-", "-", "-"]
            if len(tolerances) > 1:
                row.insert(5, "-")
            cells.append([escape(cell) for cell in row] + [styles[pair.status]])
            continue
        name = out.output if out.output == out.other_output else f"{out.output} ({out.other_output})"
        top1 = "-" if out.top1_agreement is None else f"{out.top1_agreement:.1%}"
        row = [pair.model.label, pair.model.runtime, name, _number(out.max_abs), _number(out.max_rel), top1]
        if len(tolerances) > 1:
            row.insert(5, f"{out.atol:g}/{out.rtol:g}")
        cells.append([escape(cell) for cell in row] + [styles[PASS if out.passed else FAIL]])
    title = escape(f"reference: {report.reference.label} ({report.reference.runtime})")
    print_table(console, columns, cells, title=title, caption=escape(caption), box=box.SIMPLE_HEAD, pad_edge=False)
    for note in report.notes:
        console.print(f"note: {note}", markup=False, highlight=False)
    for pair in report.pairs:
        for note in pair.notes:
            console.print(f"note: {pair.model.label}: {note}", markup=False, highlight=False)
    for pair in report.pairs:
        for line in pair.failures():
            console.print(f"{pair.status} {line}", markup=False, highlight=False)
    verdict, _, rest = report.headline().partition(":")
    console.print(Text.assemble((verdict, "bold green" if report.passed else "bold red"), ":" + rest))


def write_junit(report: CheckReport, path: str | Path) -> Path:
    """Writes JUnit XML with one test case per copy (failure or error elements when it did not pass)."""
    path = Path(path)
    suite = ElementTree.Element(
        "testsuite",
        name="convkit check",
        tests=str(len(report.pairs)),
        failures=str(sum(p.status == FAIL for p in report.pairs)),
        errors=str(sum(p.status == ERROR for p in report.pairs)),
        time=f"{report.seconds:.3f}",
    )
    properties = ElementTree.SubElement(suite, "properties")
    ElementTree.SubElement(properties, "property", name="reference", value=report.reference.label)
    ElementTree.SubElement(properties, "property", name="inputs", value=str(report.inputs.get("source")))
    for pair in report.pairs:
        case = ElementTree.SubElement(
            suite,
            "testcase",
            classname=f"convkit.check.{pair.model.format}",
            name=f"{report.reference.label} vs {pair.model.label}",
            time=f"{pair.model.seconds:.3f}",
        )
        lines = [f"{o.output}: max abs {_number(o.max_abs)}, max rel {_number(o.max_rel)}, "
                 f"{'PASS' if o.passed else 'FAIL'}" for o in pair.outputs]
        if pair.status == FAIL:
            failure = ElementTree.SubElement(case, "failure", message="; ".join(pair.failures()), type="mismatch")
            failure.text = "\n".join(lines)
        elif pair.status == ERROR:
            ElementTree.SubElement(case, "error", message=pair.error or "", type="load")
        out = ElementTree.SubElement(case, "system-out")
        out.text = "\n".join([f"runtime: {pair.model.runtime}", *lines, *pair.notes])
    document = ElementTree.Element("testsuites")
    document.append(suite)
    ElementTree.indent(document)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".part")
    ElementTree.ElementTree(document).write(temporary, encoding="utf-8", xml_declaration=True)
    temporary.replace(path)
    return path
