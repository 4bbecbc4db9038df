"""How robust a run is: its accuracy on the first test digits under each of MNIST-C's corruptions (core.corruptions),
beside its accuracy on the same digits clean. Measured on the cluster (core.tasks.report_robustness) and kept in the
run's record, where the leaderboard finds it; a run that trains again loses it (it no longer describes the model).
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from core.corruptions import CORRUPTIONS, REPORT_DIGITS, corrupted_test_set
from core.data import image_format_of
from core.model import model_input_shape, predict_probabilities, to_model_input
from core.state import ROBUSTNESS_LOCK
from core.store import LISTED, RunRecord, RunStore

MNIST_SHAPES = ((784,), (28, 28), (28, 28, 1))
MEASURING_ALREADY = "This run's robustness is being measured already; its report appears here when it is done."


class RobustnessError(Exception):
    """The run cannot be measured; the message says why, for the user."""


@dataclass(frozen=True)
class RobustnessReport:
    clean: float  # accuracy on the same digits, uncorrupted
    corruptions: dict[str, float]  # corruption name -> accuracy
    digits: int

    @property
    def mean(self) -> float:
        return float(np.mean(list(self.corruptions.values())))

    def to_dict(self) -> dict:
        return {"clean": self.clean, "corruptions": self.corruptions, "digits": self.digits, "mean": self.mean}

    @classmethod
    def from_dict(cls, values: dict) -> RobustnessReport | None:
        """The report kept in a record, or None when it holds none (or one from an older set of corruptions)."""
        if not values or set(values.get("corruptions", {})) != set(CORRUPTIONS):
            return None
        return cls(
            float(values["clean"]),
            {name: float(values["corruptions"][name]) for name in CORRUPTIONS},
            int(values["digits"]),
        )


def report_of(record: RunRecord) -> RobustnessReport | None:
    return RobustnessReport.from_dict(record.robustness)


def why_not(record: RunRecord) -> str | None:
    """Why this run cannot be measured (in words), or None when it can."""
    if record.state not in LISTED:
        return "A run is measured once it has ended."
    if image_format_of(record.dataset) != "mnist":
        return f"The corruptions are MNIST's, on 28x28 digits; this run reads {record.dataset} images."
    return None


def measure(
    model, progress: Callable[[float, str], None] | None = None, count: int = REPORT_DIGITS
) -> RobustnessReport:
    """The model's accuracy on MNIST's first `count` test digits, clean and under each corruption."""
    from core.data import load_dataset

    shape = model_input_shape(model)
    if shape not in MNIST_SHAPES:
        raise RobustnessError(f"The corruptions are of 28x28 digits; this model reads inputs of shape {shape}.")
    mnist = load_dataset("mnist")
    labels = mnist.y_test[:count]

    def accuracy(images: np.ndarray) -> float:
        answers = predict_probabilities(model, to_model_input(images, 255, shape)).argmax(axis=1)
        return float(np.mean(answers == labels))

    if progress is not None:
        progress(0.0, f"Corrupting {count:,} test digits 15 ways (once per worker)...")
    corrupted = corrupted_test_set(count)
    clean, accuracies = accuracy(mnist.x_test[:count]), {}
    for done, (name, images) in enumerate(corrupted.items()):
        if progress is not None:
            progress((done + 1) / (len(CORRUPTIONS) + 1), f"Reading the digits under {CORRUPTIONS[name].title.lower()}")
        accuracies[name] = accuracy(images)
    return RobustnessReport(clean, accuracies, count)


def measure_run(store: RunStore, run_id: str, progress=None, count: int = REPORT_DIGITS) -> RobustnessReport:
    """Measure a saved run and keep the report in its record; RobustnessError when it cannot be measured now, or
    while another worker measures it (a lock on its folder, released if that worker dies)."""
    record = store.get(run_id)
    if record is None:
        raise RobustnessError("This run is no longer in the model folder.")
    if (reason := why_not(record)) is not None:
        raise RobustnessError(reason)
    lock = store.root / run_id / ROBUSTNESS_LOCK
    with open(lock, "a") as held:
        try:
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RobustnessError(MEASURING_ALREADY) from None
        report = measure(store.load_model(run_id), progress, count)
        if not store.update(run_id, robustness=report.to_dict()):
            raise RobustnessError("The run started training again while it was measured: measure it once it ends.")
    return report
