"""Training one model: `fit` with live progress, stop, TensorBoard logs, and a checkpoint after every epoch.

`run_training` is the whole recipe and runs wherever it is called: in a Dask worker for the pages (`train_run`,
see core.run_task), or in the calling process for benchmarks and tests (`train_model`). With a store in its request
it writes the run there itself as it trains (core.store.RunWriter): the record, live progress, each epoch's
weights and the model with its optimizer's state, so that a run outlives whoever started it and can be
continued from its last epoch exactly as if it had never stopped. It talks to whoever watches it through a
`core.runs.Reporter`, two methods wide.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import os
import time
from dataclasses import dataclass

import keras
import numpy as np

from core.adversarial import attacked_images, train_against_attacks
from core.config import ModelConfig
from core.data import NUM_CLASSES, Dataset, load_dataset
from core.model import (
    build_model,
    compile_model,
    input_shape_for,
    loss_and_accuracy,
    model_input_shape,
    predict_probabilities,
    to_model_input,
)
from core.my_digits import CLASS_DIGITS_SOURCE, MyDigitsStore, oversampled, training_share
from core.runs import LocalReporter, Progress, Reporter, RunState, TrainingRequest, first_line
from core.state import LOGS_FOLDER
from core.store import RunRecord, RunStore, RunWriter

# Measured (bench/training_speed.py): XLA makes a dense network's epoch on the CPU faster but costs a few seconds
# of compiling first, so it pays off only on enough images x epochs; it makes a CNN 2.4-3.5x slower. A new network
# runs 32 steps per call into the graph; fine-tuning, step mode and the learning-rate finder run one
# (PLAIN_COMPILE: Keras' own default), and a continued run keeps the options it was saved with.
XLA = {"jit_compile": True, "steps_per_execution": 32}
NO_XLA = {"jit_compile": False, "steps_per_execution": 32}
XLA_MIN_SAMPLE_EPOCHS = 300_000  # the seed on all of MNIST: 60,000 images x 5 epochs
PLAIN_COMPILE = {"jit_compile": False, "steps_per_execution": 1}
# The held-out curve: every epoch the model reads held-out digits it never trains on, so overfitting shows while it
# grows. The whole test set when the run trains on enough images to make that cheap (bench/training_speed.py times
# it: 39 ms a seed epoch on all of MNIST), else its first images, in proportion to the training images, never
# fewer than the minimum.
HELD_OUT_MIN = 2_000
HELD_OUT_SHARE = 6  # one held-out digit for every 6 trained on (MNIST's own 60,000 : 10,000)
ATTACKED_CURVE_DIGITS = 500  # adversarial training: held-out digits attacked by PGD after each epoch
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
    """Train and evaluate one run, writing it into `request.store_root` as it goes (when set); never raises (a
    failure is a FAILED run with its message). Returns the final Progress, and with `keep_model` also the Keras
    model: (progress, model). `request.resume` continues the stored run from its last epoch."""
    progress = Progress(request.run_id, epochs=request.config.epochs, worker=f"{os.getpid()}@{os.uname().nodename}")
    model, state, writer = None, RunState.STOPPED, None
    started = time.perf_counter()  # without a store (nothing continued): the run's whole time
    try:
        store = RunStore(request.store_root) if request.store_root else None
        if store is not None:
            writer = _open_run(store, request, progress)
            reporter = _Both(reporter, writer)
        if reporter.stop_requested():
            progress.message = "Stopped before it started."
        else:
            model, state = _train_and_evaluate(request, store, progress, reporter, writer, callbacks)
    except Exception as error:  # shown to the user as the run's message; the worker must stay up
        state, progress.message = RunState.FAILED, f"Training failed: {first_line(error)}"
    progress.state = state
    progress.result.seconds = writer.seconds() if writer else round(time.perf_counter() - started, 2)
    progress.batch, progress.seconds_left = progress.batches_per_epoch if progress.epoch else 0, None
    if writer is not None:
        try:
            writer.finish(progress, model)
        except OSError as error:  # a full disk, say: the run's last word cannot be written, and it says so
            progress.state, progress.message = RunState.FAILED, f"The run could not be saved: {first_line(error)}"
    return (progress, model) if keep_model else progress


def _open_run(store: RunStore, request: TrainingRequest, progress: Progress) -> RunWriter:
    """The run's folder in the store, new, or the stored run to continue (its epochs so far in `progress`)."""
    if request.resume:  # the server checked that it is stopped or interrupted (its worker silent)
        record = store.get(request.run_id)
        if record is None or record.state in (RunState.FINISHED, RunState.UPLOADED):
            raise ValueError(f"run {request.run_id} has no stopped or interrupted training to continue")
        progress.result = dataclasses.replace(record.result, test_loss=None, test_accuracy=None)
    else:
        source = f"fine-tuned from {request.base_run}" if request.base_run else "trained"
        record = RunRecord(
            request.run_id,
            request.dataset_name,
            dataclasses.asdict(request.config),
            RunState.RUNNING,
            owner=request.owner,
            source=source,
            name=request.name,
            sweep=request.sweep,
        )
    progress.state, progress.message = RunState.RUNNING, "Loading the data..."
    return RunWriter(store, record).start(progress)


