"""A training job: `fit` in a background thread, progress the pages can read, stop, evaluation.

Nothing here knows about Streamlit: a page starts a job and redraws from `job.progress()`.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import keras
import numpy as np

from core.data import NUM_CLASSES, Dataset
from core.model import ModelConfig, build_model, input_shape_for, to_model_input
from core.store import new_run_id

# XLA plus several steps per call to the graph: ~1.8x faster per epoch on the CPU (see bench/).
FAST_COMPILE = {"jit_compile": True, "steps_per_execution": 32}
PLAIN_COMPILE = {"jit_compile": False, "steps_per_execution": 1}
EVALUATE_BATCH = 1024

# A job's states, in order; the last four end it.
WAITING = "waiting"
RUNNING = "running"
FINISHED = "finished"
STOPPED = "stopped"
DIVERGED = "diverged"
FAILED = "failed"
ENDED = (FINISHED, STOPPED, DIVERGED, FAILED)
# A uniform guess over 10 digits costs ln(10) = 2.3; a running loss past this has blown up (or is NaN).
DIVERGENCE_LOSS = 100.0
DIVERGED_MESSAGE = (
    "The loss diverged (it became NaN or exploded past 100): the learning rate is too high. Try a rate 10 times lower."
)


class JobError(Exception):
    """A job could not be started; the message is meant for the user."""


@dataclass
class Progress:
    """A snapshot of a job, safe to read from any thread."""

    run_id: str
    state: str = WAITING
    message: str = ""
    epochs: int = 0
    epoch: int = 0  # epochs finished
    batch: int = 0  # batches finished in the running epoch
    batches_per_epoch: int = 0
    samples_per_second: float = 0.0
    seconds_left: float | None = None
    elapsed: float = 0.0
    history: dict[str, list[float]] = field(default_factory=dict)
    test_loss: float | None = None
    test_accuracy: float | None = None
    compile_mode: str = ""

    @property
    def ended(self) -> bool:
        return self.state in ENDED

    @property
    def active(self) -> bool:
        return not self.ended

    @property
    def train_accuracy(self) -> float | None:
        values = self.history.get("accuracy")
        return values[-1] if values else None


@dataclass(frozen=True)
class TrainingData:
    """Model-ready arrays; `limit` keeps the first n training images (tests, quick demos)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @classmethod
    def from_dataset(cls, dataset: Dataset, config: ModelConfig, limit: int | None = None) -> TrainingData:
        shape = input_shape_for(config, dataset.image_shape)
        train = slice(0, limit)
        return cls(
            to_model_input(dataset.x_train[train], dataset.pixel_max, shape),
            dataset.y_train[train],
            to_model_input(dataset.x_test, dataset.pixel_max, shape),
            dataset.y_test,
        )


