"""core.store: run folders written whole or not at all, per-epoch snapshots, the sweep, and a full disk."""

import dataclasses
import json
import os
import shutil
import time

import numpy as np
import pytest

from core.config import SEED
from core.files import write_atomically
from core.model import build_model, model_to_bytes, predict_probabilities
from core.runs import LocalReporter, RunResult, RunState, TrainingRequest
from core.state import PROGRESS_FILE, RECORD_FILE
from core.store import STALE_SECONDS, RunRecord, RunStore, StoreError, new_run_id
from core.training import run_training

QUICK = dataclasses.replace(SEED, units=32, epochs=2)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A real two-epoch run of the recipe, written into a store by the recipe itself, as a worker does."""
    root = tmp_path_factory.mktemp("store")
    progress = run_training(TrainingRequest(new_run_id(), QUICK, "mnist", 1000, store_root=str(root)), LocalReporter())
    return root, progress


def test_a_trained_run_survives_a_restart_with_its_snapshots_and_logs(trained, mnist):
    root, progress = trained
    run_id = progress.run_id
    restarted = RunStore(root)  # a new server process sees the same folder
    [record] = restarted.records()
    assert record.run_id == run_id and record.state is RunState.FINISHED and record.dataset == "mnist"
    assert record.result == progress.result and record.config == dataclasses.asdict(QUICK)
    assert record.train_samples == 1000 and restarted.epochs_saved(run_id) == 2
    assert sorted(path.name for path in (root / run_id).iterdir()) == [
        "epochs",
        "logs",
        "model.keras",
        "progress.json",
        "run.json",
    ]
    assert any(path.name.startswith("events.out.tfevents") for path in restarted.logs_path(run_id).rglob("*"))
    x = mnist.x_test[:50].reshape(-1, 784) / 255.0
    final = predict_probabilities(restarted.load_model(run_id), x)
    after_first = predict_probabilities(restarted.load_model(run_id, epoch=1), x)
    np.testing.assert_allclose(predict_probabilities(restarted.load_model(run_id, epoch=2), x), final, atol=1e-6)
    assert not np.allclose(after_first, final, atol=1e-3)
    with pytest.raises(StoreError, match="no snapshot after epoch 3"):
        restarted.load_model(run_id, epoch=3)


def live_copy(root, progress, tmp_path, seconds_ago: float) -> RunStore:
    """The trained run as it was while training: its record and progress say running, last written back then."""
    shutil.copytree(root / progress.run_id, tmp_path / progress.run_id)
    record = RunStore(root).get(progress.run_id)
    record.state = RunState.RUNNING
    (tmp_path / progress.run_id / RECORD_FILE).write_text(record.to_json())
    live = dataclasses.replace(progress, state=RunState.RUNNING, updated=time.time() - seconds_ago)
    (tmp_path / progress.run_id / PROGRESS_FILE).write_text(json.dumps(live.to_dict()))
    return RunStore(tmp_path)


def test_a_live_run_is_listed_only_once_it_ends(trained, tmp_path):
    store = live_copy(*trained, tmp_path, seconds_ago=1)
    assert store.records() == [] and [record.run_id for record in store.live_records()] == [trained[1].run_id]
    assert store.progress(trained[1].run_id).state is RunState.RUNNING


def test_a_live_run_whose_worker_went_silent_is_interrupted_and_listed_to_be_continued(trained, tmp_path):
    store = live_copy(*trained, tmp_path, seconds_ago=STALE_SECONDS + 1)
    [record] = store.records()
    assert record.state is RunState.INTERRUPTED and record.state.continuable and "Continue" in record.message
    assert store.live_records() == [] and store.progress(record.run_id).state is RunState.INTERRUPTED


def test_records_are_plain_json_and_old_flat_records_still_read(trained):
    root, progress = trained
    values = json.loads((root / progress.run_id / RECORD_FILE).read_text())
    assert values["state"] == "finished" and values["result"]["history"]["loss"]
    flat = {
        "run_id": "20250101-000000-abcdef",
        "dataset": "mnist",
        "config": {},
        "state": "stopped",
        "history": {"loss": [0.5], "accuracy": [0.9]},
        "test_loss": 0.3,
        "test_accuracy": 0.95,
        "duration_s": 3.5,
        "train_samples": 10,
        "source": "trained",
        "created": "2025-01-01T00:00:00+00:00",
    }
    record = RunRecord.from_json(json.dumps(flat))
    assert record.result == RunResult({"loss": [0.5], "accuracy": [0.9]}, 0.3, 0.95, 3.5)
    assert record.result.train_accuracy == 0.9 and record.state is RunState.STOPPED


def test_unreadable_records_and_foreign_names_are_skipped(tmp_path):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / RECORD_FILE).write_text("{ not json")
    store = RunStore(tmp_path)
    assert store.records() == [] and store.get("../etc") is None
    with pytest.raises(StoreError, match="not a run id"):
        store.model_path("../../etc/passwd")


def test_the_sweep_removes_stale_partial_saves_and_recovers_a_model_without_record(tmp_path):
    store = RunStore(tmp_path)
    stale = tmp_path / ".partial-20250101-000000-abcdef-123456"
    stale.mkdir()
    (stale / "model.keras").write_bytes(b"half")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    fresh = tmp_path / ".partial-20250101-000000-abcdef-654321"  # a save in progress elsewhere: left alone
    fresh.mkdir()
    orphan = tmp_path / new_run_id()
    orphan.mkdir()
    (orphan / "model.keras").write_bytes(model_to_bytes(build_model(SEED, (64,))))
    empty = tmp_path / "20250101-000000-fedcba"
    empty.mkdir()
    leftover = tmp_path / "20250101-000000-fedcbb" / "epochs"  # a killed worker's half-written snapshot
    leftover.mkdir(parents=True)
    (leftover / ".tmp-a1b2c3-epoch-001.npz").write_bytes(b"half")
    (leftover.parent / RECORD_FILE).write_text(RunRecord(leftover.parent.name, "mnist", {}, RunState.STOPPED).to_json())
    for path in (orphan, empty, leftover.parent, leftover / ".tmp-a1b2c3-epoch-001.npz"):
        os.utime(path, (old, old))
    starting = tmp_path / new_run_id()  # a worker creating its run right now: left alone
    starting.mkdir()
    (tmp_path / ".uploads").mkdir()
    (tmp_path / ".uploads" / "abc.upload").write_bytes(b"a zip no worker took")  # its server was killed
    os.utime(tmp_path / ".uploads" / "abc.upload", (old, old))
    (tmp_path / ".uploads" / "def.upload").write_bytes(b"on its way now")
    done = store.clean_up()
    assert [path.name for path in (tmp_path / ".uploads").iterdir()] == ["def.upload"]
    assert len(done) == 5 and not stale.exists() and fresh.exists() and not empty.exists() and starting.exists()
    assert leftover.parent.exists() and not list(leftover.iterdir())
    [record] = store.records()
    assert record.run_id == orphan.name and record.dataset == "digits" and "recovered" in record.source
    assert store.load_model(orphan.name).count_params() == SEED_DIGITS_PARAMETERS


SEED_DIGITS_PARAMETERS = 64 * 512 + 512 + 512 * 10 + 10


def test_a_full_disk_fails_the_save_cleanly_and_later_saves_work(tiny_disk):
    store = RunStore(tiny_disk)
    model = model_to_bytes(build_model(dataclasses.replace(SEED, units=1024, hidden_layers=2), (784,)))  # 7.5 MB
    record = RunRecord(new_run_id(), "mnist", {}, RunState.UPLOADED)
    with pytest.raises(StoreError, match="could not be saved.*No space left"):
        store.save(record, model)
    assert list(tiny_disk.iterdir()) == []  # nothing half-written left
    small = model_to_bytes(build_model(SEED, (64,)))
    store.save(record, small)
    assert [record.run_id for record in store.records()] == [record.run_id]


def test_a_full_disk_while_training_fails_the_run_with_its_reason_and_leaves_no_half_file(tiny_disk):
    big = dataclasses.replace(SEED, units=1024, epochs=1)  # its checkpoint (6.5 MB with the optimizer) cannot fit
    progress = run_training(
        TrainingRequest(new_run_id(), big, "mnist", 1000, store_root=str(tiny_disk)), LocalReporter()
    )
    assert progress.state is RunState.FAILED and "No space left" in progress.message
    assert not list(tiny_disk.rglob(".tmp-*"))


def test_a_listing_reads_only_the_records_that_changed_and_follows_the_folder(tmp_path, monkeypatch):
    """What a click or a page lists costs a stat per run once read: a run written appears, one changed is read
    again, one removed by hand disappears, one whose record is damaged is left out until it is whole again."""
    store = RunStore(tmp_path)
    runs = [RunRecord(f"20260101-00000{index}-aaaaaa", "mnist", {}, RunState.UPLOADED) for index in range(5)]
    for record in runs:
        (tmp_path / record.run_id).mkdir()
        (tmp_path / record.run_id / RECORD_FILE).write_text(record.to_json())
    assert sorted(r.run_id for r in store.records()) == sorted(r.run_id for r in runs)
    parsed = []
    real_from_json = RunRecord.from_json
    monkeypatch.setattr(RunRecord, "from_json", lambda text: parsed.append(text) or real_from_json(text))
    assert len(store.records()) == 5 and parsed == []  # nothing changed: nothing parsed again
    changed = dataclasses.replace(runs[0], name="Ada")
    write_atomically(tmp_path / changed.run_id / RECORD_FILE, changed.to_json())
    assert store.get(changed.run_id).name == "Ada" and len(parsed) == 1
    shutil.rmtree(tmp_path / runs[1].run_id)  # removed by hand
    (tmp_path / runs[2].run_id / RECORD_FILE).write_text("{ half a rec")  # damaged
    assert sorted(r.run_id for r in store.records()) == sorted(r.run_id for r in (runs[0], runs[3], runs[4]))
    (tmp_path / runs[2].run_id / RECORD_FILE).write_text(runs[2].to_json())
    assert runs[2].run_id in [r.run_id for r in store.records()]
