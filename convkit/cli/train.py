"""`convkit train`: the save-and-restore tutorial, with every artifact it makes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from convkit.cli._common import JsonOption, VerboseOption, handle_errors, print_json, stdout_console
from convkit.cli._progress import StageDisplay
from convkit.errors import UsageError


def register(app: typer.Typer) -> None:
    app.command("train")(train)


@handle_errors
def train(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the tutorial's files (created).", metavar="DIR")],
    keras: Annotated[int, typer.Option("--keras", help="Keras generation: 3 (Keras 3, default) or 2 (tf_keras, the tutorial's own calls).", metavar="[3|2]")] = 3,
    epochs_per_stage: Annotated[
        str,
        typer.Option(
            "--epochs-per-stage",
            metavar="N1,N2,N3",
            help="Epochs of the per-epoch checkpoint run, the every-5-epochs run and the whole-model run.",
        ),
    ] = "10,50,5",
    seed: Annotated[int, typer.Option("--seed", help="Random seed; equal seeds give identical weights.", metavar="N")] = 0,
    data: Annotated[
        Path | None,
        typer.Option("--data", metavar="FILE",
                     help="MNIST in Keras mnist.npz layout (default: ~/.keras/datasets/mnist.npz, else the bundled digits)."),
    ] = None,
    json_output: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Train the tutorial's MNIST model and write every file the tutorial makes.

    Under OUT: training_1/cp.ckpt (every epoch), training_2/cp-{epoch:04d}.ckpt
    (every 5 epochs), checkpoints/my_checkpoint, saved_model/my_model, my_model.h5,
    my_model.keras, training_curve.png and train.json.
    """
    if keras not in (2, 3):
        raise UsageError(f"--keras must be 2 or 3, not {keras}")
    stages = _parse_epochs(epochs_per_stage)
    from convkit._tf import quiet_tensorflow
    from convkit.train import run_tutorial

    quiet_tensorflow()
    with StageDisplay() as display:
        display.begin("importing TensorFlow")
        report = run_tutorial(out, keras=keras, epochs_per_stage=stages, seed=seed, data=data,
                              on_event=_Progress(display))
    if json_output:
        print_json(report.to_dict())
        return
    _print_summary(report)


def _parse_epochs(text: str) -> tuple[int, int, int]:
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or min(values) < 1 or values[1] < 5:
        raise UsageError(
            f"--epochs-per-stage takes three positive epoch counts like 10,50,5 (the second at least 5), not {text!r}"
        )
    return values[0], values[1], values[2]


class _Progress:
    """Per-epoch and per-stage lines on stderr, the current stage under them."""

    def __init__(self, display: StageDisplay) -> None:
        self.display = display
        self.console = display
        self.stage = ""

    def __call__(self, kind: str, fields: dict[str, Any]) -> None:
        if kind == "stage":
            self.stage = str(fields["stage"])
            self.console.print(f"[bold]{fields['stage']}[/]: {fields['description']}")
            self._show(f"{self.stage}: training")
        elif kind == "epoch":
            self._show(f"{self.stage}: epoch {fields['epoch']}/{fields['epochs']}")
            self.console.print(
                f"  epoch {fields['epoch']:>3}/{fields['epochs']}  loss {fields['loss']:.4f}  "
                f"accuracy {fields['accuracy']:.3f}  test loss {fields['val_loss']:.4f}  "
                f"test accuracy {fields['val_accuracy']:.3f}",
                highlight=False,
            )
        elif kind == "saved":
            self.console.print(f"  saved {fields['path']}", highlight=False)
        elif kind == "evaluation":
            self.console.print(f"  {fields['source']}: accuracy {100 * fields['accuracy']:.1f}%", highlight=False)

    def _show(self, stage: str) -> None:
        # The spinner only: in a log the lines above already say where the run is.
        if self.display.live:
            self.display(stage)


def _print_summary(report: Any) -> None:
    from rich.table import Table

    table = Table(title=f"convkit train: Keras {report.keras}, seed {report.seed}, data {report.data_source}")
    table.add_column("model")
    table.add_column("accuracy", justify="right")
    table.add_column("same predictions as trained model", justify="center")
    table.add_column("max |diff| of logits", justify="right")
    for evaluation in report.evaluations:
        same = {True: "yes", False: "NO", None: ""}[evaluation.same_predictions]
        diff = "" if evaluation.max_abs_diff is None else f"{evaluation.max_abs_diff:.2e}"
        table.add_row(evaluation.source, f"{100 * evaluation.accuracy:.1f}%", same, diff)
    console = stdout_console()
    console.print(table)
    console.print(f"{len(report.artifacts)} files under {report.out} in {report.seconds:.1f} s; curve: training_curve.png")
