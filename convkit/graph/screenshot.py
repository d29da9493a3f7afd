"""PNG pictures: the laid-out SVG drawn by headless Chromium, through the runtimes' browser driver
(:func:`convkit.runtimes.tfjs.browser.screenshot`; Debian's Chromium driven by playwright, ``make setup-browser``)."""

from __future__ import annotations

import re

from convkit.errors import RunError, UsageError, WriteError
from convkit.runtimes.tfjs import browser

# Chromium will not paint a page larger than this many pixels on a side.
MAX_PIXELS = 16_000
NEEDED_BY = "a PNG picture"
ALTERNATIVE = "or write an .svg or .html picture instead"


def ensure_available() -> None:
    """Raises ``UsageError`` (one line naming ``make setup-browser``) when Chromium or playwright is missing."""
    reason = browser.chromium_missing(NEEDED_BY)
    if reason is not None:
        raise UsageError(f"{reason}; {ALTERNATIVE}")


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
    try:
        return browser.screenshot(page_html, width=view_width, height=view_height, pixel_ratio=pixel_ratio)
    except RunError as error:
        if pixel_ratio == 1.0:
            raise WriteError(str(error)) from None
        failed = error
    # Chromium's compositor sometimes fails to capture a tall page at twice the pixels ("Unable to capture
    # screenshot", more often on a busy machine): the picture at one device pixel per CSS pixel instead.
    try:
        return browser.screenshot(page_html, width=view_width, height=view_height, pixel_ratio=1.0)
    except RunError:
        raise WriteError(str(failed)) from None
