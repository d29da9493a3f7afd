"""The browser tests' one rule: without Chromium and playwright ('make setup-browser') they are skipped with
that reason, except under CI, which installs both and so fails instead."""

from __future__ import annotations

import os

import pytest

from convkit.runtimes.tfjs.browser import browser_missing


def require_chromium() -> None:
    """Skips the calling test (fails it under CI) when headless Chromium cannot be driven here."""
    missing = browser_missing("chromium")
    if missing is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI installs the browser, yet: {missing}")
        pytest.skip(missing)
