"""core.training and core.store: real TensorFlow training on small slices of real MNIST."""

import dataclasses
import io
import json
import zipfile

import keras
import numpy as np
import pytest

from core.model import PRESETS, SEED, build_model, predict_probabilities
from core.store import RunStore, UploadError, load_uploaded_model
from core.training import DIVERGED, FINISHED, STOPPED, JobBoard, JobError, TrainingData, TrainingJob

SLICE = 2_000
QUICK = dataclasses.replace(SEED, units=64, epochs=1)


@pytest.fixture(scope="module")
def quick_data(mnist):
    return TrainingData.from_dataset(mnist, QUICK, limit=SLICE)


def run(config, data, **options) -> TrainingJob:
    job = TrainingJob(config, data, **options).start()
    assert job.wait(timeout=300), "the job did not end"
    return job


def test_slice_keeps_the_first_images_and_the_whole_test_set(mnist, quick_data):
    assert quick_data.x_train.shape == (SLICE, 784) and quick_data.x_train.dtype == np.float32
    assert quick_data.x_train.max() == 1.0 and quick_data.x_test.shape == (10_000, 784)
    np.testing.assert_array_equal(quick_data.y_train, mnist.y_train[:SLICE])


def test_one_epoch_records_history_and_test_metrics(quick_data):
    progress = run(QUICK, quick_data).progress()
    assert progress.state == FINISHED and progress.epoch == 1
    assert set(progress.history) == {"loss", "accuracy"} and len(progress.history["loss"]) == 1
    assert progress.batches_per_epoch == 16 and progress.batch == 16
    assert progress.samples_per_second > 0
    assert 0.5 < progress.test_accuracy < 1 and progress.test_loss > 0


def test_validation_split_adds_validation_curves(quick_data):
    progress = run(dataclasses.replace(QUICK, epochs=2, validation_split=0.2), quick_data).progress()
    assert len(progress.history["val_accuracy"]) == 2 and len(progress.history["val_loss"]) == 2
    assert progress.batches_per_epoch == 13  # 1,600 training images / 128


def test_stop_keeps_the_epochs_done(quick_data):
    job = TrainingJob(dataclasses.replace(QUICK, epochs=30), quick_data).start()
    while job.progress().epoch < 1:
        assert not job.wait(timeout=0.05), "ended before it could be stopped"
    job.stop()
    assert job.wait(timeout=120)
    progress = job.progress()
    assert progress.state == STOPPED and 1 <= progress.epoch < 30
    assert len(progress.history["loss"]) == progress.epoch
    assert progress.test_accuracy is not None and job.model is not None


def test_nan_loss_stops_the_job_with_advice(quick_data):
    config = dataclasses.replace(QUICK, epochs=5, optimizer="sgd", learning_rate=10.0)
    progress = run(config, quick_data).progress()
    assert progress.state == DIVERGED
    assert "lower" in progress.message and progress.test_accuracy is None


def test_same_seed_gives_the_same_curves(quick_data):
    config = dataclasses.replace(QUICK, epochs=2)
    first = run(config, quick_data).progress().history
    second = run(config, quick_data).progress().history
    np.testing.assert_allclose(first["loss"], second["loss"], rtol=1e-4)
    other = run(dataclasses.replace(config, seed=7), quick_data).progress().history
    assert not np.allclose(first["loss"], other["loss"], rtol=1e-4)


def test_the_small_cnn_trains_on_28x28_images(mnist):
    config = dataclasses.replace(PRESETS["Small CNN"].config, epochs=1)
    data = TrainingData.from_dataset(mnist, config, limit=SLICE)
    assert data.x_train.shape == (SLICE, 28, 28, 1)
    progress = run(config, data).progress()
    assert progress.state == FINISHED and progress.test_accuracy > 0.5


def test_a_failing_fast_path_falls_back_to_plain_fit(quick_data):
    job = run(QUICK, quick_data, compile_options={"jit_compile": True, "steps_per_execution": -1})
    assert job.progress().state == FINISHED and job.progress().compile_mode == "plain"


def test_board_allows_one_active_job_per_owner_and_queues_beyond_its_slots(quick_data):
    board = JobBoard(max_running=1)
    long = dataclasses.replace(QUICK, epochs=30)
    first = board.start("alice", long, quick_data)
    with pytest.raises(JobError, match="still training"):
        board.start("alice", QUICK, quick_data)
    second = board.start("bob", QUICK, quick_data)
    while first.progress().state != "running":
        first.wait(0.05)
    assert second.progress().state == "waiting" and "Waiting for a free training slot" in second.progress().message
    first.stop()
    assert second.wait(timeout=120) and second.progress().state == FINISHED
    assert board.get(first.run_id) is first and board.get("nope") is None


