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
        return dict(self.__dict__)


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

    def summary(self) -> str:
        count = self.inputs.get("count")
        if self.passed:
            return f"PASSED: {len(self.pairs)} cop{'y' if len(self.pairs) == 1 else 'ies'} match {self.reference.label} on {count} inputs"
        bad = [pair for pair in self.pairs if pair.status != PASS]
        return f"FAILED: {len(bad)} of {len(self.pairs)} copies differ from {self.reference.label}: " + "; ".join(
            self.failures()
        )

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
        return {
            "status": self.status,
            "passed": self.passed,
            "exit_code": self.exit_code,
            "reference": self.reference.to_dict(),
            "inputs": self.inputs,
            "pairs": [pair.to_dict() for pair in self.pairs],
            "failures": self.failures(),
            "notes": list(self.notes),
            "seconds": round(self.seconds, 3),
        }


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.2e}"


def render_table(report: CheckReport, console: Any) -> None:
    """Prints one row per copy and output, then the PASSED/FAILED line, on ``console``."""
    from rich.table import Table

    table = Table(title=f"convkit check: reference {report.reference.label} ({report.reference.runtime})",
                  caption=f"inputs: {report.inputs.get('source')}", title_justify="left", caption_justify="left")
    for heading in ("model", "runtime", "output", "max abs", "mean abs", "max rel", "tolerance",
                    "needed atol", "top-1", "result"):
        table.add_column(heading, justify="right" if heading.startswith(("max", "mean", "needed", "top")) else "left")
    styles = {PASS: "[green]PASS[/]", FAIL: "[bold red]FAIL[/]", ERROR: "[bold red]ERROR[/]"}
    for pair in report.pairs:
        runtime = pair.model.runtime
        if pair.error is not None:
            table.add_row(pair.model.label, runtime, "-", "-", "-", "-", "-", "-", "-", styles[ERROR])
            continue
        for out in pair.outputs:
            name = out.output if out.output == out.other_output else f"{out.output} ({out.other_output})"
            top1 = "-" if out.top1_agreement is None else f"{out.top1_agreement:.1%}"
            tolerance = f"{out.atol:g}/{out.rtol:g}"
            if not out.tolerance_source.startswith("default float32"):
                tolerance += f" ({out.tolerance_source})"
            table.add_row(pair.model.label, runtime, name, _number(out.max_abs), _number(out.mean_abs),
                          _number(out.max_rel), tolerance, _number(out.needed_atol), top1,
                          styles[PASS if out.passed else FAIL])
    console.print(table)
    for pair in report.pairs:
        for note in pair.notes:
            console.print(f"note: {pair.model.label}: {note}", markup=False, highlight=False)
    for line in report.failures():
        console.print(f"FAIL {line}", markup=False, highlight=False)
    style = "bold green" if report.passed else "bold red"
    console.print(f"[{style}]{report.summary().split(':', 1)[0]}[/]:" + report.summary().split(":", 1)[1],
                  highlight=False)


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
