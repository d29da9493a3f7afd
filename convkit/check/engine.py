"""The check engine: the same inputs through every model, each output compared with the reference's."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from convkit._tf import runtime_logs_hidden
from convkit.check.compare import OutputComparison, Tolerance, compare_output
from convkit.check.report import CheckReport, ModelInfo, PairResult
from convkit.data.adapt import adaptations, from_model, logical, to_model
from convkit.data.loader import InputsLike, load_inputs, match_specs
from convkit.data.preprocess import Preprocessing, preprocessing
from convkit.data.samples import InputSet
from convkit.errors import ConvkitError, RuntimeMissingError, UsageError
from convkit.profile import stage
from convkit.progress import Progress, no_progress
from convkit.runtimes.base import Runner
from convkit.runtimes.keras.runner import KerasModelRunner
from convkit.runtimes.open import open_runner

if TYPE_CHECKING:
    from convkit.runtimes.tfjs.backends import TfjsRuntimes

ModelLike = str | Path | Runner | Any


def check(
    ref: ModelLike,
    others: Sequence[ModelLike] | ModelLike,
    *,
    inputs: InputsLike | None = None,
    mnist: int | None = None,
    random: int | None = None,
    seed: int = 0,
    preprocess: str | Preprocessing | None = None,
    limit: int | None = None,
    atol: float | None = None,
    rtol: float | None = None,
    tolerances: Mapping[str, tuple[float, float]] | None = None,
    like: str | Path | None = None,
    allow_unsafe: bool = False,
    signature: str | None = None,
    tfjs_backends: Sequence[str] | None = None,
    browser: str | Any | None = None,
    progress: Progress | None = None,
) -> CheckReport:
    """Runs ``ref`` and every model in ``others`` on the same inputs and compares their outputs.

    Each model runs in its own runtime (Keras 3, tf_keras, TensorFlow
    SavedModel signatures, TF.js under Node or in Chromium), in inference mode.

    Args:
        ref: the reference: a model path, a ``Runner`` or a live Keras model.
        others: the copies to compare with it (same kinds as ``ref``).
        inputs: the data to feed (:func:`convkit.data.loader.load_inputs`): an ``.npz`` (arrays by input
            name), an ``.npy``, a folder, glob or file of images, a CSV file, several of them as
            ``NAME=SOURCE``, or a mapping of arrays keyed by input name.
        mnist: feed the first ``mnist`` bundled MNIST test digits.
        random: feed ``random`` seeded random samples drawn from the input specs.
        seed: seed for ``random``. Default 0.
        preprocess: how image pixels become values: a preset (``raw``, ``unit``, ``tf``,
            ``imagenet-caffe``, ``imagenet-torch``) or a :class:`~convkit.data.preprocess.Preprocessing`.
            Default: ``unit`` for float inputs, ``raw`` for integer ones.
        limit: feed at most this many samples (the first). Default all.
        atol, rtol: tolerances for every output. Default: per output dtype
            (1e-5/1e-5 for float32; looser for quantized TF.js weights).
        tolerances: per-output ``{name: (atol, rtol)}``, overriding ``atol``/``rtol``.
        like: a model file lending its architecture to weights-only copies
            (checkpoints). Default: ``ref`` when it is a Keras model file.
        allow_unsafe: load models whose Lambda layers run code. Default ``False``.
        signature: the signature every model holding signatures (SavedModels, TFLite) runs; one holding a
            single signature runs that one. Default: ``serving_default``, else the only one. A model holding
            several, none of them ``signature``, is an error listing them.
        tfjs_backends: TF.js backends (``cpu``, ``wasm``, ``webgl``, ``webgl-f16``), each TF.js
            model one row per backend. Default: ``wasm`` in Node (``cpu`` for a model whose
            kernels wasm lacks); with ``browser``, ``webgl`` and ``wasm``.
        browser: ``"chromium"`` to run TF.js models in headless Chromium (implied by the webgl
            backends), or a ``BrowserSession`` to share across checks. Default: Node only.
        progress: told each stage (``loading REF``, ``running COPY``, ``COPY: PASSED``).

    With no input source given, models taking one 784-value input get all
    bundled MNIST test digits and others 100 random samples.

    Returns:
        A ``CheckReport``; ``report.passed`` is the verdict and
        ``report.assert_passed()`` raises for use in a test suite.

    Raises:
        UsageError: no copies given, conflicting input options, unknown output in ``tolerances``.
        ConvkitError: the reference cannot be loaded or run (a copy that cannot
            is reported as an ERROR row instead).
    """
    from convkit.runtimes.tfjs.backends import TfjsRuntimes

    with TfjsRuntimes(tfjs_backends, browser, allow_unsafe=allow_unsafe, progress=progress) as tfjs:
        chosen = preprocessing(preprocess) if isinstance(preprocess, str) else preprocess
        return _check(ref, others, inputs=inputs, mnist=mnist, random=random, seed=seed, preprocess=chosen,
                      limit=limit, atol=atol, rtol=rtol, tolerances=tolerances, like=like, allow_unsafe=allow_unsafe,
                      signature=signature, tfjs=tfjs, progress=progress)


def _check(ref: ModelLike, others: Sequence[ModelLike] | ModelLike, *, inputs: Any, mnist: int | None,
           random: int | None, seed: int, preprocess: Preprocessing | None, limit: int | None, atol: float | None, rtol: float | None,
           tolerances: Mapping[str, tuple[float, float]] | None, like: str | Path | None, allow_unsafe: bool,
           signature: str | None, tfjs: TfjsRuntimes, progress: Progress | None) -> CheckReport:
    started = time.perf_counter()
    say = progress or no_progress
    copies = [others] if isinstance(others, (str, Path, Runner)) or _is_keras_model(others) else list(others)
    copies = tfjs.expand(copies)
    ref = tfjs.reference(ref)
    if not copies:
        raise UsageError("give at least one model to compare with the reference")
    tolerances = dict(tolerances or {})

    say(f"running reference {_label(ref)}")
    ref_started = time.perf_counter()
    with stage(f"load {_label(ref)}"):
        ref_runner = _as_runner(ref, like=like, allow_unsafe=allow_unsafe, signature=signature)
    ref_specs = [logical(spec) for spec in ref_runner.inputs]
    feed = load_inputs(ref_specs, inputs, preprocessing=preprocess, limit=limit, mnist=mnist, random=random, seed=seed)
    say(f"inputs: {feed.source}")
    with runtime_logs_hidden(ref_runner.in_process), stage(f"run {_label(ref)}"):
        ref_outputs = run_adapted(ref_runner, {spec.name: feed.arrays[spec.name] for spec in ref_specs})
    reference = _info(ref_runner, time.perf_counter() - ref_started)
    if ref is not ref_runner:
        # Only its outputs are needed from here on: the copies load while the reference's weights are gone.
        ref_runner.release()
    unknown = [name for name in tolerances if name not in ref_outputs]
    if like is None and isinstance(ref_runner, KerasModelRunner) and ref_runner.path is not None:
        like = ref_runner.path

    pairs = []
    for copy in copies:
        say(f"running {_label(copy)}")
        pairs.append(
            _check_one(copy, feed, ref_specs, ref_outputs, atol=atol, rtol=rtol, tolerances=tolerances,
                       like=like, allow_unsafe=allow_unsafe, signature=signature)
        )
        say(f"{pairs[-1].model.label}: {pairs[-1].status}")
    copy_names = {o.other_output for pair in pairs for o in pair.outputs}
    unknown = [name for name in unknown if name not in copy_names]
    if unknown:
        raise UsageError(
            f"--tolerance names outputs {unknown} that no model has; the reference's outputs are {list(ref_outputs)}"
        )
    return CheckReport(
        reference=reference,
        pairs=tuple(pairs),
        inputs=feed.to_dict(),
        seconds=time.perf_counter() - started,
        notes=(*feed.notes, *(f"reference: {note}" for note in ref_runner.notes)),
    )


def _check_one(
    copy: ModelLike,
    feed: InputSet,
    ref_specs: list,
    ref_outputs: dict[str, np.ndarray],
    *,
    atol: float | None,
    rtol: float | None,
    tolerances: dict[str, tuple[float, float]],
    like: str | Path | None,
    allow_unsafe: bool,
    signature: str | None,
) -> PairResult:
    started = time.perf_counter()
    runner: Runner | None = None
    try:
        with stage(f"load {_label(copy)}"):
            runner = _as_runner(copy, like=like, allow_unsafe=allow_unsafe, signature=signature)
        matching = match_specs(ref_specs, [logical(spec) for spec in runner.inputs], what=f"{runner.label}'s inputs")
        other_feed = {other: feed.arrays[ref.name] for ref, other in zip(ref_specs, matching.names)}
        with runtime_logs_hidden(runner.in_process), stage(f"run {runner.label}"):
            outputs = run_adapted(runner, other_feed)  # each input cast to the copy's number type there
        if runner is not copy:
            runner.release()  # the next copy loads without this one's weights
    except RuntimeMissingError:
        raise  # not the copy's fault: the whole run needs the runtime installed
    except ConvkitError as error:
        info = _info(runner, time.perf_counter() - started) if runner is not None else ModelInfo(
            label=_label(copy), path=str(copy) if isinstance(copy, (str, Path)) else None,
            format=_format_guess(copy), runtime="-", seconds=time.perf_counter() - started)
        return PairResult(model=info, error=str(error))
    notes = list(runner.notes) + adaptations(runner.inputs, runner.outputs)
    comparisons, output_note = _compare_outputs(ref_outputs, outputs, runner, atol=atol, rtol=rtol,
                                                tolerances=tolerances)
    if matching.note and output_note:
        notes.append(f"{matching.note}; {output_note}")
    else:
        notes.extend(note for note in (matching.note, output_note) if note)
    return PairResult(model=_info(runner, time.perf_counter() - started), outputs=tuple(comparisons),
                      notes=tuple(notes))


def run_adapted(runner: Runner, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Runs ``runner`` on ``feed`` (keyed by its input names, in the source model's number type and layout):
    inputs quantized and transposed as the model takes them, outputs dequantized and transposed back."""
    inputs = {spec.name: spec for spec in runner.inputs}
    outputs = {spec.name: spec for spec in runner.outputs}
    results = runner.infer({name: to_model(array, inputs[name]) for name, array in feed.items()})
    return {name: from_model(value, outputs[name]) if name in outputs else value for name, value in results.items()}


