"""The reference MNIST model of the save-and-restore tutorial, its data and its training run."""

from __future__ import annotations

from convkit.train.data import Mnist, load_mnist
from convkit.train.tutorial import TrainReport, run_tutorial

__all__ = ["Mnist", "TrainReport", "load_mnist", "run_tutorial"]