class _Both:
    """A reporter that also writes every snapshot into the run's folder."""

    def __init__(self, reporter: Reporter, writer: RunWriter):
        self.reporter, self.writer = reporter, writer

    def publish(self, progress: Progress) -> None:
        self.writer.publish(progress)
        self.reporter.publish(progress)

    def stop_requested(self) -> bool:
        return self.reporter.stop_requested()


def _train_and_evaluate(request, store, progress: Progress, reporter: Reporter, writer, callbacks):
    """Load the data, fit, evaluate on the test set; returns (model, how the fit ended)."""
    progress.state, progress.message = RunState.RUNNING, "Loading the data..."
    reporter.publish(progress)
    if request.resume:
        base = store.load_model(request.run_id, compile=True)  # its weights and its optimizer's state
    elif request.base_run:
        base = store.load_model(request.base_run)
    else:
        base = None
    shape = model_input_shape(base) if base is not None else None
    data = TrainingData.from_dataset(cached_dataset(request.dataset_name), request.config, request.limit, shape)
    if request.class_digits or (request.resume and writer is not None and CLASS_DIGITS_SOURCE in writer.record.source):
        data = with_class_digits(data, request, writer)
    if writer is not None:
        writer.record.train_samples = len(data.x_train)
    progress.message = ""
    with _log_folder(writer) as log_dir:
        model, state = _fit(request, data, progress, reporter, writer, callbacks, log_dir, base)
    if state is RunState.DIVERGED:
        progress.message = DIVERGED_MESSAGE
        return model, state
    if progress.epoch > 0:
        progress.message = "Evaluating on the test set..."
        reporter.publish(progress)
        probabilities = predict_probabilities(model, data.x_test)  # no compile step: ~4x faster than evaluate()
        progress.result.test_loss, progress.result.test_accuracy = loss_and_accuracy(probabilities, data.y_test)
        progress.message = ""
    return model, state


def with_class_digits(data: TrainingData, request: TrainingRequest, writer: RunWriter | None) -> TrainingData:
    """The training images with the class's labelled digits (My digits, everyone's) in front, oversampled; the
    share kept back (core.my_digits.kept_back) is never among them. The run's record says how many, and how."""
    if not request.store_root:
        raise ValueError("training on the class's digits needs the model folder they are kept in")
    image_format = cached_dataset(request.dataset_name).image_format
    train, back = training_share(MyDigitsStore(request.store_root, image_format).load())
    if not len(train):
        raise ValueError("there are no labelled digits to train on yet (label some on Draw & predict)")
    images, labels, repeats = oversampled(train)
    x = to_model_input(images, 1.0, data.x_train.shape[1:])
    if writer is not None and not request.resume:
        writer.record.source += f" {CLASS_DIGITS_SOURCE}: {len(train)} digits x {repeats}, {len(back)} kept back"
    return dataclasses.replace(
        data,
        x_train=np.concatenate([x, data.x_train]),
        y_train=np.concatenate([labels.astype(data.y_train.dtype), data.y_train]),
    )


