"""The training-curve picture: loss and accuracy per epoch for each training stage."""

from __future__ import annotations

from pathlib import Path


def plot_history(history: dict[str, list[dict[str, float]]], path: Path, title: str) -> Path:
    """Draws loss and accuracy (training and test) per epoch, one line per stage, into a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(11, 4.2))
    for stage, rows in history.items():
        if not rows:
            continue
        epochs = [row["epoch"] for row in rows]
        line = loss_axis.plot(epochs, [row["loss"] for row in rows], label=f"{stage} train")[0]
        loss_axis.plot(epochs, [row["val_loss"] for row in rows], "--", color=line.get_color(), label=f"{stage} test")
        accuracy_axis.plot(epochs, [row["accuracy"] for row in rows], color=line.get_color(), label=f"{stage} train")
        accuracy_axis.plot(
            epochs, [row["val_accuracy"] for row in rows], "--", color=line.get_color(), label=f"{stage} test"
        )
    loss_axis.set(title="loss", xlabel="epoch", ylabel="cross-entropy")
    accuracy_axis.set(title="accuracy", xlabel="epoch", ylabel="fraction correct", ylim=(0, 1.02))
    for axis in (loss_axis, accuracy_axis):
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
