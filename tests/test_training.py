"""core.training: the training recipe, run in this process on small slices of the real MNIST."""

import dataclasses

import keras
import numpy as np
import pytest

from core import training
from core.config import PRESETS, SEED
from core.model import predict_probabilities
from core.runs import LocalReporter, RunState, TrainingRequest
from core.training import TrainingData, run_training, train_model

SLICE = 2_000
QUICK = dataclasses.replace(SEED, units=64, epochs=1)


def train(config=QUICK, limit=SLICE, dataset="mnist", callbacks=(), reporter=None):
    """One run of the recipe in this process; returns its outcome."""
    return run_training(TrainingRequest("test", config, dataset, limit), reporter or LocalReporter(), callbacks)


class StopAfterEpoch(keras.callbacks.Callback):
    """Asks the run to stop, through its reporter, once `epochs` epochs are done."""

    def __init__(self, reporter: LocalReporter, epochs: int = 1):
        super().__init__()
        self.reporter, self.epochs = reporter, epochs

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 >= self.epochs:
            self.reporter.stop()


def test_slice_keeps_the_first_images_and_the_whole_test_set(mnist):
    data = TrainingData.from_dataset(mnist, QUICK, limit=SLICE)
    assert data.x_train.shape == (SLICE, 784) and data.x_train.dtype == np.float32
    assert data.x_train.max() == 1.0 and data.x_test.shape == (10_000, 784)
    np.testing.assert_array_equal(data.y_train, mnist.y_train[:SLICE])


def test_one_epoch_gives_history_test_metrics_a_model_and_a_snapshot():
    outcome = train()
    progress = outcome.progress
    assert progress.state is RunState.FINISHED and progress.epoch == 1 and progress.message == ""
    assert set(progress.result.history) == {"loss", "accuracy"}
    assert progress.batches_per_epoch == 16 and progress.batch == 16 and progress.samples_per_second > 0
    assert 0.5 < progress.result.test_accuracy < 1 and progress.result.test_loss > 0
    assert progress.compile_mode == "no XLA, 32 steps per call" and progress.worker.split("@")[0].isdigit()
    assert outcome.model_bytes[:2] == b"PK" and len(outcome.epoch_weights) == 1
    assert [w.shape for w in outcome.epoch_weights[0]] == [(784, 64), (64,), (64, 10), (10,)]
    assert outcome.tensorboard_logs[:2] == b"PK"


def test_progress_reaches_the_reporter_while_training():
    seen = []

    class Recording(LocalReporter):
        def publish(self, progress):
            seen.append(progress.copy())

    train(dataclasses.replace(QUICK, epochs=3), reporter=Recording())
    assert {snapshot.state for snapshot in seen} == {RunState.RUNNING}  # the final state comes with the outcome
    epochs = [snapshot.epoch for snapshot in seen]
    assert epochs == sorted(epochs) and epochs[-1] == 3  # only grows, and reaches the end


def test_validation_split_adds_validation_curves():
    progress = train(dataclasses.replace(QUICK, epochs=2, validation_split=0.2)).progress
    assert len(progress.result.history["val_accuracy"]) == 2 and len(progress.result.history["val_loss"]) == 2
    assert progress.batches_per_epoch == 13  # 1,600 training images / 128


def test_stop_keeps_the_epochs_done():
    reporter = LocalReporter()
    outcome = train(dataclasses.replace(QUICK, epochs=30), callbacks=[StopAfterEpoch(reporter)], reporter=reporter)
    progress = outcome.progress
    assert progress.state is RunState.STOPPED and 1 <= progress.epoch <= 2  # at the next look for a stop
    assert progress.result.test_accuracy is not None and outcome.model_bytes is not None


def test_a_stop_before_the_start_trains_nothing():
    reporter = LocalReporter()
    reporter.stop()
    outcome = train(reporter=reporter)
    assert outcome.progress.state is RunState.STOPPED and outcome.model_bytes is None


def test_nan_loss_stops_the_run_with_advice_and_keeps_nothing():
    outcome = train(dataclasses.replace(QUICK, epochs=5, optimizer="sgd", learning_rate=10.0))
    assert outcome.progress.state is RunState.DIVERGED and "lower" in outcome.progress.message
    assert outcome.progress.result.test_accuracy is None
    assert outcome.model_bytes is None and outcome.epoch_weights == []


def test_same_seed_gives_the_same_curves():
    config = dataclasses.replace(QUICK, epochs=2, units=32)
    first = train(config, limit=1000).progress.result.history
    second = train(config, limit=1000).progress.result.history
    np.testing.assert_allclose(first["loss"], second["loss"], rtol=1e-4)
    other = train(dataclasses.replace(config, seed=7), limit=1000).progress.result.history
    assert not np.allclose(first["loss"], other["loss"], rtol=1e-4)


def test_the_small_cnn_trains_without_xla():
    config = dataclasses.replace(PRESETS["Small CNN"].config, epochs=1)
    progress = train(config, limit=1000).progress
    assert progress.state is RunState.FINISHED and progress.result.test_accuracy > 0.5
    assert progress.compile_mode == "no XLA, 32 steps per call"


def test_xla_is_used_where_it_repays_its_compile_time(monkeypatch):
    assert training.compile_options_for(SEED, 60_000) == training.XLA  # the notebook's 5 epochs on all of MNIST
    assert training.compile_options_for(SEED, 2_000) == training.NO_XLA  # a quick look: compiling costs more
    assert training.compile_options_for(PRESETS["Small CNN"].config, 60_000) == training.NO_XLA
    monkeypatch.setattr(training, "XLA_MIN_SAMPLE_EPOCHS", 0)
    progress = train().progress
    assert progress.state is RunState.FINISHED and progress.compile_mode == "XLA, 32 steps per call"


def test_a_failing_fast_path_falls_back_to_plain_fit(monkeypatch):
    monkeypatch.setattr(training, "NO_XLA", {"jit_compile": False, "steps_per_execution": -1})
    progress = train().progress
    assert progress.state is RunState.FINISHED and progress.compile_mode == "plain fit"


def test_an_unknown_dataset_fails_with_its_message():
    progress = train(dataset="cifar").progress
    assert progress.state is RunState.FAILED and "Unknown dataset 'cifar'" in progress.message


def test_train_model_returns_a_trained_keras_model(mnist):
    model = train_model(QUICK, "mnist", limit=SLICE)
    x = mnist.x_test[:500].reshape(-1, 784) / 255.0
    assert np.mean(predict_probabilities(model, x).argmax(axis=1) == mnist.y_test[:500]) > 0.5  # untrained: 0.1


def test_train_model_raises_when_the_run_fails():
    with pytest.raises(RuntimeError, match="diverged"):
        train_model(dataclasses.replace(QUICK, optimizer="sgd", learning_rate=10.0), "mnist", limit=SLICE)


def test_fine_tuning_starts_from_a_saved_model_and_learns_on(mnist):
    base = train(dataclasses.replace(QUICK, epochs=2))
    request = TrainingRequest(
        "tuned", dataclasses.replace(QUICK, epochs=1), "mnist", SLICE, "base-run", base.model_bytes
    )
    tuned = run_training(request, LocalReporter())
    assert tuned.progress.state is RunState.FINISHED and tuned.progress.compile_mode == "plain fit"
    # a fresh run of the same seed starts where the base did (test_same_seed_gives_the_same_curves); this one did not
    assert tuned.progress.result.history["loss"][0] < base.progress.result.history["loss"][0]
    assert tuned.progress.result.test_accuracy >= base.progress.result.test_accuracy - 0.02
