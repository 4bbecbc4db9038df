"""core.store: run folders written whole or not at all, per-epoch snapshots, the sweep, and a full disk."""

import dataclasses
import json
import os
import shutil
import subprocess
import time

import numpy as np
import pytest

from core.config import SEED
from core.model import build_model, model_to_bytes, predict_probabilities
from core.runs import LocalReporter, RunResult, RunState, TrainingRequest
from core.store import RECORD_FILE, RunRecord, RunStore, StoreError, new_run_id
from core.training import run_training

QUICK = dataclasses.replace(SEED, units=32, epochs=2)


@pytest.fixture(scope="module")
def outcome():
    """A real two-epoch run of the recipe, as a worker hands it back."""
    return run_training(TrainingRequest(new_run_id(), QUICK, "mnist", 1000), LocalReporter())


def save(store: RunStore, outcome) -> str:
    run_id = new_run_id()
    store.save_outcome(run_id, "mnist", dataclasses.asdict(QUICK), 1000, outcome)
    return run_id


def test_a_saved_run_survives_a_restart_with_its_snapshots_and_logs(tmp_path, outcome, mnist):
    run_id = save(RunStore(tmp_path), outcome)
    restarted = RunStore(tmp_path)  # a new server process sees the same folder
    [record] = restarted.records()
    assert record.run_id == run_id and record.state is RunState.FINISHED and record.dataset == "mnist"
    assert record.result == outcome.progress.result and record.config == dataclasses.asdict(QUICK)
    assert record.train_samples == 1000 and restarted.epochs_saved(run_id) == 2
    assert sorted(path.name for path in (tmp_path / run_id).iterdir()) == ["epochs", "logs", "model.keras", "run.json"]
    assert any(path.name.startswith("events.out.tfevents") for path in restarted.logs_path(run_id).rglob("*"))
    x = mnist.x_test[:50].reshape(-1, 784) / 255.0
    final = predict_probabilities(restarted.load_model(run_id), x)
    after_first = predict_probabilities(restarted.load_model(run_id, epoch=1), x)
    np.testing.assert_allclose(predict_probabilities(restarted.load_model(run_id, epoch=2), x), final, atol=1e-6)
    assert not np.allclose(after_first, final, atol=1e-3)
    with pytest.raises(StoreError, match="no snapshot after epoch 3"):
        restarted.load_model(run_id, epoch=3)


def test_records_are_plain_json_and_old_flat_records_still_read(tmp_path, outcome):
    run_id = save(RunStore(tmp_path), outcome)
    values = json.loads((tmp_path / run_id / RECORD_FILE).read_text())
    assert values["state"] == "finished" and values["result"]["history"]["loss"]
    flat = {"run_id": "20250101-000000-abcdef", "dataset": "mnist", "config": {}, "state": "stopped",
            "history": {"loss": [0.5], "accuracy": [0.9]}, "test_loss": 0.3, "test_accuracy": 0.95,
            "duration_s": 3.5, "train_samples": 10, "source": "trained",
            "created": "2025-01-01T00:00:00+00:00"}  # fmt: skip
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


def test_runs_that_learned_nothing_are_not_kept(tmp_path, outcome):
    diverged = dataclasses.replace(outcome, progress=dataclasses.replace(outcome.progress, state=RunState.DIVERGED))
    save(RunStore(tmp_path), diverged)
    assert RunStore(tmp_path).records() == []


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
    done = store.sweep()
    assert len(done) == 3 and not stale.exists() and fresh.exists() and not empty.exists()
    [record] = store.records()
    assert record.run_id == orphan.name and record.dataset == "digits" and "recovered" in record.source
    assert store.load_model(orphan.name).count_params() == SEED_DIGITS_PARAMETERS


SEED_DIGITS_PARAMETERS = 64 * 512 + 512 + 512 * 10 + 10


@pytest.fixture
def tiny_disk(tmp_path):
    """A 3 MB tmpfs, where the machine allows mounting one (root in a container usually does)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command: the full-disk test needs a small tmpfs")
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({result.stderr.decode().strip()[:100]})")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_a_full_disk_fails_the_save_cleanly_and_later_saves_work(tiny_disk, outcome):
    store = RunStore(tiny_disk)
    filler = tiny_disk / "filler"
    filler.write_bytes(b"x" * (3 * 1024 * 1024 - 200_000))  # leave less room than a run needs
    with pytest.raises(StoreError, match="could not be saved.*No space left"):
        save(store, outcome)
    assert sorted(path.name for path in tiny_disk.iterdir()) == ["filler"]  # nothing half-written left
    filler.unlink()
    run_id = save(store, outcome)
    assert [record.run_id for record in store.records()] == [run_id]
