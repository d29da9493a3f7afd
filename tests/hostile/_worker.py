"""A child process that runs many convkit commands, one at a time, for the corpus tests' isolated cases.

Started by ``tests.hostile._corpus.IsolatedWorker`` under an address-space cap.
Each request is one JSON line on stdin (``args``, ``cwd``, ``env``,
``seconds``); each command runs through the CLI as the in-process cases do
(``run_in_process``: cwd, TMPDIR and the marker variable pointed into the
sandbox, a SIGALRM deadline) and its answer is one JSON line on the protocol
pipe. TensorFlow is imported once, by the first command that needs it, instead
of once per command. Output that libraries write to the process's own
stdout/stderr never reaches the protocol pipe.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from tests.hostile._corpus import Hang, run_in_process


class _Place:
    """What ``run_in_process`` needs of a sandbox: its cwd, scratch folder and environment."""

    def __init__(self, cwd: str, env: dict[str, str]) -> None:
        self.cwd = Path(cwd)
        self.scratch = Path(env["TMPDIR"])
        self._env = env

    def env(self) -> dict[str, str]:
        return dict(self._env)


def main() -> None:
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # C++ and print() output from libraries goes to stderr, never into the protocol
    for line in sys.stdin:
        request = json.loads(line)
        try:
            outcome = run_in_process(_Place(request["cwd"], request["env"]), request["args"],
                                     seconds=request["seconds"])
            answer = {"exit_code": outcome.exit_code, "stdout": outcome.stdout, "stderr": outcome.stderr,
                      "exception": repr(outcome.exception) if outcome.exception is not None else None}
        except Hang as error:
            answer = {"hang": str(error)}
        protocol.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main()
