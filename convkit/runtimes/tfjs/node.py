"""The Node.js host of TF.js: one ``node tfjs_runner.mjs --serve`` process for every TF.js model of a run."""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from convkit.errors import ConvkitError, RunError, UsageError
from convkit.runtimes.tfjs.install import find_node_root
from convkit.runtimes.tfjs.protocol import read_tensors, write_tensors

RUNNER_SCRIPT = Path(__file__).resolve().parent / "tfjs_runner.mjs"
NODE_TIMEOUT_SECONDS = 1800


class NodeHost:
    """One ``node tfjs_runner.mjs --serve`` process that runs every TF.js model of a check run.

    Started at the first ``run`` (or ``prestart``); stopped by ``close``, or when this process ends
    and Node's stdin with it. Requests and answers are JSON lines on the process's stdin and
    stdout; tensors go through files in a temporary folder.

    Args:
        node: the ``node`` executable. Default: ``node`` on PATH.
        node_root: a directory whose ``node_modules`` holds @tensorflow/tfjs. Default: ``find_node_root()``.
        timeout_seconds: the longest one model may run. Default 1800.
    """

    name = "Node"

    def __init__(self, *, node: str | None = None, node_root: Path | None = None,
                 timeout_seconds: float = NODE_TIMEOUT_SECONDS) -> None:
        self.node = node
        self.node_root = Path(node_root) if node_root else None
        self.timeout_seconds = timeout_seconds
        self._process: subprocess.Popen[str] | None = None
        self._stderr: Any = None
        self._work: tempfile.TemporaryDirectory[str] | None = None
        self._count = 0

    def ensure_available(self) -> None:
        self.node = self.node or shutil.which("node")
        if not self.node:
            raise UsageError("TF.js models run under Node.js, and no 'node' is on PATH")
        self.node_root = self.node_root or find_node_root()

    def prestart(self) -> None:
        """Starts Node now, so that TF.js loads while the caller runs other models; errors wait for ``run``."""
        try:
            self._start()
        except ConvkitError:
            pass

    def _start(self) -> subprocess.Popen[str]:
        if self._process is not None and self._process.poll() is None:
            return self._process
        self.ensure_available()
        self._work = tempfile.TemporaryDirectory(prefix="convkit-tfjs-")
        self._stderr = open(Path(self._work.name) / "node.stderr", "w+b")
        env = dict(os.environ, CONVKIT_NODE_ROOT=str(self.node_root))
        self._process = subprocess.Popen([str(self.node), str(RUNNER_SCRIPT), "--serve"], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=self._stderr, text=True, env=env)
        return self._process

    def run(self, model_json: Path, tensors: list[tuple[str, np.ndarray]], backend: str, *, loader: str = "files"
            ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Runs ``model_json`` on ``backend``; returns the output header and ``{name: array}``.

        Args:
            loader: ``files`` (each weight read once, from its shard into the backend's storage) or ``io``
                (TF.js's own IOHandler path: every shard read whole, then decoded and copied).
        """
        process = self._start()
        assert self._work is not None and process.stdin is not None and process.stdout is not None
        self._count += 1
        job = Path(self._work.name) / f"job-{self._count}"
        job.mkdir()
        try:
            write_tensors(job / "inputs.json", tensors)
            request = {"id": self._count, "model": str(model_json), "inputs": str(job / "inputs.json"),
                       "outputs": str(job / "outputs.json"), "backend": backend, "loader": loader}
            try:
                process.stdin.write(json.dumps(request) + "\n")
                process.stdin.flush()
            except OSError:
                raise RunError(f"{model_json}: TF.js could not run the model ({self._failure()})") from None
            answer = self._answer(model_json, self._count)
            if not answer.get("ok"):
                raise RunError(f"{model_json}: TF.js could not run the model ({str(answer.get('error'))[:400]})")
            return read_tensors(job / "outputs.json")
        finally:
            shutil.rmtree(job, ignore_errors=True)

    def _answer(self, model_json: Path, request_id: int) -> dict[str, Any]:
        process = self._process
        assert process is not None and process.stdout is not None
        while True:
            ready, _, _ = select.select([process.stdout], [], [], self.timeout_seconds)
            if not ready:
                self.close()
                raise RunError(f"{model_json}: TF.js did not finish within {self.timeout_seconds:g} s")
            line = process.stdout.readline()
            if not line:
                raise RunError(f"{model_json}: TF.js could not run the model ({self._failure()})")
            try:
                answer = json.loads(line)
            except ValueError:
                continue  # something in TF.js printed to stdout after all
            if isinstance(answer, dict) and answer.get("id") == request_id:
                return answer

    def _failure(self) -> str:
        """Why the process ended: its last error line."""
        if self._process is not None:
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        text = ""
        if self._stderr is not None:
            self._stderr.flush()
            self._stderr.seek(0)
            text = self._stderr.read()[-20000:].decode(errors="replace")
        return _node_error(text)

    def close(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            if process.stdin is not None:
                try:
                    process.stdin.close()
                except OSError:
                    pass
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        if self._work is not None:
            self._work.cleanup()
            self._work = None


def _node_error(stderr: str) -> str:
    for line in reversed(stderr.strip().splitlines()):
        if line.startswith("convkit-tfjs-error:"):
            return line.split(":", 1)[1].strip()[:400]
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return (lines[-1] if lines else "node exited with an error")[:400]
