"""core.training: the training recipe, run in this process on small slices of the real MNIST."""

import dataclasses

import keras
import numpy as np
import pytest

from core import training
from core.config import PRESETS, SEED
from core.model import predict_probabilities
from core.runs import LocalReporter, RunState, TrainingRequest
from core.state import PROGRESS_FILE, RECORD_FILE
from core.store import RunStore, new_run_id
from core.training import TrainingData, run_training, train_model

SLICE = 2_000
QUICK = dataclasses.replace(SEED, units=64, epochs=1)


def train(config=QUICK, limit=SLICE, dataset="mnist", callbacks=(), reporter=None, store=None, **request):
    """One run of the recipe in this process (written into `store` when given); returns its final Progress."""
    run_id = request.pop("run_id", None) or new_run_id()
    root = str(store.root) if store else None
    request = TrainingRequest(run_id, config, dataset, limit, store_root=root, **request)
    return run_training(request, reporter or LocalReporter(), callbacks)


class StopAt(LocalReporter):
    """Asks for a stop as soon as the run has finished `epochs` epochs."""

    def __init__(self, epochs: int):
        super().__init__()
        self.epochs = epochs

    def stop_requested(self) -> bool:
        return self.latest is not None and self.latest.epoch >= self.epochs


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


def test_one_epoch_writes_the_run_into_the_store_with_its_metrics_model_snapshot_and_logs(tmp_path):
    store = RunStore(tmp_path)
    progress = train(store=store, owner="alice")
    assert progress.state is RunState.FINISHED and progress.epoch == 1 and progress.message == ""
    assert set(progress.result.history) == {"loss", "accuracy", "test_loss", "test_accuracy"}
    assert progress.result.held_out == 2_000  # the first 2,000 test digits, read after every epoch
    assert progress.batches_per_epoch == 16 and progress.batch == 16 and progress.samples_per_second > 0
    assert 0.5 < progress.result.test_accuracy < 1 and progress.result.test_loss > 0
    assert progress.compile_mode == "no XLA, 32 steps per call" and progress.worker.split("@")[0].isdigit()
    [record] = store.records()
    assert record.run_id == progress.run_id and record.result == progress.result and record.owner == "alice"
    assert record.train_samples == SLICE and record.state is RunState.FINISHED
    assert store.progress(record.run_id).state is RunState.FINISHED
    assert [w.shape for w in store.epoch_weights(record.run_id, 1)] == [(784, 64), (64,), (64, 10), (10,)]
    assert any(path.name.startswith("events.out.tfevents") for path in store.logs_path(record.run_id).rglob("*"))
    assert not list(tmp_path.rglob(".tmp-*"))  # every file renamed into place


def test_progress_reaches_the_reporter_while_training():
    seen = []

    class Recording(LocalReporter):
        def publish(self, progress):
            seen.append(progress.copy())

    train(dataclasses.replace(QUICK, epochs=3), reporter=Recording())
    assert {snapshot.state for snapshot in seen} == {RunState.RUNNING}  # the final state is the return value
    epochs = [snapshot.epoch for snapshot in seen]
    assert epochs == sorted(epochs) and epochs[-1] == 3  # only grows, and reaches the end


def test_validation_split_adds_validation_curves():
    progress = train(dataclasses.replace(QUICK, epochs=2, validation_split=0.2))
    assert len(progress.result.history["val_accuracy"]) == 2 and len(progress.result.history["val_loss"]) == 2
    assert progress.batches_per_epoch == 13  # 1,600 training images / 128


def test_stop_keeps_the_whole_epochs_done(tmp_path):
    reporter = LocalReporter()
    store = RunStore(tmp_path)
    progress = train(
        dataclasses.replace(QUICK, epochs=30), callbacks=[StopAfterEpoch(reporter)], reporter=reporter, store=store
    )
    assert progress.state is RunState.STOPPED and 1 <= progress.epoch <= 2  # at the next look for a stop
    assert progress.result.test_accuracy is not None
    assert store.epochs_saved(progress.run_id) == progress.epoch == len(progress.result.history["loss"])
    assert [record.state for record in store.records()] == [RunState.STOPPED]


def test_a_stop_before_the_start_trains_nothing_and_keeps_no_model(tmp_path):
    reporter = LocalReporter()
    reporter.stop()
    store = RunStore(tmp_path)
    progress = train(reporter=reporter, store=store)
    assert progress.state is RunState.STOPPED and progress.message == "Stopped before it started."
    assert store.records() == [] and store.get(progress.run_id).state is RunState.STOPPED  # its trace, no model
    assert sorted(path.name for path in (tmp_path / progress.run_id).iterdir()) == [PROGRESS_FILE, RECORD_FILE]


def test_nan_loss_stops_the_run_with_advice_and_keeps_no_model(tmp_path):
    store = RunStore(tmp_path)
    progress = train(dataclasses.replace(QUICK, epochs=5, optimizer="sgd", learning_rate=10.0), store=store)
    assert progress.state is RunState.DIVERGED and "lower" in progress.message
    assert progress.result.test_accuracy is None and store.records() == []
    assert store.get(progress.run_id).message == progress.message