class TrainingJob:
    """Trains one model in a background thread and publishes its progress."""

    def __init__(
        self,
        config: ModelConfig,
        data: TrainingData,
        run_id: str | None = None,
        slots: threading.Semaphore | None = None,
        on_end: Callable[[TrainingJob], None] | None = None,
        compile_options: dict | None = None,
        dataset_name: str = "",
        callbacks: list[keras.callbacks.Callback] = (),
    ):
        self.config = config
        self.data = data
        self.dataset_name = dataset_name
        self.run_id = run_id or new_run_id()
        self.model = None
        self.final_state: str | None = None  # set when the job ends, just before `on_end` runs
        self._slots = slots
        self._on_end = on_end
        self._compile_options = FAST_COMPILE if compile_options is None else compile_options
        self._callbacks = list(callbacks)  # more Keras callbacks, beside the progress one (benchmarks)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._done = threading.Event()
        self._progress = Progress(self.run_id, epochs=config.epochs)
        self._thread = threading.Thread(target=self._run, name=f"train-{self.run_id}", daemon=True)

    # -- what the pages call --

    def start(self) -> TrainingJob:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the job to stop after the batch in flight; it keeps what it learned so far."""
        self._stop.set()

    def progress(self) -> Progress:
        with self._lock:
            snapshot = Progress(**vars(self._progress))
            snapshot.history = {key: list(values) for key, values in self._progress.history.items()}
        return snapshot

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    # -- the thread --

    def _update(self, **changes) -> None:
        with self._lock:
            for key, value in changes.items():
                setattr(self._progress, key, value)

    def _run(self) -> None:
        """Wait for a slot, train, evaluate, hand the result to `on_end`; only then publish the final state."""
        state, message, started = FAILED, "", time.perf_counter()
        try:
            if not self._wait_for_slot():
                state, message = STOPPED, "Stopped before it started."
            else:
                try:
                    started = time.perf_counter()
                    self._update(state=RUNNING, message="")
                    state = self._train()
                    if state == DIVERGED:
                        message = DIVERGED_MESSAGE
                    elif self._progress.epoch > 0:
                        self._update(message="Evaluating on the test set...")
                        self._evaluate()
                finally:
                    if self._slots is not None:
                        self._slots.release()
        except Exception as error:  # the page shows the message; the thread must not die silently
            state, message = FAILED, f"Training failed: {error}"
        self.final_state = state
        self._update(elapsed=time.perf_counter() - started, seconds_left=None, message="Saving the run...")
        if self._on_end is not None:
            try:
                self._on_end(self)
            except Exception as error:
                message = f"{message} The run could not be saved: {error}".strip()
        self._update(state=state, message=message)
        self._done.set()

    def _wait_for_slot(self) -> bool:
        """Take a training slot, waiting while every one is busy; False if stopped meanwhile."""
        if self._slots is None or self._slots.acquire(blocking=False):
            return True
        self._update(message="Waiting for a free training slot: every CPU core is training another run.")
        while not self._slots.acquire(timeout=0.5):
            if self._stop.is_set():
                return False
        return True

    def _train(self) -> str:
        """Fit with the fast compile options, falling back to plain ones if they fail before the first epoch."""
        try:
            return self._fit(self._compile_options)
        except Exception:
            if self._compile_options == PLAIN_COMPILE or self._progress.epoch > 0:
                raise
            return self._fit(PLAIN_COMPILE)  # XLA or multi-step execution does not work here

    def _fit(self, compile_options: dict) -> str:
        """Build the model and fit it; returns how the fit ended."""
        config = self.config
        self.model = build_model(config, self.data.x_train.shape[1:], NUM_CLASSES, compile_options)
        samples = len(self.data.x_train)
        train_samples = samples - int(samples * config.validation_split)
        self._update(
            compile_mode="XLA" if compile_options.get("jit_compile") else "plain",
            batches_per_epoch=math.ceil(train_samples / config.batch_size),
        )
        callback = ProgressCallback(self)
        self.model.fit(
            self.data.x_train,
            self.data.y_train,
            epochs=config.epochs,
            batch_size=config.batch_size,
            validation_split=config.validation_split,
            callbacks=[callback, *self._callbacks],
            verbose=0,
        )
        if callback.diverged:
            return DIVERGED
        return FINISHED if self._progress.epoch >= config.epochs else STOPPED

    def _evaluate(self) -> None:
        loss, accuracy = self.model.evaluate(self.data.x_test, self.data.y_test, batch_size=EVALUATE_BATCH, verbose=0)
        self._update(test_loss=float(loss), test_accuracy=float(accuracy))


class ProgressCallback(keras.callbacks.Callback):
    """Feeds a job's progress after each step of execution and honours its stop flag."""

    def __init__(self, job: TrainingJob):
        super().__init__()
        self.job = job
        self.epoch_start = time.perf_counter()
        self.diverged = False

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_start = time.perf_counter()
        self.job._update(batch=0)

    def on_train_batch_end(self, batch, logs=None):
        job = self.job
        loss = float((logs or {}).get("loss", 0.0))
        if not math.isfinite(loss) or loss > DIVERGENCE_LOSS:
            self.diverged = True
            self.model.stop_training = True
            return
        seconds = time.perf_counter() - self.epoch_start
        with job._lock:
            progress = job._progress
            done = min(batch + 1, progress.batches_per_epoch)  # with steps_per_execution, Keras may overshoot
            batches_left = (
                progress.batches_per_epoch - done + (progress.epochs - progress.epoch - 1) * progress.batches_per_epoch
            )
            progress.batch = done
            progress.samples_per_second = done * job.config.batch_size / seconds if seconds > 0 else 0.0
            progress.seconds_left = seconds / done * batches_left
        if job._stop.is_set():
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        job = self.job
        if self.diverged:
            return
        with job._lock:
            for key, value in (logs or {}).items():
                job._progress.history.setdefault(key, []).append(float(value))
            job._progress.epoch = epoch + 1
        if job._stop.is_set():
            self.model.stop_training = True


class JobBoard:
    """All jobs of this server: at most one active job per owner, at most `max_running` training at once."""

    def __init__(
        self, on_end: Callable[[TrainingJob], None] | None = None, max_running: int | None = None, keep: int = 16
    ):
        self.keep = keep  # ended jobs kept in memory (their runs are in the store)
        self.max_running = max_running or os.cpu_count() or 1
        self._slots = threading.BoundedSemaphore(self.max_running)
        self._on_end = on_end
        self._jobs: dict[str, TrainingJob] = {}
        self._owners: dict[str, str] = {}
        self._lock = threading.Lock()

    def start(self, owner: str, config: ModelConfig, data: TrainingData, **options) -> TrainingJob:
        with self._lock:
            current = self._jobs.get(self._owners.get(owner, ""))
            if current is not None and current.progress().active:
                raise JobError(
                    f"Run {current.run_id} is still training: stop it or wait for it before starting another."
                )
            job = TrainingJob(config, data, slots=self._slots, on_end=self._on_end, **options)
            self._forget_old_jobs()
            self._jobs[job.run_id] = job
            self._owners[owner] = job.run_id
        return job.start()

    def get(self, run_id: str | None) -> TrainingJob | None:
        with self._lock:
            return self._jobs.get(run_id or "")

    def _forget_old_jobs(self) -> None:
        ended = [run_id for run_id, job in self._jobs.items() if job.progress().ended]
        for run_id in ended[: max(0, len(ended) - self.keep)]:
            del self._jobs[run_id]
