"""`convkit check`: the same inputs through every copy of a model, outputs compared with the reference."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from convkit.cli._common import (
    JsonOption,
    LimitOption,
    MeanOption,
    OffsetOption,
    PreprocessOption,
    ProfileOption,
    ScaleOption,
    StdOption,
    VerboseOption,
    handle_errors,
    preprocessing_of,
    print_json,
    print_profile,
    stderr_console,
    stdout_console,
)
from convkit.cli._progress import StageDisplay
from convkit.errors import UsageError


def register(app: typer.Typer) -> None:
    app.command("check")(check)


@handle_errors
def check(
    models: Annotated[
        list[Path],
        typer.Argument(help="REF OTHER...: the reference model, then the copies to compare with it.", show_default=False,
                       metavar="MODEL..."),
    ],
    all_formats: Annotated[
        bool,
        typer.Option("--all-formats", help="Convert the one MODEL given to every format in a temporary folder, then check all copies."),
    ] = False,
    inputs: Annotated[
        list[str] | None,
        typer.Option("--inputs", help="The data to feed: an .npz (one array per input name), an .npy, a folder, glob "
                     "or file of images, or a CSV file; NAME=SOURCE feeds one input (repeat for each).",
                     metavar="[NAME=]SOURCE", show_default=False),
    ] = None,
    preprocess: PreprocessOption = None,
    scale: ScaleOption = None,
    offset: OffsetOption = None,
    mean: MeanOption = None,
    std: StdOption = None,
    limit: LimitOption = None,
    mnist: Annotated[int | None, typer.Option("--mnist", help="Feed the first N bundled MNIST test digits.", metavar="N")] = None,
    random: Annotated[int | None, typer.Option("--random", help="Feed N random samples drawn from the input specs.", metavar="N")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed for --random.", metavar="N")] = 0,
    atol: Annotated[float | None, typer.Option("--atol", help="Absolute tolerance for every output (default 1e-5 for float32 outputs).", metavar="TOL")] = None,
    rtol: Annotated[float | None, typer.Option("--rtol", help="Relative tolerance for every output (default 1e-5 for float32 outputs).", metavar="TOL")] = None,
    tolerance: Annotated[
        list[str] | None,
        typer.Option("--tolerance", help="Tolerances for one output; repeat for more.", show_default=False,
                     metavar="OUTPUT=ATOL,RTOL"),
    ] = None,
    like: Annotated[
        Path | None,
        typer.Option("--like", help="Model whose architecture runs weights-only copies (checkpoints); default REF.",
                     metavar="MODEL"),
    ] = None,
    allow_unsafe: Annotated[
        bool, typer.Option("--unsafe", help="Allow Lambda layers and custom functions (runs code from the file).")
    ] = False,
    signature: Annotated[
        str | None,
        typer.Option("--signature", help="The signature SavedModels and TFLite models run (a model holding one runs "
                     "that one).", show_default="serving_default", metavar="KEY"),
    ] = None,
    keep_copies: Annotated[
        Path | None, typer.Option("--keep-copies", help="With --all-formats: write the copies here and keep them.", metavar="DIR")
    ] = None,
    tfjs_backend: Annotated[
        list[str] | None,
        typer.Option(
            "--tfjs-backend",
            help="TF.js backend for TF.js models: cpu, wasm, webgl, webgl-f16 (float16 textures); repeat or "
            "comma-separate for one row each. cpu and wasm run in Node (in the browser with --browser), webgl "
            "in Chromium. Default: wasm in Node (cpu where wasm lacks a kernel); with --browser: webgl,wasm. "
            "Default tolerances for float outputs: cpu and wasm 1e-5, webgl 1e-4, webgl-f16 1e-2.",
            show_default=False, metavar="[cpu|wasm|webgl|webgl-f16]",
        ),
    ] = None,
    browser: Annotated[
        str | None,
        typer.Option("--browser", help="Run TF.js models in this headless browser: chromium "
                     "('make setup-browser' installs it).", show_default=False, metavar="[chromium]"),
    ] = None,
    junit_xml: Annotated[
        Path | None, typer.Option("--junit-xml", help="Also write JUnit XML, one test case per copy, for CI.", metavar="FILE")
    ] = None,
    json_output: JsonOption = False,
    verbose: VerboseOption = False,
    profile: ProfileOption = False,
) -> None:
    """Check that copies of a model predict what the reference predicts, each in its own runtime.

    Keras files run in Keras 3 or tf_keras (whichever wrote them), SavedModels
    through their serving signature in TensorFlow, TF.js models in TF.js under
    Node.js (wasm backend) or in headless Chromium (--browser, --tfjs-backend), ONNX in
    onnxruntime, TFLite in LiteRT (tf.lite.Interpreter for Flex ops),
    checkpoints in the architecture of --like. Inference mode everywhere.

    Inputs: the bundled MNIST test digits for models taking 784 values, else
    100 seeded random samples; or --inputs (arrays, images, CSV), --mnist,
    --random. Images are resized to the input and scaled by --preprocess.
    Inputs and outputs are matched by name, else by position when counts and
    shapes line up.

    Default tolerances (atol/rtol): 1e-5/1e-5 for float32 outputs; quantized
    copies: float16 weights 1e-2/1e-2, TF.js uint16 1e-3/1e-3, TF.js uint8
    1e-1/1e-1, TFLite dynamic-range 5e-2/5e-2, TFLite int8 5e-1/2e-1.

    Exit codes: 0 every copy matches; 1 a copy's outputs differ beyond the
    tolerance; 2 usage error, or a model could not be loaded or run.
    """
    from convkit._tf import quiet_tensorflow
    from convkit.profile import profiling, requested

    quiet_tensorflow()
    from convkit.check import check as run_check
    from convkit.check import render_table, write_junit
    from convkit.convert_and_check import check_all_formats

    log = stderr_console()
    progress = StageDisplay(quiet=json_output)
    options: dict[str, Any] = dict(
        inputs=inputs or None,
        preprocess=preprocessing_of(preprocess, scale, offset, mean, std),
        limit=limit,
        mnist=mnist,
        random=random,
        seed=seed,
        atol=atol,
        rtol=rtol,
        tolerances=_parse_tolerances(tolerance or []),
        like=like,
        allow_unsafe=allow_unsafe,
        signature=signature,
        tfjs_backends=tfjs_backend,
        browser=browser,
        progress=progress,
    )
    if all_formats:
        if len(models) != 1:
            raise UsageError(f"--all-formats takes one MODEL, not {len(models)}")
    elif keep_copies is not None:
        raise UsageError("--keep-copies applies to --all-formats only")
    elif len(models) < 2:
        raise UsageError("give the reference and at least one copy (REF OTHER...), or --all-formats MODEL")
    with profiling(requested(profile)) as stages:
        try:
            with progress:
                progress.begin("loading models")
                if all_formats:
                    report = check_all_formats(models[0], work_dir=keep_copies, **options)
                else:
                    report = run_check(models[0], models[1:], **options)
        finally:
            print_profile(stages)
    if junit_xml is not None:
        write_junit(report, junit_xml)
    if json_output:
        print_json({**report.to_dict(), "profile": stages.to_dict() if stages else None})
    else:
        render_table(report, stdout_console())
    for pair in report.pairs:
        if pair.error is not None:
            log.print(f"Error: {pair.error}", markup=False, highlight=False)
    raise typer.Exit(report.exit_code)


def _parse_tolerances(items: list[str]) -> dict[str, tuple[float, float]]:
    result = {}
    for item in items:
        name, _, values = item.partition("=")
        parts = values.split(",")
        try:
            if not name or len(parts) != 2:
                raise ValueError
            atol, rtol = float(parts[0]), float(parts[1])
            if atol < 0 or rtol < 0:
                raise ValueError
        except ValueError:
            raise UsageError(f"--tolerance takes OUTPUT=ATOL,RTOL with non-negative numbers, not {item!r}") from None
        result[name] = (atol, rtol)
    return result
