"""Proof that a written model loads and runs in its target runtime.

``convert`` has every output verified while it still sits in its temporary
sibling: TF.js models run in real @tensorflow/tfjs, ``.h5``/``.keras`` files in
Keras (the generation that wrote the dialect, then the other), SavedModels
through tf_keras or their serving signature, checkpoints restored into the
source's architecture. Each runs once on a few random inputs made from its own
input spec. A failure raises :class:`~convkit.errors.VerifyError` carrying the
runtime's own message and the layer or op it names, so the output is never
renamed into place.

The runners are the ones ``convkit check`` uses. ``convkit/convert`` does not
import ``convkit/check``: this module sits above both, and
:class:`OutputVerifier` is what :func:`convkit.convert` hands the route engine
(its ``verify`` parameter), for running each output once and for ``--check``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from convkit._tf import runtime_logs_hidden
from convkit.errors import ConvkitError, UnsafeModelError, VerifyError, WriteError, error_text
from convkit.policy.safe_mode import plain_load

VERIFY_SAMPLES = 2
VERIFY_SEED = 0


@dataclass(frozen=True)
class OutputVerifier:
    """The route engine's ``verify``: each output run once before it is put in place, and ``--check``.

    Attributes:
        load_and_run: run every output once in its target runtime (``--verify``, the default);
            ``False`` (``--no-verify``) keeps unverified outputs.
    """

    load_and_run: bool = True

    def run_once(self, path: Path, target: str, *, final: Path, like: Path | None, allow_unsafe: bool) -> None:
        """Loads and runs the written output at ``path``; raises ``VerifyError`` when its runtime cannot."""
        if self.load_and_run:
            verify_output(path, target, final=final, like=like, allow_unsafe=allow_unsafe)

    def compare(self, src: Path, out: Path, like: str | Path | None) -> dict[str, Any]:
        """``convert --check``: the copy checked against its source, as the report's dict."""
        from convkit import roundtrip

        return roundtrip.verify_conversion(src, out, like)


def verify_output(
    path: Path,
    target: str,
    *,
    final: Path | None = None,
    like: Path | None = None,
    allow_unsafe: bool = False,
) -> str:
    """Loads ``path`` (a ``target`` format output) in its runtime and runs it once.

    Args:
        path: the written output (a folder, a file, or a checkpoint prefix).
        target: registry name of its format (``tfjs``, ``h5``, ``keras``, ``savedmodel``, ``ckpt``).
        final: where the output will be renamed to, for messages; default ``path``.
        like: a model file with the architecture, for weights-only outputs (checkpoints).
        allow_unsafe: let the runtime build Lambda layers the source held (given with ``--unsafe``).

    Returns:
        The runtime that ran it (``TF.js 4.22.0 layers``, ``Keras 3.15.1``).

    Raises:
        VerifyError: the runtime cannot load or run the output.
    """
    path = Path(path)
    final = Path(final) if final is not None else path
    try:
        # loaded as the users of the output will load it: Keras' load_model without custom objects
        with runtime_logs_hidden(), plain_load():
            runner = _open(path, target, like=like, allow_unsafe=allow_unsafe)
            _run_once(runner)
        return str(runner.runtime)
    except UnsafeModelError:
        raise
    except VerifyError:
        raise
    except ConvkitError as error:
        reason = _strip_path(str(error), path)
    except Exception as error:  # the runtime's own failure: the whole point is to report it, not crash
        reason = f"{type(error).__name__}: {error_text(error, limit=400)}"
    culprit = blame(reason, path, target)
    where = f" ({culprit})" if culprit else ""
    runtime = "TF.js" if target == "tfjs" else "its runtime"
    raise VerifyError(
        f"{final}: the written {target} model does not load or run in {runtime}{where}: {reason}; "
        "nothing was written (pass --no-verify to keep an unverified output)",
        reason,
        culprit,
    )


