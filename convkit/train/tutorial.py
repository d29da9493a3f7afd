"""The "save and restore models" tutorial, run end to end with either Keras generation.

Stages, with the tutorial's file names under the output folder:

1. ``training_1/cp.ckpt``: weights saved every epoch of a 10-epoch run; a new
   model restores them and is evaluated.
2. ``training_2/cp-{epoch:04d}.ckpt``: weights before training and every 5
   epochs of a 50-epoch run; a new model restores the latest.
3. ``checkpoints/my_checkpoint``: a manual save of stage 2's weights.
4. Whole model: a new model trained 5 epochs, saved as ``saved_model/my_model``,
   ``my_model.h5`` (with optimizer state) and ``my_model.keras``; each file is
   loaded back with the stock APIs and evaluated.

With ``tf_keras`` (generation 2) every file comes from the tutorial's own calls.
With Keras 3 the same names and formats come from convkit's TF-checkpoint
writer, ``model.export`` and the ``.h5``/``.keras`` savers.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from convkit.train.data import load_mnist
from convkit.train.model import create_model, keras_module, quiet_tensorflow, seed_everything

DEFAULT_EPOCHS = (10, 50, 5)
SAVE_EVERY = 5
BATCH_SIZE = 32

Event = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True)
class Evaluation:
    """Accuracy of one model on the test digits, and how its predictions compare with the trained model's."""

    name: str
    source: str
    accuracy: float
    loss: float | None = None
    same_predictions: bool | None = None
    max_abs_diff: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "accuracy": self.accuracy,
            "loss": self.loss,
            "same_predictions": self.same_predictions,
            "max_abs_diff": self.max_abs_diff,
        }


