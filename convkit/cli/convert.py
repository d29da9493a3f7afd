"""`convkit convert SRC --to FORMAT`: wiring only; the engine is convkit.convert."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from convkit.cli._common import (
    JsonOption,
    LimitOption,
    MeanOption,
    OffsetOption,
    OutOption,
    PreprocessOption,
    ProfileOption,
    ScaleOption,
    StdOption,
    VerboseOption,
    choice_option,
    help_from,
    handle_errors,
    preprocessing_of,
    print_json,
    print_profile,
    stdout_console,
)
from convkit.cli._progress import StageDisplay
from convkit.errors import MismatchError
from convkit.registry import format_names, formats


def model_kinds() -> list[str]:
    """The ``--tfjs-kind`` choices: every model kind a format's writer offers (its registry record says)."""
    return _offered("kinds")


def quantizations() -> list[str]:
    """The ``--quantize`` choices: every weight quantization a format's writer offers."""
    return _offered("quantizations")


def io_types() -> list[str]:
    """The ``--io-type`` choices: the input/output number types a calibrated quantization offers."""
    return _offered("io_types")


def _calibrate_help() -> str:
    offered = [f"--to {fmt.name} --quantize {'/'.join(fmt.write_options.calibrated)}"
               for fmt in formats() if fmt.write_options.calibrated]
    return (f"Calibrate on this data ({'; '.join(offered)}): an .npz, .npy, folder, glob or file of images, or "
            "CSV, as check --inputs takes it; NAME=SOURCE for one input (repeat). Default: up to 100 of the inputs "
            "convkit check would feed. Up to 500 samples unless --limit says.")


def _io_type_help() -> str:
    offered = [f"--to {fmt.name} --quantize {'/'.join(fmt.write_options.calibrated)}"
               for fmt in formats() if fmt.write_options.io_types]
    return (f"Number type of the model's inputs and outputs ({'; '.join(offered)}); int8/uint8 inputs take "
            "quantized values (the file holds the scale and zero point). Default float32.")


def _input_shape_help() -> str:
    offered = [f"--to {fmt.name}" for fmt in formats() if fmt.write_options.input_shapes]
    return (f"An input's shape in the output, batch included: image=1x28x28x1, or -1/? for an open dimension "
            f"(image=?x224x224x3); repeat per input ({', '.join(offered)}). Default: the model's, batch open.")


def _nchw_help() -> str:
    offered = [f"--to {fmt.name}" for fmt in formats() if fmt.write_options.channels_first]
    return (f"Inputs and outputs to take and give channels first, [N, C, H, W] for the model's [N, H, W, C] "
            f"({', '.join(offered)}); the file records it, and convkit check feeds such a copy transposed data.")


def _external_data_help() -> str:
    offered = [f"--to {fmt.name}" for fmt in formats() if fmt.write_options.external_data]
    return (f"Write the weights to a data file beside the model whatever their size ({', '.join(offered)}; "
            "always past 960 MiB): a runtime maps them from the file instead of reading them in.")


def _quantize_help() -> str:
    offered = [f"--to {fmt.name}: {', '.join(fmt.write_options.quantizations)}"
               for fmt in formats() if fmt.write_options.quantizations]
    return (f"Quantize the weights ({'; '.join(offered)}); TFLite int8 quantizes activations too, calibrated on "
            "--calibrate's data, else on the inputs convkit check uses.")


def _shard_help() -> str:
    offered = [f"--to {fmt.name}: default {fmt.write_options.shard_size:,}"
               for fmt in formats() if fmt.write_options.shard_size]
    return f"Bytes per weight shard file ({'; '.join(offered)})."


def _opset_help() -> str:
    offered = [f"--to {fmt.name}: {min(options.opsets)}..{max(options.opsets)}, default {options.default_opset}"
               for fmt in formats() for options in [fmt.write_options] if options.opsets]
    return f"Opset of the output ({'; '.join(offered)})."


def routes() -> list[str]:
    """The ``--onnx-route`` choices: every writer a format can be written through."""
    return _offered("routes")


def _offered(option: str) -> list[str]:
    return list(dict.fromkeys(choice for fmt in formats() for choice in getattr(fmt.write_options, option)))


def register(app: typer.Typer) -> None:
    app.command("convert", help="Convert a model file to another format (written atomically).")(convert_command)