@contextlib.contextmanager
def _log_folder(writer: RunWriter | None):
    """Where TensorBoard writes: the run's own logs folder, or a temporary one when nothing is kept."""
    if writer is not None:
        yield str(writer.folder / LOGS_FOLDER)
        return
    import tempfile

    with tempfile.TemporaryDirectory(prefix="digitlab-logs-") as folder:
        yield folder


def train_model(config: ModelConfig, dataset_name: str, limit: int | None = None, callbacks=()):
    """Train in this process with the jobs' own options and return the Keras model (benchmarks, tests)."""
    progress, model = run_training(
        TrainingRequest("local", config, dataset_name, limit), LocalReporter(), callbacks, keep_model=True
    )
    if progress.state.failed:
        raise RuntimeError(progress.message)
    return model


def _fit(request: TrainingRequest, data: TrainingData, progress, reporter, writer, callbacks, log_dir, base):
    """Fit with the family's fast compile options, falling back to plain ones if they fail before the first epoch.
    `base` is a model to fine-tune or continue (its own layers and weights), or None for a new network."""
    if request.resume:
        fast = None  # the compile options it was saved with, its optimizer's state included
    elif base is not None:
        fast = PLAIN_COMPILE
    else:
        fast = compile_options_for(request.config, len(data.x_train))
    epochs_before = progress.epoch
    try:
        return _fit_with(request.config, data, progress, reporter, writer, callbacks, log_dir, fast, base)
    except Exception:
        if progress.epoch > epochs_before or fast in (PLAIN_COMPILE, None):
            raise
        return _fit_with(request.config, data, progress, reporter, writer, callbacks, log_dir, PLAIN_COMPILE, base)


def _fit_with(config, data, progress, reporter, writer, callbacks, log_dir, compile_options, base):
    samples = len(data.x_train)
    validation = int(samples * config.validation_split)
    progress.batches_per_epoch = math.ceil((samples - validation) / config.batch_size)
    if compile_options is None:
        model = base
        compile_options = {"jit_compile": bool(model.jit_compile), "steps_per_execution": model.steps_per_execution}
    elif base is not None:
        model = compile_model(base, config, compile_options, progress.batches_per_epoch)
    else:
        model = build_model(config, data.x_train.shape[1:], NUM_CLASSES, compile_options, progress.batches_per_epoch)
    progress.compile_mode = compile_label(compile_options)
    attacked = []
    if config.adversarial:
        train_against_attacks(model, config.adversarial)
        attacked = [AttackedCurve(data.x_test, data.y_test, config.adversarial)]
    order = EpochOrder(
        data.x_train[: samples - validation], data.y_train[: samples - validation], config.batch_size, config.seed
    )
    progress.result.held_out = held_out_size(samples, len(data.x_test))
    held_out = HeldOutCurve(data.x_test, data.y_test, progress.result.held_out)
    watch = ProgressCallback(progress, reporter, config.batch_size, writer)
    tensorboard = keras.callbacks.TensorBoard(log_dir, histogram_freq=1, write_graph=False)
    model.fit(
        order.dataset,
        epochs=config.epochs,
        initial_epoch=progress.epoch,
        validation_data=(data.x_train[samples - validation :], data.y_train[samples - validation :])
        if validation
        else None,
        callbacks=[order, held_out, *attacked, watch, tensorboard, *callbacks],
        shuffle=False,  # EpochOrder shuffles
        verbose=0,
    )
    if watch.diverged:
        return model, RunState.DIVERGED
    if watch.cut_short and watch.epoch_weights is not None:
        model.set_weights(watch.epoch_weights)  # stopped mid-epoch: the model as its last whole epoch left it
    return model, RunState.FINISHED if progress.epoch >= config.epochs else RunState.STOPPED