@dataclass(frozen=True)
class TrainReport:
    """What ``convkit train`` did: settings, per-epoch history, evaluations and files."""

    out: str
    keras: int
    seed: int
    epochs_per_stage: tuple[int, int, int]
    data_source: str
    history: dict[str, list[dict[str, float]]]
    evaluations: list[Evaluation]
    artifacts: list[dict[str, Any]]
    seconds: float
    versions: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The ``train --json`` document (docs/json.md); keys are spelled out so renames stay internal."""
        return {
            "out": self.out,
            "keras": self.keras,
            "seed": self.seed,
            "epochs_per_stage": list(self.epochs_per_stage),
            "data_source": self.data_source,
            "history": {stage: [dict(row) for row in rows] for stage, rows in self.history.items()},
            "evaluations": [evaluation.to_dict() for evaluation in self.evaluations],
            "artifacts": [dict(artifact) for artifact in self.artifacts],
            "seconds": self.seconds,
            "versions": dict(self.versions),
        }

    def evaluation(self, name: str) -> Evaluation:
        return next(e for e in self.evaluations if e.name == name)


def run_tutorial(
    out: str | Path,
    keras: int = 3,
    epochs_per_stage: tuple[int, int, int] = DEFAULT_EPOCHS,
    seed: int = 0,
    data: str | Path | None = None,
    on_event: Event | None = None,
) -> TrainReport:
    """Trains the tutorial's model and writes every artifact under ``out``.

    Args:
        out: output folder (created; existing tutorial files in it are replaced).
        keras: 2 for ``tf_keras`` (the tutorial's own calls), 3 for Keras 3 (default).
        epochs_per_stage: epochs of the per-epoch checkpoint run, the every-5-epochs
            run and the whole-model run (default 10, 50, 5).
        seed: random seed; two runs with the same seed write identical weights.
        data: a Keras ``mnist.npz``-style file; default: Keras cache, else the bundled digits.
        on_event: called as ``on_event(kind, fields)`` for progress (``epoch``,
            ``stage``, ``evaluation``, ``saved``).

    Returns:
        The report that ``--json`` prints and ``train.json`` holds.
    """
    quiet_tensorflow()
    started = time.perf_counter()
    emit = on_event or (lambda kind, fields: None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    mnist = load_mnist(data)
    run = _Run(out, keras, seed, mnist, emit)
    stage1, stage2, stage3 = epochs_per_stage

    run.stage("untrained", "a new, untrained model")
    model = run.new_model()
    run.evaluate("untrained", model, "untrained model")

    run.stage("training_1", f"{stage1} epochs, weights saved every epoch to training_1/cp.ckpt")
    model = run.new_model()
    run.fit("training_1", model, stage1, run.per_epoch_checkpoints(out / "training_1" / "cp.ckpt"))
    run.evaluate("training_1_trained", model, "model after training_1")
    restored = run.new_model()
    run.evaluate("training_1_fresh", restored, "new model before restoring")
    run.load_weights(restored, out / "training_1" / "cp.ckpt")
    run.evaluate("training_1", restored, "restored from training_1/cp.ckpt", reference=model)

    run.stage("training_2", f"{stage2} epochs, weights saved every {SAVE_EVERY} epochs to training_2/cp-{{epoch:04d}}.ckpt")
    model = run.new_model()
    periodic = str(out / "training_2" / "cp-{epoch:04d}.ckpt")
    run.save_weights(model, periodic.format(epoch=0))
    run.fit("training_2", model, stage2, run.periodic_checkpoints(periodic, SAVE_EVERY))
    latest = run.latest_checkpoint(out / "training_2")
    restored = run.new_model()
    run.load_weights(restored, latest)
    run.evaluate("training_2", restored, f"restored from training_2/{Path(latest).name}", reference=model)

    run.stage("checkpoints", "manual save of training_2's weights to checkpoints/my_checkpoint")
    run.save_weights(model, out / "checkpoints" / "my_checkpoint")
    restored = run.new_model()
    run.load_weights(restored, out / "checkpoints" / "my_checkpoint")
    run.evaluate("my_checkpoint", restored, "restored from checkpoints/my_checkpoint", reference=model)

    run.stage("whole_model", f"a new model trained {stage3} epochs, saved whole")
    model = run.new_model()
    run.fit("whole_model", model, stage3, [])
    run.evaluate("whole_model_trained", model, "model saved whole")
    run.save_whole(model)
    run.evaluate_saved_model(model)
    run.evaluate("h5", run.load_model(out / "my_model.h5"), "loaded from my_model.h5", reference=model)
    run.evaluate("keras", run.load_model(out / "my_model.keras"), "loaded from my_model.keras", reference=model)

    from convkit.train.plot import plot_history

    plot_history(run.history, out / "training_curve.png", title=f"convkit train (Keras {keras}, seed {seed})")
    report = TrainReport(
        out=str(out),
        keras=keras,
        seed=seed,
        epochs_per_stage=(stage1, stage2, stage3),
        data_source=str(mnist.source),
        history=run.history,
        evaluations=run.evaluations,
        artifacts=_artifacts(out),
        seconds=round(time.perf_counter() - started, 2),
        versions=_versions(keras),
    )
    (out / "train.json").write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    return report


class _Run:
    """State shared by the tutorial's stages: data, seed, history, evaluations."""

    def __init__(self, out: Path, generation: int, seed: int, mnist: Any, emit: Event) -> None:
        self.out = out
        self.generation = generation
        self.seed = seed
        self.mnist = mnist
        self.emit = emit
        self.keras = keras_module(generation)
        self.history: dict[str, list[dict[str, float]]] = {}
        self.evaluations: list[Evaluation] = []
        self._models_made = 0
        seed_everything(generation, seed)

    def stage(self, name: str, description: str) -> None:
        self.emit("stage", {"stage": name, "description": description})

    def new_model(self) -> Any:
        # A fresh session keeps layer names stable ("dense", "dense_1") in every file, and
        # reseeding per model keeps every stage reproducible on its own.
        self._models_made += 1
        self.keras.backend.clear_session()
        self.keras.utils.set_random_seed(self.seed + self._models_made)
        return create_model(self.generation)

    def fit(self, stage: str, model: Any, epochs: int, callbacks: list[Any]) -> None:
        rows: list[dict[str, float]] = []
        emit = self.emit
        callback_base: Any = self.keras.callbacks.Callback

        class EpochLog(callback_base):
            def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
                row = {"epoch": epoch + 1, **{key: float(value) for key, value in (logs or {}).items()}}
                rows.append(row)
                emit("epoch", {"stage": stage, "epochs": epochs, **row})

        model.fit(
            self.mnist.x_train,
            self.mnist.y_train,
            epochs=epochs,
            batch_size=BATCH_SIZE,
            validation_data=(self.mnist.x_test, self.mnist.y_test),
            callbacks=[*callbacks, EpochLog()],
            verbose=0,
        )
        self.history[stage] = rows

    # -- saving, in the tutorial's calls (tf_keras) or convkit's equivalents (Keras 3)

    def per_epoch_checkpoints(self, prefix: Path) -> list[Any]:
        if self.generation == 2:
            return [self.keras.callbacks.ModelCheckpoint(filepath=str(prefix), save_weights_only=True, verbose=0)]
        from convkit.train.checkpoints import checkpoint_callback

        return [checkpoint_callback(str(prefix), every_epochs=1)]

    def periodic_checkpoints(self, pattern: str, every: int) -> list[Any]:
        if self.generation == 2:
            steps = int(np.ceil(len(self.mnist.x_train) / BATCH_SIZE))
            return [
                self.keras.callbacks.ModelCheckpoint(
                    filepath=pattern, save_weights_only=True, save_freq=every * steps, verbose=0
                )
            ]
        from convkit.train.checkpoints import checkpoint_callback

        return [checkpoint_callback(pattern, every_epochs=every)]

    def save_weights(self, model: Any, prefix: str | Path) -> None:
        if self.generation == 2:
            model.save_weights(str(prefix))
        else:
            from convkit.train.checkpoints import save_checkpoint

            save_checkpoint(model, prefix)
        self.emit("saved", {"path": str(prefix)})

    def load_weights(self, model: Any, prefix: str | Path) -> None:
        if self.generation == 2:
            model.load_weights(str(prefix)).expect_partial()
        else:
            from convkit.train.checkpoints import load_checkpoint

            load_checkpoint(model, prefix)

    def latest_checkpoint(self, folder: Path) -> str:
        import tensorflow as tf

        latest = tf.train.latest_checkpoint(str(folder))
        if latest is None:
            raise RuntimeError(f"{folder}: no checkpoint was written")
        return latest

    def save_whole(self, model: Any) -> None:
        saved_model = self.out / "saved_model" / "my_model"
        # .keras before .h5: Keras 3.15's HDF5 saver drops the optimizer from the model's compile config.
        model.save(str(self.out / "my_model.keras"))
        model.save(str(self.out / "my_model.h5"))
        if self.generation == 2:
            model.save(str(saved_model))  # tf_keras: a folder name means SavedModel
        else:
            model.export(str(saved_model), verbose=False)
        for path in (saved_model, self.out / "my_model.h5", self.out / "my_model.keras"):
            self.emit("saved", {"path": str(path)})

    def load_model(self, path: Path) -> Any:
        return self.keras.models.load_model(str(path))

    # -- evaluation

    def evaluate(self, name: str, model: Any, source: str, reference: Any = None) -> None:
        loss, accuracy = model.evaluate(self.mnist.x_test, self.mnist.y_test, verbose=0, batch_size=BATCH_SIZE)
        logits = model.predict(self.mnist.x_test, verbose=0, batch_size=BATCH_SIZE)
        self._record(name, source, logits, float(loss), reference)

    def evaluate_saved_model(self, reference: Any) -> None:
        import tensorflow as tf

        loaded = tf.saved_model.load(str(self.out / "saved_model" / "my_model"))
        serve = loaded.signatures["serving_default"]
        (input_name,) = serve.structured_input_signature[1].keys()
        outputs = serve(**{input_name: tf.constant(self.mnist.x_test)})
        (logits,) = outputs.values()
        self._record("saved_model", "loaded with tf.saved_model.load (serving_default)", logits.numpy(), None, reference)

    def _record(self, name: str, source: str, logits: np.ndarray, loss: float | None, reference: Any) -> None:
        accuracy = float(np.mean(np.argmax(logits, axis=1) == self.mnist.y_test))
        same, diff = None, None
        if reference is not None:
            expected = reference.predict(self.mnist.x_test, verbose=0, batch_size=BATCH_SIZE)
            diff = float(np.max(np.abs(expected - logits)))
            same = bool(np.array_equal(np.argmax(expected, axis=1), np.argmax(logits, axis=1)))
        evaluation = Evaluation(name, source, accuracy, loss, same, diff)
        self.evaluations.append(evaluation)
        self.emit("evaluation", evaluation.to_dict())


def _artifacts(out: Path) -> list[dict[str, Any]]:
    files = sorted(p for p in out.rglob("*") if p.is_file() and p.name != "train.json")
    return [{"path": str(p.relative_to(out)), "bytes": p.stat().st_size} for p in files]


def _versions(generation: int) -> dict[str, str]:
    import tensorflow as tf

    return {"tensorflow": tf.__version__, "keras": keras_module(generation).__version__}