def _open(path: Path, target: str, *, like: Path | None, allow_unsafe: bool) -> Any:
    from convkit.check.runners import open_runner

    if target == "h5":
        # The Keras 2 dialect file loads in tf_keras; a layer only Keras 3 has may still load there.
        try:
            return _loaded(open_runner(path, allow_unsafe=allow_unsafe))
        except UnsafeModelError:
            raise
        except Exception:
            from convkit.check.runners.keras3 import load_keras3

            return _loaded(load_keras3(path, "h5", allow_unsafe=allow_unsafe))
    # A TF.js model opens through its registry record too, so the code policy judges it first.
    return _loaded(open_runner(path, like=like, allow_unsafe=allow_unsafe))


def _loaded(runner: Any) -> Any:
    runner.load()
    return runner


def _run_once(runner: Any) -> None:
    import numpy as np

    from convkit.check.inputs import random_inputs

    specs = runner.inputs
    feed = random_inputs(specs, VERIFY_SAMPLES, VERIFY_SEED).arrays
    outputs = runner.infer(feed)
    if not outputs:
        raise WriteError("the model produced no outputs")
    for name, value in outputs.items():
        if np.asarray(value).shape[:1] != (VERIFY_SAMPLES,):
            raise WriteError(f"output {name!r} has shape {list(np.asarray(value).shape)} for {VERIFY_SAMPLES} samples")


# ---------------------------------------------------------------- naming the culprit


def blame(reason: str, path: Path, target: str) -> str | None:
    """The layer, activation or op of the model at ``path`` that the runtime's message ``reason`` names."""
    if target != "tfjs":
        return None
    model_json = path / "model.json" if path.is_dir() else path
    try:
        document = json.loads(model_json.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    # TF.js writes Keras names camel-cased (hard_silu -> hardSilu) and weights as layer/attribute.
    words = {_folded(word) for word in re.findall(r"[A-Za-z_][A-Za-z0-9_>-]*", reason)}
    topology = document.get("modelTopology") or {}
    if document.get("format") == "graph-model" or isinstance(topology.get("node"), list):
        for node in _graph_nodes(document):
            if _folded(str(node.get("op"))) in words:
                return f"op {node['op']} at node {node.get('name')!r}"
        return None
    config = topology.get("model_config", topology)
    for layer in _layers(config):
        body = layer.get("config") or {}
        name = body.get("name", layer.get("name"))
        class_name = layer.get("class_name")
        if _folded(str(class_name)) in words:
            return f"layer {name!r} ({class_name})"
        for key in ("activation", "recurrent_activation"):
            value = body.get(key)
            if isinstance(value, str) and _folded(value) in words:
                return f"layer {name!r} ({class_name}, {key} {value!r})"
        for key, value in body.items():
            if isinstance(value, dict) and _folded(str(value.get("class_name"))) in words:
                return f"layer {name!r} ({class_name}, {key} {value['class_name']!r})"
        if _folded(str(name)) in words:
            return f"layer {name!r} ({class_name})"
    return None


def _folded(word: str) -> str:
    return word.replace("_", "").lower()


def _layers(config: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    body = config.get("config") if isinstance(config, dict) else None
    layers = body if isinstance(body, list) else (body or {}).get("layers", []) if isinstance(body, dict) else []
    for layer in layers or []:
        if not isinstance(layer, dict):
            continue
        found.append(layer)
        if layer.get("class_name") in ("Sequential", "Functional", "Model"):
            found.extend(_layers(layer))
        inner = (layer.get("config") or {}).get("layer")
        if isinstance(inner, dict) and "class_name" in inner:
            found.append(inner)
    return found


def _graph_nodes(document: dict[str, Any]) -> list[dict[str, Any]]:
    topology = document.get("modelTopology") or {}
    nodes = list(topology.get("node") or [])
    for function in ((topology.get("library") or {}).get("function") or []):
        nodes.extend(function.get("nodeDef") or [])
    return [node for node in nodes if isinstance(node, dict)]


def _strip_path(message: str, path: Path) -> str:
    # The temporary sibling's path means nothing to the user; the message names the final output.
    for prefix in (f"{path / 'model.json'}: ", f"{path}: "):
        message = message.replace(prefix, "")
    return message.replace(str(path), "<output>")
