"""Writes docs/api.md, the Python API reference, from the public objects' signatures and docstrings.

Run from the repository root: ``.venv/bin/python docs/make_api.py``.
``tests/cli/test_api_doc.py`` fails when docs/api.md is out of date.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path

OUT = Path(__file__).with_name("api.md")

# (section title, module, public names in reading order)
SECTIONS = [
    ("Top level", "convkit", ["detect", "format_names", "get_format", "inspect", "convert", "check"]),
    ("Inspecting", "convkit.formats._api", ["inspect"]),
    ("Converting", "convkit.convert", ["convert", "ConvertRequest", "ConvertResult", "default_output"]),
    ("Checking", "convkit.check", ["check", "CheckReport", "PairResult", "OutputComparison",
                                   "write_junit", "render_table"]),
    ("Feeding models", "convkit.data.loader", ["load_inputs"]),
    ("Image preprocessing", "convkit.data.preprocess", ["Preprocessing", "preprocessing"]),
    ("Converting and checking", "convkit.convert_and_check", ["convert_and_check", "check_all_formats"]),
    ("Training", "convkit.train", ["run_tutorial", "TrainReport", "load_mnist", "Mnist"]),
    ("Formats", "convkit.registry", ["Format", "WriteOptions", "formats", "register_format"]),
    ("Progress", "convkit.progress", ["Progress", "no_progress"]),
    ("Errors", "convkit.errors", ["ConvkitError", "UsageError", "DetectionError", "ReadError", "RunError", "WriteError",
                                  "VerifyError",
                                  "UnsafeModelError", "MismatchError"]),
]

HEADER = """# Python API

Generated from the docstrings by `docs/make_api.py`; do not edit by hand.

```python
import convkit

convkit.detect("my_model.h5").name                        # 'h5'
convkit.inspect("my_model.h5").to_dict()                  # what the file holds, without TensorFlow
result = convkit.convert("my_model.h5", "tfjs")           # a TF.js layers model beside it
convkit.check("my_model.h5", [result.out]).assert_passed()
```

`import convkit` is cheap: `convkit.convert` and `convkit.check` are imported
on first use, and TensorFlow only inside the functions that run a model.
Every failure convkit expects is a `ConvkitError` with a one-sentence message.
"""


def render() -> str:
    parts = [HEADER]
    for title, module_name, names in SECTIONS:
        module = importlib.import_module(module_name)
        parts.append(f"\n## {title}: `{module_name}`\n")
        for name in names:
            obj = inspect.getattr_static(module, name, None)
            if obj is None or not (inspect.isclass(obj) or callable(obj)):
                obj = getattr(module, name)
            parts.append(_entry(module_name, name, obj))
    return "".join(parts)


def _entry(module_name: str, name: str, obj: object) -> str:
    kind = "class" if inspect.isclass(obj) else "function"
    try:
        signature = _signature(obj)
    except (TypeError, ValueError):
        signature = "(...)"
    if kind == "class" and issubclass(obj, Exception):  # type: ignore[arg-type]
        signature = ""
    text = [f"\n### `{name}{signature}`\n\n"]
    text.append(_docstring(inspect.getdoc(obj)))
    if kind == "class" and not issubclass(obj, Exception):  # type: ignore[arg-type]
        for member, value in sorted(vars(obj).items()):
            if member.startswith("_") or not (callable(value) or isinstance(value, property)):
                continue
            member_doc = inspect.getdoc(value)
            if member_doc:
                suffix = "" if isinstance(value, property) else "()"
                text.append(f"\n- `{member}{suffix}`: {member_doc.splitlines()[0]}")
        text.append("\n")
    return "".join(text)


class _Source(str):
    """An annotation kept as written (``str | Path``), not quoted as a string."""

    def __repr__(self) -> str:
        return str(self)


def _signature(obj: object) -> str:
    if inspect.isclass(obj) and getattr(obj, "_is_protocol", False):
        obj = obj.__call__  # a callable Protocol is documented by its call
    signature = inspect.signature(obj)  # type: ignore[arg-type]
    if "self" in signature.parameters:
        signature = signature.replace(parameters=list(signature.parameters.values())[1:])
    if inspect.isclass(obj):
        signature = signature.replace(return_annotation=inspect.Signature.empty)

    def plain(annotation: object) -> object:
        return _Source(annotation) if isinstance(annotation, str) else annotation

    parameters = [p.replace(annotation=plain(p.annotation)) for p in signature.parameters.values()]
    return str(signature.replace(parameters=parameters, return_annotation=plain(signature.return_annotation)))


def _docstring(doc: str | None) -> str:
    """The summary as a paragraph; Args/Returns/Raises and the rest verbatim in a text block."""
    if not doc:
        return "(no docstring)\n"
    summary, _, rest = doc.partition("\n\n")
    text = summary.replace("\n", " ") + "\n"
    if rest.strip():
        text += "\n```text\n" + rest.strip() + "\n```\n"
    return text


def main() -> int:
    OUT.write_text(render())
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