def _compare_outputs(
    ref_outputs: dict[str, np.ndarray],
    outputs: dict[str, np.ndarray],
    runner: Runner,
    *,
    atol: float | None,
    rtol: float | None,
    tolerances: dict[str, tuple[float, float]],
) -> tuple[list[OutputComparison], str | None]:
    ref_names, other_names = list(ref_outputs), list(outputs)
    note = None
    partner: dict[str, str | None]
    if set(ref_names) <= set(other_names):
        partner = {name: name for name in ref_names}
    elif len(ref_names) == len(other_names):
        partner = dict(zip(ref_names, other_names))
        moved = ", ".join(f"{a} -> {b}" for a, b in partner.items() if a != b)
        note = f"outputs matched by position ({moved})"
    else:
        partner = {name: name if name in outputs else None for name in ref_names}
    comparisons = []
    for name in ref_names:
        other_name = partner[name]
        tolerance = _tolerance_for(name, other_name, ref_outputs[name], runner, atol, rtol, tolerances)
        comparisons.append(compare_output(name, ref_outputs[name], outputs.get(other_name) if other_name else None,
                                          tolerance, other_name=other_name or name))
    return comparisons, note


def _tolerance_for(
    name: str,
    other_name: str | None,
    reference: np.ndarray,
    runner: Runner,
    atol: float | None,
    rtol: float | None,
    tolerances: dict[str, tuple[float, float]],
) -> Tolerance:
    for key in (name, other_name):
        if key is not None and key in tolerances:
            given_atol, given_rtol = tolerances[key]
            return Tolerance(float(given_atol), float(given_rtol), f"--tolerance {key}")
    default = runner.default_tolerance(str(reference.dtype))
    if atol is None and rtol is None:
        return default
    return Tolerance(default.atol if atol is None else float(atol), default.rtol if rtol is None else float(rtol),
                     "--atol/--rtol")


