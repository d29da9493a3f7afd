"""The TF.js backends one check run asks for, and the hosts (Node, Chromium) that run them."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Sequence

from convkit.errors import ConvkitError, UsageError
from convkit.registry import detect
from convkit.runtimes.tfjs.node import NodeHost
from convkit.runtimes.tfjs.runner import (
    BACKENDS,
    BROWSER_ONLY_BACKENDS,
    DEFAULT_BROWSER_BACKENDS,
    DEFAULT_NODE_BACKENDS,
    TfjsHost,
    TfjsRunner,
    open_tfjs,
)


class TfjsRuntimes:
    """The TF.js backends one check run asks for, and the hosts (Node, Chromium) that run them.

    Every TF.js model becomes one runner per backend, each its own row in the report.
    ``cpu`` and ``wasm`` run in Node unless a browser is given, ``webgl`` and ``webgl-f16``
    always in the browser (Chromium unless another is given). One Node process and one browser
    serve all models; both start at the first model that needs them and stop at ``close``.

    Args:
        backends: backend names (``"wasm,webgl"`` items are split). Default: ``wasm`` in Node
            (cpu for a model whose kernels wasm lacks); with a browser, ``webgl`` and ``wasm``.
        browser: ``"chromium"``, or a running browser session to share (left open at ``close``).
        allow_unsafe: passed to the code policy that judges each TF.js model first. Default ``False``.
        progress: called with one line when a host starts.

    Raises:
        UsageError: an unknown backend or browser, or a browser that is not installed.
    """

    def __init__(self, backends: Iterable[str] | None = None, browser: Any = None, *, allow_unsafe: bool = False,
                 progress: Any = None) -> None:
        chosen = parse_backends(backends)
        self.allow_unsafe = allow_unsafe
        self.explicit = bool(chosen)
        self.all_in_browser = browser is not None
        if browser is None and any(name in BROWSER_ONLY_BACKENDS for name in chosen):
            browser = "chromium"
        self.backends = chosen or (DEFAULT_BROWSER_BACKENDS if browser is not None else DEFAULT_NODE_BACKENDS)
        self._node: NodeHost | None = None
        self._own_browser = isinstance(browser, str)
        if isinstance(browser, str):
            from convkit.runtimes.tfjs.browser import BrowserSession

            browser = BrowserSession(browser, progress=progress)
            browser.ensure_available()
        self._browser = browser

    def host(self, backend: str) -> TfjsHost:
        if self._browser is not None and (self.all_in_browser or backend in BROWSER_ONLY_BACKENDS):
            return self._browser
        if self._node is None:
            self._node = NodeHost()
        return self._node

    def runners(self, model: Any) -> list[Any]:
        """One ``TfjsRunner`` per backend for a TF.js model path; anything else as it is, in a list.

        The path opens through its format's registry record (``open_runner``), so the code policy judges
        it first; a path that cannot be opened stays a path, for the engine to open and report.
        """
        if not _is_tfjs_path(model):
            return [model]
        from convkit.runtimes.open import open_runner

        try:
            opened = open_runner(Path(model), allow_unsafe=self.allow_unsafe)
        except ConvkitError:
            return [model]
        if not isinstance(opened, TfjsRunner):
            return [opened]
        several = len(self.backends) > 1
        for backend in self.backends:
            host = self.host(backend)
            if isinstance(host, NodeHost):
                host.prestart()
        return [opened.on_backend(backend, self.host(backend), cpu_fallback=not self.explicit and not self.all_in_browser,
                                  label=f"{model} ({backend})" if several else str(model))
                for backend in self.backends]

    def expand(self, models: Sequence[Any]) -> list[Any]:
        """``models`` with every TF.js path replaced by its runners, one per backend."""
        return [item for model in models for item in self.runners(model)]

    def reference(self, model: Any) -> Any:
        """The reference model: a TF.js reference runs on the first backend."""
        runner = self.runners(model)[0]
        if isinstance(runner, TfjsRunner):
            runner.label = str(model)
        return runner

    def close(self) -> None:
        """Stops the Node process and the browser this object started."""
        if self._node is not None:
            self._node.close()
        if self._browser is not None and self._own_browser:
            self._browser.close()

    def __enter__(self) -> TfjsRuntimes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def parse_backends(values: Iterable[str] | None) -> tuple[str, ...]:
    """Backend names from options such as ``["wasm,webgl", "cpu"]``, in order, each once.

    Raises:
        UsageError: a name is not one of ``BACKENDS``.
    """
    if isinstance(values, str):
        values = [values]
    chosen: list[str] = []
    for value in values or ():
        for name in str(value).split(","):
            name = name.strip().lower()
            if not name:
                continue
            if name not in BACKENDS:
                raise UsageError(f"unknown TF.js backend {name!r}; choose from {', '.join(BACKENDS)}")
            if name not in chosen:
                chosen.append(name)
    return tuple(chosen)


def _is_tfjs_path(model: Any) -> bool:
    if not isinstance(model, (str, Path)):
        return False
    try:
        record = detect(Path(model))
    except ConvkitError:
        return False
    return record.resolve("runner") is open_tfjs
