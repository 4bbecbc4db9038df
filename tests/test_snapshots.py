"""A run's bytes on disk: epoch snapshots in 8 bits that replay what Inside the network shows, and the optimizer's
state kept only where the run can still be continued."""

from __future__ import annotations

import dataclasses
import io
import zipfile

import h5py
import numpy as np
import pytest

from core.config import SEED
from core.insight import weight_images
from core.model import predict_probabilities
from core.runs import LocalReporter, RunState, TrainingRequest
from core.snapshots import load_snapshot, save_snapshot
from core.state import EPOCHS_FOLDER, MODEL_FILE, epoch_file
from core.store import RunStore, new_run_id
from core.training import run_training


def optimizer_variables(model_file) -> int:
    with zipfile.ZipFile(model_file) as archive, h5py.File(io.BytesIO(archive.read("model.weights.h5"))) as weights:
        return len(weights["optimizer/vars"]) if "optimizer" in weights else 0


def test_an_8_bit_snapshot_replays_the_same_answers_and_pictures(model_dir, trained_run, mnist):
    model = RunStore(model_dir).load_model(trained_run)
    exact = model.get_weights()
    path = model_dir / "snapshot.npz"
    save_snapshot(path, exact)
    kept = load_snapshot(path)
    assert [w.shape for w in kept] == [w.shape for w in exact]
    as_float = io.BytesIO()
    np.savez(as_float, *exact)
    assert path.stat().st_size < 0.3 * len(as_float.getvalue())  # 128 units: 0.10 MB against 0.41 MB

    x = mnist.x_test.reshape(len(mnist.x_test), -1).astype(np.float32) / 255
    before = predict_probabilities(model, x)
    pictures = weight_images(model)
    model.set_weights(kept)
    after = predict_probabilities(model, x)
    assert (before.argmax(axis=1) == after.argmax(axis=1)).mean() >= 0.999
    assert np.abs(before - after).max() < 0.02
    scale = np.abs(pictures).max(axis=(1, 2), keepdims=True)
    assert np.abs((pictures - weight_images(model)) / scale).max() < 0.01  # each picture within 1% of its range


def test_small_and_whole_number_arrays_are_kept_exactly_and_old_snapshots_read_as_they_were(tmp_path):
    weights = [np.linspace(-1, 1, 2048, dtype=np.float32).reshape(64, 32), np.arange(10, dtype=np.float32)]
    weights.append(np.array([7, 123456789], dtype=np.uint32))  # a random layer's seed state
    save_snapshot(tmp_path / "new.npz", weights)
    kept = load_snapshot(tmp_path / "new.npz")
    assert np.abs(kept[0] - weights[0]).max() <= 1 / 127 / 2 + 1e-7  # half a step of the column's scale
    assert np.array_equal(kept[1], weights[1]) and np.array_equal(kept[2], weights[2]) and kept[2].dtype == np.uint32
    np.savez(tmp_path / "old.npz", *weights)  # how runs were kept before
    assert all(np.array_equal(a, b) for a, b in zip(load_snapshot(tmp_path / "old.npz"), weights, strict=True))


class StopAfterOne(LocalReporter):
    def stop_requested(self) -> bool:
        return self.latest is not None and self.latest.epoch >= 1


@pytest.mark.parametrize(
    ("reporter", "state", "keeps_optimizer"),
    [(LocalReporter, RunState.FINISHED, False), (StopAfterOne, RunState.STOPPED, True)],
)
def test_only_a_run_that_can_be_continued_keeps_its_optimizer(model_dir, reporter, state, keeps_optimizer):
    run_id = new_run_id()
    config = dataclasses.replace(SEED, units=64, epochs=2)
    progress = run_training(TrainingRequest(run_id, config, "mnist", 1_000, store_root=str(model_dir)), reporter())
    assert progress.state is state
    folder = model_dir / run_id
    assert (optimizer_variables(folder / MODEL_FILE) > 0) == keeps_optimizer
    kept = RunStore(model_dir).epoch_weights(run_id, progress.epoch)  # the last epoch's 8-bit snapshot
    final = RunStore(model_dir).load_model(run_id)
    assert all(np.abs(a - b).max() < 0.01 for a, b in zip(kept, final.get_weights(), strict=True))
    snapshot = (folder / EPOCHS_FOLDER / epoch_file(progress.epoch)).stat().st_size
    assert snapshot < 0.35 * sum(w.nbytes for w in final.get_weights())
