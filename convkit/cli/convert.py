"""`convkit convert SRC --to FORMAT`: wiring only; the engine is convkit.convert."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from convkit.cli._common import JsonOption, OutOption, handle_errors, print_json, stderr_console, stdout_console
from convkit.registry import format_names


def _format_help() -> str:
    return "Target format: " + ", ".join(format_names()) + "."


def register(app: typer.Typer) -> None:
    app.command("convert", help="Convert a model file to another format (written atomically).")(convert_command)


@handle_errors
def convert_command(
    src: Annotated[Path, typer.Argument(help="Model file or folder of any supported format.")],
    to: Annotated[str, typer.Option("--to", "-t", help=_format_help())],
    out: OutOption = None,
    like: Annotated[Optional[Path], typer.Option("--like", help="Model file giving the architecture for weights-only sources.")] = None,
    tfjs_kind: Annotated[Optional[str], typer.Option("--tfjs-kind", help="TF.js model kind: layers or graph.")] = None,
    quantize: Annotated[Optional[str], typer.Option("--quantize", help="Quantize TF.js weights: float16, uint8 or uint16; TFLite: dynamic (int8 weights), float16 or int8 (weights and activations, calibrated on the inputs convkit check uses).")] = None,
    quantize_weights: Annotated[Optional[list[str]], typer.Option("--quantize-weights", help="Glob of TF.js weight names to quantize (repeatable); default all.")] = None,
    shard_size: Annotated[int, typer.Option("--shard-size", help="Bytes per TF.js weight shard.")] = 4 * 1024 * 1024,
    keep_optimizer: Annotated[bool, typer.Option("--keep-optimizer/--no-optimizer", help="Carry optimizer state where the target holds it.")] = True,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Fail instead of warning when the target cannot hold part of the source.")] = False,
    unsafe: Annotated[bool, typer.Option("--unsafe", help="Allow Lambda layers and custom functions (runs code from the file).")] = False,
    check: Annotated[bool, typer.Option("--check", help="Check the output predicts the same as the source.")] = False,
    opset: Annotated[Optional[int], typer.Option("--opset", help="ONNX opset for --to onnx (13..18).", show_default="17")] = None,
    json_output: JsonOption = False,
) -> None:
    from convkit import convert
    from convkit.registry import get_format

    get_format(to)  # unknown names fail before any heavy import, listing the known ones
    progress = _Progress(enabled=not json_output)
    try:
        result = convert(
            src, to, out, like=like, tfjs_kind=tfjs_kind, quantize=quantize,
            quantize_weights=tuple(quantize_weights or ()), shard_size=shard_size,
            keep_optimizer=keep_optimizer, overwrite=overwrite, strict=strict,
            allow_unsafe=unsafe, check=check, progress=progress, opset=opset,
        )
    finally:
        progress.close()
    if json_output:
        print_json(result.to_dict())
        return
    from rich.markup import escape

    errors = stderr_console()
    for warning in result.warnings:
        errors.print(f"[yellow]warning:[/yellow] {escape(warning)}", highlight=False)
    out = stdout_console()
    what = f"{result.to} ({result.kind})"
    out.print(f"{result.src} -> {result.out}  [{what}, {result.seconds:.2f} s]", markup=False, highlight=False)
    if result.check is not None:
        out.print(f"check: {result.check.get('status', 'PASS')}", markup=False, highlight=False)


class _Progress:
    """A progress bar on stderr, shown only once a conversion has run for a moment."""

    DELAY_SECONDS = 0.5

    def __init__(self, enabled: bool) -> None:
        import time

        self.enabled = enabled
        self.started = time.monotonic()
        self.bar = None
        self.task = None

    def __call__(self, stage: str, done: int | None = None, total: int | None = None) -> None:
        import time

        if not self.enabled or done is None or total is None or total <= 0:
            return
        if self.bar is None:
            if time.monotonic() - self.started < self.DELAY_SECONDS:
                return
            from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

            self.bar = Progress("writing", BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                                console=stderr_console(), transient=True)
            self.bar.start()
            self.task = self.bar.add_task("convert", total=total)
        self.bar.update(self.task, completed=done)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
