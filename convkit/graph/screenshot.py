"""PNG pictures: the laid-out SVG drawn by headless Chromium (Debian's, driven by playwright; ``make setup-browser``)."""

from __future__ import annotations

import re
import threading
from typing import Any

from convkit.errors import UsageError, WriteError

# Chromium will not paint a page larger than this many pixels on a side.
MAX_PIXELS = 16_000
HINT = "run 'make setup-browser' in the convkit checkout, or write an .svg or .html picture instead"


def ensure_available() -> None:
    """Raises ``UsageError`` (one line naming ``make setup-browser``) when Chromium or playwright is missing."""
    from convkit.runtimes.tfjs.browser import find_chromium

    if find_chromium() is None:
        raise UsageError(f"PNG pictures are drawn by headless Chromium, which is not installed; {HINT}")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        raise UsageError(f"PNG pictures are drawn by headless Chromium through the Python package playwright, "
                         f"which is not installed; {HINT}") from None


def _size(svg: str) -> tuple[float, float]:
    """The SVG's width and height in CSS pixels (Graphviz writes points)."""
    found = re.search(r'<svg[^>]*\bwidth="([\d.]+)(pt|px)?"[^>]*\bheight="([\d.]+)(pt|px)?"', svg)
    if not found:
        return 800.0, 600.0
    scale = 96 / 72 if (found.group(2) or "px") == "pt" else 1.0
    return float(found.group(1)) * scale, float(found.group(3)) * scale


def png(svg: str) -> bytes:
    """The PNG of ``svg``, drawn by headless Chromium at twice the resolution where it fits.

    Raises:
        UsageError: Chromium or playwright is missing.
        WriteError: Chromium failed.
    """
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    from convkit.runtimes.tfjs.browser import CHROMIUM_FLAGS, find_chromium

    ensure_available()
    width, height = _size(svg)
    largest = max(width, height, 1.0)
    shrink = min(1.0, MAX_PIXELS / largest)
    pixel_ratio = 2.0 if largest * 2 <= MAX_PIXELS else 1.0
    view_width, view_height = max(int(width * shrink) + 1, 16), max(int(height * shrink) + 1, 16)
    start = svg.find("<svg")
    body = svg[start:] if start >= 0 else svg
    page_html = ("<!DOCTYPE html><html><head><meta charset='utf-8'><style>html,body{margin:0;background:#fff}"
                 f"svg{{display:block;width:{view_width}px;height:{view_height}px}}</style></head><body>{body}</body></html>")
    result: dict[str, Any] = {}

    def draw() -> None:
        playwright: Any = None
        try:
            playwright = sync_playwright().start()
            browser = playwright.chromium.launch(executable_path=find_chromium(), headless=True, args=list(CHROMIUM_FLAGS))
            try:
                page = browser.new_page(viewport={"width": view_width, "height": view_height},
                                        device_scale_factor=pixel_ratio)
                page.set_content(page_html, wait_until="load")
                result["png"] = bytes(page.screenshot(type="png", full_page=True))
            finally:
                browser.close()
        except PlaywrightError as error:
            result["error"] = str(error).splitlines()[0][:300]
        finally:
            if playwright is not None:
                playwright.stop()

    # Its own thread: playwright's sync API refuses to run where an event loop runs (a notebook, a test's browser).
    worker = threading.Thread(target=draw, name="convkit-png")
    worker.start()
    worker.join()
    if "png" not in result:
        raise WriteError(f"headless Chromium could not draw the picture ({result.get('error', 'no picture')})")
    return bytes(result["png"])