def test_continuing_a_stopped_run_equals_never_stopping(tmp_path):
    """2 epochs, stop, continue to 4: the same weights as 4 straight epochs (same seed): the optimizer's state and
    the order of the batches are restored, not only the weights."""
    store = RunStore(tmp_path)
    config = dataclasses.replace(QUICK, epochs=4, optimizer="adam")  # a stateful optimizer: moments and step
    straight = train(config, store=store)
    stopped = train(config, store=store, reporter=StopAt(2))
    assert stopped.state is RunState.STOPPED and stopped.epoch == 2
    checkpoint = store.load_model(stopped.run_id, compile=True)
    assert int(checkpoint.optimizer.iterations.numpy()) == 2 * 16  # its optimizer's state is in the checkpoint
    continued = train(config, store=store, run_id=stopped.run_id, resume=True)
    assert continued.state is RunState.FINISHED and continued.epoch == 4
    assert continued.result.seconds > stopped.result.seconds > 0  # its time goes on from where it stopped
    np.testing.assert_allclose(continued.result.history["loss"], straight.result.history["loss"], rtol=1e-6)
    for ours, theirs in zip(
        store.load_model(stopped.run_id).get_weights(), store.load_model(straight.run_id).get_weights(), strict=True
    ):
        np.testing.assert_allclose(ours, theirs, atol=1e-6)
    assert store.epochs_saved(stopped.run_id) == 4 and continued.result.test_accuracy == straight.result.test_accuracy


def test_a_finished_run_cannot_be_continued(tmp_path):
    store = RunStore(tmp_path)
    finished = train(store=store)
    progress = train(store=store, run_id=finished.run_id, resume=True)
    assert progress.state is RunState.FAILED and "no stopped or interrupted training" in progress.message


def test_same_seed_gives_the_same_curves():
    config = dataclasses.replace(QUICK, epochs=2, units=32)
    first = train(config, limit=1000).result.history
    second = train(config, limit=1000).result.history
    np.testing.assert_allclose(first["loss"], second["loss"], rtol=1e-4)
    other = train(dataclasses.replace(config, seed=7), limit=1000).result.history
    assert not np.allclose(first["loss"], other["loss"], rtol=1e-4)


def test_the_small_cnn_trains_without_xla():
    config = dataclasses.replace(PRESETS["Small CNN"].config, epochs=1)
    progress = train(config, limit=1000)
    assert progress.state is RunState.FINISHED and progress.result.test_accuracy > 0.5
    assert progress.compile_mode == "no XLA, 32 steps per call"


def test_xla_is_used_where_it_repays_its_compile_time(monkeypatch):
    assert training.compile_options_for(SEED, 60_000) == training.XLA  # the notebook's 5 epochs on all of MNIST
    assert training.compile_options_for(SEED, 2_000) == training.NO_XLA  # a quick look: compiling costs more
    assert training.compile_options_for(PRESETS["Small CNN"].config, 60_000) == training.NO_XLA
    monkeypatch.setattr(training, "XLA_MIN_SAMPLE_EPOCHS", 0)
    progress = train()
    assert progress.state is RunState.FINISHED and progress.compile_mode == "XLA, 32 steps per call"


def test_a_failing_fast_path_falls_back_to_plain_fit(monkeypatch):
    monkeypatch.setattr(training, "NO_XLA", {"jit_compile": False, "steps_per_execution": -1})
    progress = train()
    assert progress.state is RunState.FINISHED and progress.compile_mode == "plain fit"


def test_an_unknown_dataset_fails_with_its_message():
    progress = train(dataset="cifar")
    assert progress.state is RunState.FAILED and "Unknown dataset 'cifar'" in progress.message


def test_train_model_returns_a_trained_keras_model(mnist):
    model = train_model(QUICK, "mnist", limit=SLICE)
    x = mnist.x_test[:500].reshape(-1, 784) / 255.0
    assert np.mean(predict_probabilities(model, x).argmax(axis=1) == mnist.y_test[:500]) > 0.5  # untrained: 0.1


def test_train_model_raises_when_the_run_fails():
    with pytest.raises(RuntimeError, match="diverged"):
        train_model(dataclasses.replace(QUICK, optimizer="sgd", learning_rate=10.0), "mnist", limit=SLICE)


def test_fine_tuning_starts_from_a_saved_model_and_learns_on(tmp_path):
    store = RunStore(tmp_path)
    base = train(dataclasses.replace(QUICK, epochs=2), store=store)
    tuned = train(dataclasses.replace(QUICK, epochs=1), store=store, base_run=base.run_id)
    assert tuned.state is RunState.FINISHED and tuned.compile_mode == "plain fit"
    assert store.get(tuned.run_id).source == f"fine-tuned from {base.run_id}"
    # a fresh run of the same seed starts where the base did (test_same_seed_gives_the_same_curves); this one did not
    assert tuned.result.history["loss"][0] < base.result.history["loss"][0]
    assert tuned.result.test_accuracy >= base.result.test_accuracy - 0.02


def test_the_held_out_curve_reads_test_digits_after_every_epoch_and_goes_on_when_continued(tmp_path, mnist):
    store = RunStore(tmp_path)
    config = dataclasses.replace(QUICK, epochs=3)
    stopped = train(config, store=store, reporter=StopAt(2))
    history = stopped.result.history
    assert len(history["test_loss"]) == len(history["test_accuracy"]) == 2
    model = store.load_model(stopped.run_id)  # stopped after epoch 2: the saved model is that epoch's, exactly
    x = mnist.x_test[:2_000].reshape(-1, 784).astype(np.float32) / 255
    probabilities = predict_probabilities(model, x)
    assert history["test_accuracy"][1] == pytest.approx(np.mean(probabilities.argmax(1) == mnist.y_test[:2_000]))
    continued = train(config, store=store, run_id=stopped.run_id, resume=True)
    assert continued.result.history["test_loss"][:2] == history["test_loss"]
    assert len(continued.result.history["test_loss"]) == 3


def test_the_held_out_set_grows_with_the_training_images():
    assert training.held_out_size(2_000, 10_000) == 2_000
    assert training.held_out_size(30_000, 10_000) == 5_000
    assert training.held_out_size(60_000, 10_000) == 10_000  # MNIST's whole test set
    assert training.held_out_size(1_000, 359) == 359  # the 8x8 digits' test split, whole
