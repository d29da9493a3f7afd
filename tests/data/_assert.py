"""What every loader error must be: one line, naming the file and the input."""

from __future__ import annotations

import pytest

from convkit.errors import ConvkitError


def one_line(error: pytest.ExceptionInfo[ConvkitError], *names: str) -> str:
    """The error's text, checked to be one line holding every one of ``names``."""
    text = str(error.value)
    assert "\n" not in text and text.strip() == text
    for name in names:
        assert name in text, (name, text)
    return text
