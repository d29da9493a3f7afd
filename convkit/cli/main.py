"""The ``convkit`` command: one Typer app, one module per subcommand."""

from __future__ import annotations

from typing import Annotated

import typer

from convkit.cli import check, convert, inspect, setup_tfjs, train, version

app = typer.Typer(
    name="convkit",
    help="Train, convert, inspect and check TensorFlow / Keras / TF.js model files.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root(
    show_version: Annotated[
        bool,
        typer.Option("--version", help="Show the versions of convkit and every runtime it uses, then exit.",
                     callback=version.print_versions, is_eager=True),
    ] = False,
) -> None:
    """Train, convert, inspect and check TensorFlow / Keras / TF.js model files.

    Exit codes: 0 success; 1 a check found a mismatch; 2 bad input, usage or
    load error (one `Error: ...` line on stderr); 3 a bug in convkit.
    """


for module in (train, convert, inspect, check, setup_tfjs):
    module.register(app)


def main() -> None:
    """Runs the app; a usage error is one ``Error:`` line (exit 2), like every other bad input."""
    import sys

    from typer.exceptions import Abort, TyperException

    from convkit import scratch
    from convkit.errors import Terminated

    scratch.claim()
    _end_on_signals()
    try:
        code = app(standalone_mode=False)
    except TyperException as error:
        context = getattr(error, "ctx", None)
        if type(error).__name__ == "NoArgsIsHelpError":  # a bare command: its help, as before
            print(error.format_message())
        else:
            command = context.command_path if context is not None else "convkit"
            message = " ".join(error.format_message().split())
            print(f"Error: {command}: {message} (see '{command} -h')", file=sys.stderr)
        code = error.exit_code
    except Abort:
        print("Error: interrupted", file=sys.stderr)
        code = 130
    except Terminated as error:  # a signal outside any command (while the command line is parsed)
        print("Error: terminated", file=sys.stderr)
        code = 128 + error.signum
    code = code if isinstance(code, int) else 0
    if "tensorflow" in sys.modules:
        _exit_without_teardown(code)
    sys.exit(code)


def _end_on_signals() -> None:
    """SIGTERM and SIGHUP end a command the way Ctrl-C does: its ``with`` blocks unwind (no staged output,
    no temporary folder is left), it says so in one line and exits with 128 + the signal's number. A second
    such signal ends the process at once."""
    import signal

    from convkit.errors import Terminated

    def terminate(signum: int, frame: object) -> None:
        signal.signal(signum, signal.SIG_DFL)
        raise Terminated(signum)

    for number in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(number) is signal.SIG_DFL:
            signal.signal(number, terminate)


def _exit_without_teardown(code: int) -> None:
    """Ends a process that imported TensorFlow without the interpreter's teardown, which spends seconds in
    TensorFlow's destructors and changes nothing a command left behind: other threads are waited for, the
    exit handlers run (temporary folders, child processes), the streams are flushed, then the process ends."""
    import atexit
    import os
    import sys
    import threading

    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more to say on it
            pass
    os._exit(code)


if __name__ == "__main__":
    main()
