"""TensorFlow without its C++ start-up log lines on the terminal.

Importing TensorFlow 2.19 writes 7-10 lines to file descriptor 2 from C++
(``absl::InitializeLog``, "Unable to register cuDNN factory", "computation
placer already registered"), before any Python logging exists and whatever
``TF_CPP_MIN_LOG_LEVEL`` says. ``quiet_tensorflow()`` arranges that the first
import of TensorFlow in this process, wherever it comes from (``import keras``,
``import tf_keras``, tensorflowjs), runs with file descriptor 2 pointed at a
temporary file; the captured lines are written out only when the import fails.
Later C++ lines are dropped by ``TF_CPP_MIN_LOG_LEVEL=3``.

With ``CONVKIT_VERBOSE=1`` (``convkit --verbose``) nothing is silenced.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import os
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

VERBOSE_ENV = "CONVKIT_VERBOSE"
_QUIET_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "3",
    # tensorflow_decision_forests (imported by tensorflowjs) prints a welcome line otherwise.
    "TFDF_DISABLE_WELCOME_MESSAGE": "1",
}


def verbose() -> bool:
    """True when the user asked to see TensorFlow's own log lines."""
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0")


def quiet_tensorflow() -> contextlib.AbstractContextManager[None]:
    """Keeps TensorFlow's C++ log lines off the terminal for the rest of this process.

    Cheap: it imports nothing. Call it before the first ``import tensorflow`` /
    ``keras`` / ``tf_keras``; calling it again, or after TensorFlow is imported,
    changes nothing further. Does nothing when ``CONVKIT_VERBOSE=1``.

    Returns:
        A context manager for work that logs from C++ whatever the log level
        (grappler's "Number of eligible GPUs" in the TF.js graph converter):
        ``with quiet_tensorflow(): ...`` runs it with file descriptor 2 captured.
    """
    if verbose():
        return contextlib.nullcontext()
    for name, value in _QUIET_ENV.items():
        os.environ.setdefault(name, value)
    import logging

    logging.getLogger("absl").setLevel(logging.ERROR)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietImport())
    return silenced_stderr()


def import_tensorflow() -> Any:
    """``tensorflow``, imported quietly (:func:`quiet_tensorflow`); the first import, which takes seconds
    and hundreds of MiB, is a profile stage of its own (``import TensorFlow``)."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    from convkit.profile import stage

    quiet_tensorflow()
    with stage("import TensorFlow"):
        import tensorflow

    return tensorflow


def runtime_logs_hidden(in_process: bool = True) -> contextlib.AbstractContextManager[None]:
    """Hides what a runtime in this process writes to file descriptor 2 while a model loads or runs
    (XLA announcing its first compile through absl, which ignores ``TF_CPP_MIN_LOG_LEVEL``), unless
    asked for. A runtime in another process (``in_process`` False) writes nothing here: convkit's own
    progress lines, such as the browser page's address, stay visible."""
    return contextlib.nullcontext() if verbose() or not in_process else silenced_stderr(replay=False)


@contextlib.contextmanager
def silenced_stderr(replay: bool = True) -> Iterator[None]:
    """Points file descriptor 2 at a temporary file; replays what it caught if the block raises.

    Args:
        replay: write the caught lines out when the block raises. Default True; False where a
            failure is expected and answered by the caller (a converter route that falls back).
    """
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no file descriptor 2 (a detached process): nothing to silence
        yield
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        except BaseException:
            _restore(saved)
            sink.seek(0)
            caught = sink.read().decode("utf-8", "replace") if replay else ""
            if caught:
                sys.stderr.write(caught)
                sys.stderr.flush()
            raise
        _restore(saved)


def _restore(saved: int) -> None:
    with contextlib.suppress(ValueError, OSError):
        sys.stderr.flush()
    os.dup2(saved, 2)
    os.close(saved)


class _QuietImport(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` as usual and runs its first import inside ``silenced_stderr``."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)  # one import only; later finders do the finding
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _SilencedLoader(spec.loader)
        return spec


class _SilencedLoader(importlib.abc.Loader):
    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def create_module(self, spec: Any) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        with contextlib.nullcontext() if verbose() else silenced_stderr():
            self.loader.exec_module(module)

    def __getattr__(self, name: str) -> Any:  # get_resource_reader, is_package, ...
        return getattr(self.loader, name)
