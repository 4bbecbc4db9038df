"""A training run as plain data: its state, its result, live progress, and what crosses to and from a worker.

No TensorFlow here: the web server, the store and the workers all share these types.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from core.config import ModelConfig


class RunState(StrEnum):
    """Where a run stands. The first two are live; the others end a run."""

    WAITING = "waiting"
    RUNNING = "running"
    FINISHED = "finished"
    STOPPED = "stopped"
    DIVERGED = "diverged"
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # its worker, the cluster or the machine was lost: its epochs are kept
    UPLOADED = "uploaded"  # a saved run that came from a file, not from training

    @property
    def ended(self) -> bool:
        return self not in (RunState.WAITING, RunState.RUNNING)

    @property
    def kept(self) -> bool:
        """Whether a run that ends this way is saved: it learned something and did not blow up."""
        return self in (RunState.FINISHED, RunState.STOPPED)

    @property
    def failed(self) -> bool:
        return self in (RunState.DIVERGED, RunState.FAILED, RunState.INTERRUPTED)

    @property
    def continuable(self) -> bool:
        """Whether a run that ended this way can train on from its last epoch."""
        return self in (RunState.STOPPED, RunState.INTERRUPTED)


INTERRUPTED_MESSAGE = (
    "Its training worker stopped unexpectedly (killed, out of memory, or the cluster or machine went down). "
    "The epochs it finished are kept: Continue trains on from the last one."
)


@dataclass
class RunResult:
    """What a run has to show: per-epoch history and, once evaluated, test metrics and time taken."""

    history: dict[str, list[float]] = field(default_factory=dict)
    test_loss: float | None = None
    test_accuracy: float | None = None
    seconds: float = 0.0
    held_out: int = 0  # how many test digits the held-out curve (history's test_loss, test_accuracy) reads

    @property
    def epochs_done(self) -> int:
        return len(self.history.get("loss", []))

    @property
    def train_accuracy(self) -> float | None:
        """Training accuracy in the last epoch."""
        values = self.history.get("accuracy")
        return values[-1] if values else None


@dataclass
class Progress:
    """A snapshot of a run, plain enough to cross a process boundary (`to_dict` / `from_dict`)."""

    run_id: str
    state: RunState = RunState.WAITING
    message: str = ""
    epochs: int = 0
    batch: int = 0  # batches finished in the running epoch
    batches_per_epoch: int = 0
    samples_per_second: float = 0.0
    seconds_left: float | None = None
    compile_mode: str = ""
    worker: str = ""  # the process that trains it, "pid@host"
    result: RunResult = field(default_factory=RunResult)
    updated: float = 0.0  # when the worker last wrote it (seconds since the epoch): its heartbeat

    @property
    def epoch(self) -> int:
        """Epochs finished."""
        return self.result.epochs_done

    @property
    def ended(self) -> bool:
        return self.state.ended

    @property
    def active(self) -> bool:
        return not self.state.ended

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> Progress:
        result = dict(values["result"])
        result["history"] = {key: list(series) for key, series in result["history"].items()}  # msgpack gives tuples
        return cls(**{**values, "state": RunState(values["state"]), "result": RunResult(**result)})

    def copy(self) -> Progress:
        return Progress.from_dict(self.to_dict())


class Reporter(Protocol):
    """How a running fit talks to whoever watches it."""

    def publish(self, progress: Progress) -> None:
        """Receive the latest snapshot (called a few times a second at most)."""

    def stop_requested(self) -> bool:
        """Whether the watcher asked the run to stop."""


class LocalReporter:
    """A reporter in the same process: keeps the latest snapshot; `stop()` asks the fit to stop."""

    def __init__(self):
        self.latest: Progress | None = None
        self._stop = False

    def publish(self, progress: Progress) -> None:
        self.latest = progress.copy()

    def stop_requested(self) -> bool:
        return self._stop

    def stop(self) -> None:
        self._stop = True


@dataclass(frozen=True)
class TrainingRequest:
    """What a worker needs to train a run: small, so it crosses to another process cheaply."""

    run_id: str
    config: ModelConfig
    dataset_name: str
    limit: int | None = None  # train on the first n images only (quick demos, tests)
    base_run: str | None = None  # fine-tune this saved run (its layers and weights) instead of a new network
    store_root: str | None = None  # the run folder's store (the same path on every machine); None: keep nothing
    owner: str = ""  # who may stop or continue it (a hash, never shown)
    name: str = ""  # the owner's display name when it started (core.names), shown on the leaderboard
    sweep: str = ""  # the sweep it belongs to (core.sweeps), if any
    resume: bool = False  # continue the stored run `run_id` from its last epoch, optimizer state included
    class_digits: bool = False  # also train on the class's labelled digits (core.my_digits), oversampled


class Stopped(Exception):
    """A job was cancelled or ran out of its time: passes through every handler that turns errors into refusals."""


def first_line(error: BaseException) -> str:
    """An error's first line, short enough for a message box."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
