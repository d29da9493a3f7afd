"""docs/SECURITY.md states the limits the code enforces, and the corpus its README describes."""

from __future__ import annotations

import re

from convkit.containers.limits import LIMITS
from tests.hostile._corpus import ALL_CASES as CASES, CORPUS, ROOT

SECURITY = ROOT / "docs" / "SECURITY.md"


def test_every_limit_in_the_code_is_in_the_doc_with_its_value() -> None:
    stated = {
        name: int(value.replace(",", ""))
        for name, value in re.findall(r"^\| `(MAX_[A-Z0-9_]+)` \| ([\d,]+)", SECURITY.read_text(), re.MULTILINE)
    }
    assert stated == LIMITS


def test_the_corpus_readme_lists_every_case_and_every_file_is_listed() -> None:
    readme = (CORPUS / "README.md").read_text()
    for case in CASES:
        assert f"`{case['path']}`" in readme
        assert (CORPUS / case["path"]).exists() or (CORPUS / (case["path"] + ".index")).exists()
    listed_tops = {"/".join(case["path"].split("/")[:2]) for case in CASES} | {"cases/tfjs_outside.bin"}
    on_disk = {f"cases/{path.name}" for path in (CORPUS / "cases").iterdir()}
    assert on_disk <= listed_tops, sorted(on_disk - listed_tops)