def _as_runner(model: ModelLike, *, like: str | Path | None, allow_unsafe: bool, signature: str | None = None) -> Runner:
    if isinstance(model, Runner):
        runner = model
    elif isinstance(model, (str, Path)):
        runner = open_runner(model, like=like, allow_unsafe=allow_unsafe, signature=signature)
    elif _is_keras_model(model):
        generation = 2 if type(model).__module__.startswith("tf_keras") else 3
        runner = KerasModelRunner(model, generation=generation, format_name="live",
                                  label=f"{type(model).__name__} {getattr(model, 'name', '')}".strip())
    else:
        raise UsageError(f"cannot check a {type(model).__name__}; give a model path, a Runner or a Keras model")
    with runtime_logs_hidden(runner.in_process):
        runner.load()
    return runner


def _is_keras_model(value: Any) -> bool:
    return hasattr(value, "inputs") and hasattr(value, "outputs") and callable(value) and hasattr(value, "layers")


def _label(model: ModelLike) -> str:
    if isinstance(model, Runner):
        return model.label
    if isinstance(model, (str, Path)):
        return str(model)
    return type(model).__name__


def _format_guess(model: ModelLike) -> str:
    if isinstance(model, (str, Path)):
        try:
            from convkit.registry import detect

            return detect(model).name
        except ConvkitError:
            return "unknown"
    return "live"


def _info(runner: Runner, seconds: float) -> ModelInfo:
    return ModelInfo(
        label=runner.label,
        path=str(runner.path) if runner.path is not None else None,
        format=runner.format_name,
        runtime=runner.runtime,
        quantization=runner.quantization,
        seconds=round(seconds, 3),
    )
