"""Training one model: `fit` with live progress, stop, TensorBoard logs and the weights after every epoch.

`run_training` is the whole recipe and runs wherever it is called: in a Dask worker for the pages (`train_run`,
see core.jobs), or in the calling process for benchmarks and tests (`train_model`). It talks to whoever watches
it through a `core.runs.Reporter`, two methods wide.
"""

from __future__ import annotations

import functools
import io
import math
import os
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from core.config import ModelConfig
from core.data import NUM_CLASSES, Dataset, load_dataset
from core.model import (
    build_model,
    compile_model,
    input_shape_for,
    loss_and_accuracy,
    model_from_bytes,
    model_input_shape,
    model_to_bytes,
    predict_probabilities,
    to_model_input,
)
from core.runs import LocalReporter, Progress, Reporter, RunState, TrainingOutcome, TrainingRequest, first_line

# Measured (bench/training_speed.py): XLA makes a dense network's epoch on the CPU faster but costs a few seconds
# of compiling first, so it pays off only on enough images x epochs; it makes a CNN 2.4-3.5x slower. Every
# fit runs 32 steps per call into the graph.
XLA = {"jit_compile": True, "steps_per_execution": 32}
NO_XLA = {"jit_compile": False, "steps_per_execution": 32}
XLA_MIN_SAMPLE_EPOCHS = 300_000  # the seed on all of MNIST: 60,000 images x 5 epochs
PLAIN_COMPILE = {"jit_compile": False, "steps_per_execution": 1}
PUBLISH_SECONDS = 0.25  # how often a running fit reports its progress and looks for a stop request
# A uniform guess over 10 digits costs ln(10) = 2.3; a running loss past this has blown up (or is NaN).
DIVERGENCE_LOSS = 100.0
DIVERGED_MESSAGE = (
    "The loss diverged (it became NaN or exploded past 100): the learning rate is too high. Try a rate 10 times lower."
)


@dataclass(frozen=True)
class TrainingData:
    """Model-ready arrays; `limit` keeps the first n training images."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @classmethod
    def from_dataset(
        cls, dataset: Dataset, config: ModelConfig, limit: int | None = None, input_shape: tuple | None = None
    ) -> TrainingData:
        shape = input_shape or input_shape_for(config, dataset.image_shape)
        train = slice(0, limit)
        return cls(
            to_model_input(dataset.x_train[train], dataset.pixel_max, shape),
            dataset.y_train[train],
            to_model_input(dataset.x_test, dataset.pixel_max, shape),
            dataset.y_test,
        )


# ---- The recipe ------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def cached_dataset(name: str) -> Dataset:
    """Datasets load once per process (a worker trains many runs)."""
    return load_dataset(name)


def run_training(request: TrainingRequest, reporter: Reporter, callbacks=(), keep_model: bool = False):
    """Train, evaluate and package one run; never raises (a failure is a FAILED outcome with its message).

    The reporter only ever sees a live run (WAITING or RUNNING): the final state travels in the outcome, so that
    whoever watches says "finished" only once the run is saved. Returns the TrainingOutcome, and with
    `keep_model` also the Keras model: (outcome, model).
    """
    progress = Progress(request.run_id, epochs=request.config.epochs, worker=f"{os.getpid()}@{os.uname().nodename}")
    outcome, model, state = TrainingOutcome(progress), None, RunState.STOPPED
    started = time.perf_counter()
    try:
        if reporter.stop_requested():
            progress.message = "Stopped before it started."
        else:
            model, state = _train_and_evaluate(request, progress, outcome, reporter, callbacks)
    except Exception as error:  # shown to the user as the run's message; the worker must stay up
        state, progress.message = RunState.FAILED, f"Training failed: {first_line(error)}"
    if not (state.kept and progress.epoch > 0):
        outcome.epoch_weights, outcome.model_bytes = [], None
    progress.state = state
    progress.result.seconds = round(time.perf_counter() - started, 2)
    progress.batch, progress.seconds_left = progress.batches_per_epoch if progress.epoch else 0, None
    return (outcome, model) if keep_model else outcome


def _train_and_evaluate(request: TrainingRequest, progress: Progress, outcome: TrainingOutcome, reporter, callbacks):
    """Load the data, fit, evaluate on the test set and package the model; returns (model, how the fit ended)."""
    progress.state, progress.message = RunState.RUNNING, "Loading the data..."
    reporter.publish(progress)
    base = model_from_bytes(request.base_model) if request.base_model else None
    shape = model_input_shape(base) if base is not None else None
    data = TrainingData.from_dataset(cached_dataset(request.dataset_name), request.config, request.limit, shape)
    progress.message = ""
    with tempfile.TemporaryDirectory(prefix="digitlab-logs-") as log_dir:
        model, state, outcome.epoch_weights = _fit(request.config, data, progress, reporter, callbacks, log_dir, base)
        outcome.tensorboard_logs = zip_folder(Path(log_dir))
    if state is RunState.DIVERGED:
        progress.message = DIVERGED_MESSAGE
        return model, state
    if progress.epoch > 0:
        progress.message = "Evaluating on the test set..."
        reporter.publish(progress)
        probabilities = predict_probabilities(model, data.x_test)  # no compile step: ~4x faster than evaluate()
        progress.result.test_loss, progress.result.test_accuracy = loss_and_accuracy(probabilities, data.y_test)
        progress.message = ""
        outcome.model_bytes = model_to_bytes(model)
    return model, state


def train_model(config: ModelConfig, dataset_name: str, limit: int | None = None, callbacks=()):
    """Train in this process with the jobs' own options and return the Keras model (benchmarks, tests)."""
    request = TrainingRequest("local", config, dataset_name, limit)
    outcome, model = run_training(request, LocalReporter(), callbacks, keep_model=True)
    if outcome.progress.state.failed:
        raise RuntimeError(outcome.progress.message)
    return model