@handle_errors
def convert_command(
    src: Annotated[Path, typer.Argument(help="Model file or folder of any supported format.", metavar="SRC")],
    to: Annotated[str, choice_option("--to", "-t", choices=format_names, help="Target format.", metavar="FORMAT")],
    out: OutOption = None,
    like: Annotated[Optional[Path], typer.Option("--like", help="Model file giving the architecture for weights-only sources.", metavar="MODEL")] = None,
    tfjs_kind: Annotated[Optional[str], choice_option("--tfjs-kind", choices=model_kinds, help="TF.js model kind (default: layers for Keras sources, graph for plain SavedModels).")] = None,
    quantize: Annotated[Optional[str], choice_option("--quantize", choices=quantizations, help=_quantize_help)] = None,
    quantize_weights: Annotated[Optional[list[str]], typer.Option("--quantize-weights", help="Glob of TF.js weight names to quantize (repeatable); default all.", metavar="GLOB")] = None,
    shard_size: Annotated[Optional[int], help_from(typer.Option("--shard-size", metavar="BYTES", show_default=False), _shard_help)] = None,
    keep_optimizer: Annotated[bool, typer.Option("--keep-optimizer/--no-optimizer", help="Carry optimizer state where the target holds it.")] = True,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Fail instead of warning when the target cannot hold part of the source.")] = False,
    unsafe: Annotated[bool, typer.Option("--unsafe", help="Allow Lambda layers and custom functions (runs code from the file).")] = False,
    check: Annotated[bool, typer.Option("--check", help="Check the output predicts the same as the source.")] = False,
    verify: Annotated[bool, typer.Option("--verify/--no-verify", help="Smoke-run the output (load it and run it once in its target runtime) before it is put in place.")] = True,
    opset: Annotated[Optional[int], help_from(typer.Option("--opset", metavar="N", show_default=False), _opset_help)] = None,
    calibrate: Annotated[Optional[list[str]], help_from(typer.Option("--calibrate", metavar="[NAME=]SOURCE", show_default=False), _calibrate_help)] = None,
    preprocess: PreprocessOption = None,
    scale: ScaleOption = None,
    offset: OffsetOption = None,
    mean: MeanOption = None,
    std: StdOption = None,
    limit: LimitOption = None,
    io_type: Annotated[Optional[str], choice_option("--io-type", choices=io_types, help=_io_type_help)] = None,
    input_shape: Annotated[Optional[list[str]], help_from(typer.Option("--input-shape", metavar="[NAME=]DIMS", show_default=False), _input_shape_help)] = None,
    nchw: Annotated[Optional[list[str]], help_from(typer.Option("--nchw", metavar="NAME[,NAME...]", show_default=False), _nchw_help)] = None,
    external_data: Annotated[bool, help_from(typer.Option("--external-data", show_default=False), _external_data_help)] = False,
    inputs: Annotated[Optional[str], typer.Option("--inputs", help="Graph sources: the inputs, NAME[:SHAPE],... (x:0, x:1x28x28x1, '?' for an open dimension); default the signature's, else the graph's placeholders.", metavar="NAME[:SHAPE],...")] = None,
    outputs: Annotated[Optional[str], typer.Option("--outputs", help="Graph sources: the outputs, NAME,... (x:0 accepted); default the signature's, else the nodes nobody consumes.", metavar="NAME,...")] = None,
    signature: Annotated[Optional[str], typer.Option("--signature", help="The signature to convert where the source has several (the output holds it alone: a SavedModel as its serving_default, TF.js as a graph model).", show_default="serving_default, else the only one", metavar="KEY")] = None,
    tag: Annotated[Optional[str], typer.Option("--tag", help="The SavedModel meta graph's tags (serve, or train,gpu).", show_default="serve, else the only one", metavar="TAGS")] = None,
    onnx_route: Annotated[Optional[str], choice_option("--onnx-route", choices=routes, help="ONNX writer: native (from the Keras config, no TensorFlow) or tf2onnx (default: native where it covers every layer, else tf2onnx).")] = None,
    json_output: JsonOption = False,
    verbose: VerboseOption = False,
    profile: ProfileOption = False,
) -> None:
    from convkit import convert
    from convkit._tf import quiet_tensorflow
    from convkit.profile import profiling, requested

    quiet_tensorflow()
    mismatch = None
    with profiling(requested(profile)) as stages:
        try:
            with StageDisplay(quiet=json_output) as progress:
                progress.begin(f"converting {src.name} to {to}")
                try:
                    result = convert(
                        src, to, out, like=like, tfjs_kind=tfjs_kind, quantize=quantize,
                        quantize_weights=tuple(quantize_weights or ()), shard_size=shard_size,
                        keep_optimizer=keep_optimizer, overwrite=overwrite, strict=strict,
                        allow_unsafe=unsafe, check=check, smoke_run=verify, progress=progress, opset=opset,
                        calibrate=calibrate or None, preprocess=preprocessing_of(preprocess, scale, offset, mean, std),
                        limit=limit, io_type=io_type, nchw=tuple(nchw or ()), external_data=external_data, input_shapes=tuple(input_shape or ()),
                        inputs=inputs, outputs=outputs, signature=signature, tag=tag, onnx_route=onnx_route,
                    )
                except MismatchError as error:
                    # The copy was written and checked: its report is the answer, whatever the verdict.
                    checked = getattr(error, "result", None)
                    if checked is None:
                        raise
                    result = checked
                    mismatch = error
        finally:
            print_profile(stages)
    if json_output:
        print_json({**result.to_dict(), "profile": stages.to_dict() if stages else None})
    else:
        _print_result(result, progress)
    if mismatch is not None:
        raise mismatch


def _print_result(result, progress: StageDisplay) -> None:
    from rich.markup import escape

    for warning in result.warnings:
        progress.print(f"[yellow]warning:[/yellow] {escape(warning)}")
    out = stdout_console()
    what = f"{result.to} ({result.kind})"
    out.print(f"{result.src} -> {result.out}  [{what}, {result.seconds:.2f} s]", markup=False, highlight=False)
    if result.calibration is not None:
        out.print(f"calibrated on {result.calibration['source']}", markup=False, highlight=False)
    if result.check is not None:
        out.print(f"check: {result.check.get('headline', result.check.get('status'))}", markup=False, highlight=False)
