"""Running convkit's commands as a user does, in the test process: parsed --json documents and flat stderr."""

from __future__ import annotations

import json
from typing import Any

from typer.testing import CliRunner

from convkit.cli.main import app

runner = CliRunner()


def convert_json(*args: object) -> dict[str, Any]:
    """``convkit convert ARGS --json``'s document; the command must exit 0."""
    result = runner.invoke(app, ["convert", *map(str, args), "--json"])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def check_json(*args: object) -> dict[str, Any]:
    """``convkit check ARGS --json``'s document; the command must exit 0 (passed) or 1 (a copy differs)."""
    result = runner.invoke(app, ["check", *map(str, args), "--json"])
    assert result.exit_code in (0, 1), result.stderr
    return json.loads(result.stdout)


def failure(*args: object) -> str:
    """Runs ``convkit ARGS``, which must exit 2 with nothing on stdout; returns stderr with the box drawing of a
    usage error taken out and its lines joined."""
    result = runner.invoke(app, [*map(str, args)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    return " ".join(line.strip(" │╭╮╰╯─") for line in result.stderr.splitlines())