def _fit(config: ModelConfig, data: TrainingData, progress: Progress, reporter: Reporter, callbacks, log_dir, base):
    """Fit with the family's fast compile options, falling back to plain ones if they fail before the first epoch.
    `base` is a model to fine-tune (its own layers and weights), or None for a new network from the config."""
    fast = PLAIN_COMPILE if base is not None else compile_options_for(config, len(data.x_train))
    try:
        return _fit_with(config, data, progress, reporter, callbacks, log_dir, fast, base)
    except Exception:
        if progress.epoch > 0 or fast == PLAIN_COMPILE:
            raise
        return _fit_with(config, data, progress, reporter, callbacks, log_dir, PLAIN_COMPILE, base)


def _fit_with(config, data, progress, reporter, callbacks, log_dir, compile_options, base):
    samples = len(data.x_train)
    progress.batches_per_epoch = math.ceil((samples - int(samples * config.validation_split)) / config.batch_size)
    progress.compile_mode = compile_label(compile_options)
    if base is not None:
        model = compile_model(base, config, compile_options, progress.batches_per_epoch)
    else:
        model = build_model(config, data.x_train.shape[1:], NUM_CLASSES, compile_options, progress.batches_per_epoch)
    watch = ProgressCallback(progress, reporter, config.batch_size)
    snapshots = EpochSnapshots()
    tensorboard = keras.callbacks.TensorBoard(log_dir, histogram_freq=1, write_graph=False)
    model.fit(
        data.x_train,
        data.y_train,
        epochs=config.epochs,
        batch_size=config.batch_size,
        validation_split=config.validation_split,
        callbacks=[watch, snapshots, tensorboard, *callbacks],
        verbose=0,
    )
    if watch.diverged:
        return model, RunState.DIVERGED, []
    state = RunState.FINISHED if progress.epoch >= config.epochs else RunState.STOPPED
    return model, state, snapshots.weights


def compile_options_for(config: ModelConfig, samples: int) -> dict:
    """XLA for a dense network trained long enough to repay its compile time; no XLA otherwise."""
    worth_it = config.family == "dense" and samples * config.epochs >= XLA_MIN_SAMPLE_EPOCHS
    return XLA if worth_it else NO_XLA


def compile_label(options: dict) -> str:
    """How a run is compiled, as the page says it."""
    if options == PLAIN_COMPILE:
        return "plain fit"
    return f"{'XLA' if options['jit_compile'] else 'no XLA'}, {options['steps_per_execution']} steps per call"


class ProgressCallback(keras.callbacks.Callback):
    """Keeps a run's Progress up to date from Keras' hooks, publishes it, and stops the fit when asked."""

    def __init__(self, progress: Progress, reporter: Reporter, batch_size: int):
        super().__init__()
        self.progress = progress
        self.reporter = reporter
        self.batch_size = batch_size
        self.diverged = False
        self.epoch_start = self.last_publish = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_start = time.perf_counter()
        self.progress.batch = 0

    def on_train_batch_end(self, batch, logs=None):
        loss = float((logs or {}).get("loss", 0.0))
        if not math.isfinite(loss) or loss > DIVERGENCE_LOSS:
            self.diverged = True
            self.model.stop_training = True
            return
        progress = self.progress
        seconds = time.perf_counter() - self.epoch_start
        done = min(batch + 1, progress.batches_per_epoch)  # with steps_per_execution, Keras may overshoot
        batches_left = (
            progress.batches_per_epoch - done + (progress.epochs - progress.epoch - 1) * (progress.batches_per_epoch)
        )
        progress.batch = done
        progress.samples_per_second = done * self.batch_size / seconds if seconds > 0 else 0.0
        progress.seconds_left = seconds / done * batches_left
        if time.perf_counter() - self.last_publish >= PUBLISH_SECONDS:
            self._publish_and_listen()

    def on_epoch_end(self, epoch, logs=None):
        if self.diverged:
            return
        for key, value in (logs or {}).items():
            self.progress.result.history.setdefault(key, []).append(float(value))
        self._publish_and_listen()

    def _publish_and_listen(self) -> None:
        self.last_publish = time.perf_counter()
        self.reporter.publish(self.progress)
        if self.reporter.stop_requested():
            self.model.stop_training = True


class EpochSnapshots(keras.callbacks.Callback):
    """The model's weights after every epoch (the Inside page replays them)."""

    def __init__(self):
        super().__init__()
        self.weights: list[list[np.ndarray]] = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())


# ---- Packaging -------------------------------------------------------------------------------------------


def zip_folder(folder: Path) -> bytes | None:
    """Every file under `folder` in one zip (None when it is empty)."""
    files = sorted(path for path in folder.rglob("*") if path.is_file())
    if not files:
        return None
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()