def test_finished_run_is_saved_and_survives_a_restart(tmp_path, quick_data, mnist):
    store = RunStore(tmp_path)
    job = run(QUICK, quick_data, dataset_name="mnist", on_end=store.save_job)
    restarted = RunStore(tmp_path)  # a new server process sees the same folder
    [record] = restarted.records()
    assert record.run_id == job.run_id and record.state == FINISHED and record.dataset == "mnist"
    assert record.history == job.progress().history and record.test_accuracy == job.progress().test_accuracy
    assert record.config == dataclasses.asdict(QUICK) and record.train_samples == SLICE
    assert sorted(path.name for path in (tmp_path / job.run_id).iterdir()) == ["model.keras", "run.json"]
    loaded = restarted.load_model(job.run_id)
    x = quick_data.x_test[:50]
    np.testing.assert_allclose(predict_probabilities(loaded, x), predict_probabilities(job.model, x), atol=1e-6)


def test_unreadable_records_are_skipped(tmp_path):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "run.json").write_text("{ not json")
    assert RunStore(tmp_path).records() == []


def test_diverged_runs_are_not_saved(tmp_path, quick_data):
    store = RunStore(tmp_path)
    run(dataclasses.replace(QUICK, optimizer="sgd", learning_rate=10.0, epochs=3), quick_data, on_end=store.save_job)
    assert store.records() == []


# ---- Uploads ---------------------------------------------------------------------------------


def keras_bytes(model, tmp_path) -> bytes:
    path = tmp_path / "model.keras"
    model.save(path)
    return path.read_bytes()


def test_a_good_upload_loads_with_its_dataset(tmp_path):
    model, dataset = load_uploaded_model(keras_bytes(build_model(SEED, (64,)), tmp_path))
    assert dataset == "digits" and tuple(model.outputs[0].shape) == (None, 10)


def lambda_model():
    inputs = keras.Input((784,))
    outputs = keras.layers.Dense(10, activation="softmax")(keras.layers.Lambda(lambda x: x * 2)(inputs))
    return keras.Model(inputs, outputs)


@pytest.mark.parametrize(
    ("make_bytes", "message"),
    [
        (lambda tmp: b"", "empty"),
        (lambda tmp: b"just some text", "not a .keras file"),
        (lambda tmp: zip_of({"hello.txt": "hi"}), "could not load"),
        (lambda tmp: keras_bytes(build_model(SEED, (100,)), tmp), r"inputs of shape \(100,\)"),
        (lambda tmp: keras_bytes(build_model(SEED, (784,), num_classes=5), tmp), "10 outputs"),
        (lambda tmp: keras_bytes(lambda_model(), tmp), "arbitrary code"),
    ],
    ids=["empty", "not-zip", "zip-not-keras", "wrong-input", "wrong-output", "lambda"],
)
def test_bad_uploads_are_refused_with_their_reason(tmp_path, make_bytes, message):
    with pytest.raises(UploadError, match=message):
        load_uploaded_model(make_bytes(tmp_path))


def test_too_big_upload_is_refused(tmp_path):
    with pytest.raises(UploadError, match="limit"):
        load_uploaded_model(keras_bytes(build_model(SEED, (784,)), tmp_path), max_bytes=1_000_000)


def zip_of(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def test_saved_record_is_plain_json(tmp_path, quick_data):
    store = RunStore(tmp_path)
    job = run(QUICK, quick_data, on_end=store.save_job)
    record = json.loads((tmp_path / job.run_id / "run.json").read_text())
    assert record["state"] == FINISHED and record["history"]["loss"]


def test_progress_is_readable_while_training_and_only_grows(quick_data):
    job = TrainingJob(dataclasses.replace(QUICK, epochs=3), quick_data).start()
    snapshots = []
    while not job.wait(0.02):
        snapshots.append(job.progress())
    snapshots.append(job.progress())
    states = [snapshot.state for snapshot in snapshots]
    assert "running" in states and states[-1] == FINISHED
    assert all(snapshot.state == FINISHED for snapshot in snapshots[states.index(FINISHED) :])
    epochs = [snapshot.epoch for snapshot in snapshots]
    assert epochs == sorted(epochs) and epochs[-1] == 3
    assert all(len(snapshot.history.get("loss", [])) == snapshot.epoch for snapshot in snapshots)