def held_out_size(train_samples: int, test_samples: int) -> int:
    """How many test digits the held-out curve reads after each epoch (see HELD_OUT_SHARE)."""
    return min(test_samples, max(HELD_OUT_MIN, train_samples // HELD_OUT_SHARE))


class HeldOutCurve(keras.callbacks.Callback):
    """After each epoch, the model's loss and accuracy on held-out digits (the test set's first `size`), added to
    the epoch's logs as test_loss and test_accuracy: the run's history and TensorBoard get them with the rest."""

    def __init__(self, x: np.ndarray, y: np.ndarray, size: int):
        super().__init__()
        self.x, self.y = x[:size], y[:size]

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["test_loss"], logs["test_accuracy"] = loss_and_accuracy(
                predict_probabilities(self.model, self.x), self.y
            )


class AttackedCurve(keras.callbacks.Callback):
    """After each epoch of adversarial training, the model's loss and accuracy on held-out digits attacked by PGD
    at the training's epsilon (test_adversarial_loss and test_adversarial_accuracy in the epoch's logs)."""

    def __init__(self, x: np.ndarray, y: np.ndarray, epsilon: float):
        super().__init__()
        self.x, self.y, self.epsilon = x[:ATTACKED_CURVE_DIGITS], y[:ATTACKED_CURVE_DIGITS], epsilon

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            attacked = attacked_images(self.model, self.x, self.y, self.epsilon)
            logs["test_adversarial_loss"], logs["test_adversarial_accuracy"] = loss_and_accuracy(
                predict_probabilities(self.model, attacked), self.y
            )


class EpochOrder(keras.callbacks.Callback):
    """The training images in a new order every epoch that depends only on the seed and the epoch's number, so a
    run continued from epoch k sees the same batches as one that never stopped (Keras' own shuffle cannot be
    replayed). A tf.data pipeline of index batches gathered from the arrays, as Keras' array adapter does."""

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int, seed: int):
        super().__init__()
        import tensorflow as tf

        count, batches = len(x), math.ceil(len(x) / batch_size)
        images, labels = tf.constant(x), tf.constant(y)
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False)

        def epoch_order(_):
            seed_pair = tf.stack([tf.constant(seed, tf.int64), self.epoch.read_value()])
            return tf.random.experimental.stateless_shuffle(tf.range(count, dtype=tf.int64), seed=seed_pair)

        def batches_of(order):
            return tf.data.Dataset.range(batches).map(
                lambda b: order[b * batch_size : tf.minimum((b + 1) * batch_size, count)]
            )

        self.dataset = (
            tf.data.Dataset.from_tensors(0)
            .map(epoch_order)
            .flat_map(batches_of)
            .map(lambda indices: (tf.gather(images, indices), tf.gather(labels, indices)))
            .apply(tf.data.experimental.assert_cardinality(batches))
            .prefetch(tf.data.AUTOTUNE)
        )

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch.assign(epoch)  # read when Keras opens the epoch's iterator, right after this


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
    """Keeps a run's Progress up to date from Keras' hooks, publishes it, checkpoints each whole epoch into the
    run's folder, and stops the fit when asked (an epoch cut short by a stop is not counted)."""

    def __init__(self, progress: Progress, reporter: Reporter, batch_size: int, writer: RunWriter | None = None):
        super().__init__()
        self.progress = progress
        self.reporter = reporter
        self.batch_size = batch_size
        self.writer = writer
        self.diverged = False
        self.cut_short = False  # a stop ended an epoch early: the model goes back to the last whole epoch
        self.epoch_weights = None  # the weights after the last whole epoch
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
        if self.progress.batch < self.progress.batches_per_epoch:  # Keras ends a stopped epoch early
            self.cut_short = True
            return
        for key, value in (logs or {}).items():
            self.progress.result.history.setdefault(key, []).append(float(value))
        self.epoch_weights = self.model.get_weights()
        if self.writer is not None:
            self.writer.epoch_end(self.model, self.progress)
        self._publish_and_listen()

    def _publish_and_listen(self) -> None:
        self.last_publish = time.perf_counter()
        self.reporter.publish(self.progress)
        if self.reporter.stop_requested():
            self.model.stop_training = True
