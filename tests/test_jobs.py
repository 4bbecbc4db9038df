"""core.jobs: the job protocol against real Dask clusters (worker processes, real TensorFlow training)."""

import dataclasses
import os
import signal
import time
from pathlib import Path

import pytest

from core import jobs
from core.config import SEED
from core.jobs import CLUSTER_LOST, SCHEDULER_ENV, WORKER_LOST, JobBoard, JobError, TrainingCluster, TrainingJob
from core.runs import RunState, TrainingRequest
from core.store import StoreError, new_run_id

QUICK = dataclasses.replace(SEED, units=64, epochs=1)
LONG = dataclasses.replace(QUICK, epochs=30)  # a run still going when stopped (epochs of 16 batches on SLICE)
SLICE = 2_000
TIMEOUT = 120

pytestmark = pytest.mark.cluster


@pytest.fixture
def cluster(training_cluster):
    """The session's embedded cluster (conftest.py): two workers at most, warm once the first run is done."""
    return training_cluster


def request(config=QUICK, limit=SLICE) -> TrainingRequest:
    return TrainingRequest(new_run_id(), config, "mnist", limit)


def wait_until(condition, timeout=TIMEOUT, what="the condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def parent_command_line(pid: int) -> str:
    parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    return Path(f"/proc/{parent}/cmdline").read_text().replace("\0", " ")


def test_a_job_trains_in_a_worker_process_and_hands_its_outcome_back(cluster):
    outcomes = []
    job = TrainingJob(request(), cluster, on_end=lambda job, outcome: outcomes.append(outcome)).start()
    assert job.progress().state is RunState.WAITING
    assert job.wait(TIMEOUT)
    progress = job.progress()
    assert progress.state is RunState.FINISHED and progress.epoch == 1 and progress.message == ""
    assert 0.5 < progress.result.test_accuracy < 1
    worker_pid = int(progress.worker.split("@")[0])
    assert worker_pid != os.getpid() and worker_pid in cluster.workers().values()
    # forked from a forkserver that imported TensorFlow once, so the next worker needs no ~6 s import
    assert "multiprocessing.forkserver" in parent_command_line(worker_pid)
    assert "'core.training'" in parent_command_line(worker_pid)
    [outcome] = outcomes
    assert outcome.model_bytes[:2] == b"PK" and len(outcome.epoch_weights) == 1


def test_a_run_that_cannot_be_saved_ends_as_an_error_with_its_result(cluster):
    def full_disk(job, outcome):
        raise StoreError("Run could not be saved in /models: No space left on device.")

    job = TrainingJob(request(), cluster, on_end=full_disk).start()
    assert job.wait(TIMEOUT)
    progress = job.progress()
    assert progress.state is RunState.FAILED and "could not be saved" in progress.message
    assert "No space left" in progress.message and progress.result.test_accuracy is not None


def test_progress_arrives_while_it_trains_and_stop_keeps_the_epochs_done(cluster):
    job = TrainingJob(request(LONG), cluster).start()
    wait_until(lambda: job.progress().epoch >= 1, what="the first epoch")
    running = job.progress()
    assert running.state is RunState.RUNNING and running.batches_per_epoch == 16  # 2,000 images / 128
    assert isinstance(running.result.history["loss"], list) and running.result.history["loss"]
    job.stop()
    assert job.wait(TIMEOUT)
    progress = job.progress()
    assert progress.state is RunState.STOPPED and 1 <= progress.epoch < LONG.epochs
    assert progress.result.test_accuracy is not None


def test_a_killed_worker_fails_its_job_with_a_message_and_the_next_job_trains(cluster):
    job = TrainingJob(request(LONG, limit=None), cluster).start()
    wait_until(lambda: job.progress().state is RunState.RUNNING and job.progress().worker, what="the run to start")
    os.kill(int(job.progress().worker.split("@")[0]), signal.SIGKILL)
    assert job.wait(TIMEOUT)
    progress = job.progress()
    assert progress.state is RunState.FAILED and progress.message == WORKER_LOST
    again = TrainingJob(request(), cluster).start()
    assert again.wait(TIMEOUT) and again.progress().state is RunState.FINISHED


def test_the_board_allows_one_active_job_per_owner_and_stop_only_for_it(cluster):
    board = JobBoard(cluster)
    first = board.start("alice", request(LONG))
    with pytest.raises(JobError, match="still training"):
        board.start("alice", request())
    assert not board.stop(first.run_id, "mallory") and not board.stop(first.run_id, "")
    wait_until(lambda: first.progress().epoch >= 1, what="the first epoch")
    assert first.progress().active  # mallory's stop did nothing
    assert board.stop(first.run_id, "alice")
    assert first.wait(TIMEOUT) and first.progress().state is RunState.STOPPED
    assert board.get(first.run_id) is first and board.get("nope") is None


def test_runs_beyond_the_workers_wait_their_turn_and_can_be_stopped_before_they_start(cluster):
    board = JobBoard(cluster)
    busy = [board.start(owner, request(LONG, limit=None)) for owner in ("a", "b")]  # both workers, for minutes
    wait_until(lambda: all(job.progress().state is RunState.RUNNING for job in busy), what="both runs")
    queued = board.start("c", request())
    time.sleep(1.0)
    assert queued.progress().state is RunState.WAITING
    board.stop(queued.run_id, "c")
    assert queued.wait(TIMEOUT) and queued.progress().state is RunState.STOPPED
    assert queued.progress().message == "Stopped before it started."
    for job in busy:
        job.stop()
        assert job.wait(TIMEOUT)


def test_an_external_scheduler_from_the_environment_trains_without_local_workers(monkeypatch, cluster):
    """The session's cluster, a process of its own reached by its address, stands in for one started elsewhere."""
    monkeypatch.setenv(SCHEDULER_ENV, cluster.scheduler_address)
    external = TrainingCluster.from_environment()
    try:
        assert not external.embedded
        job = TrainingJob(request(), external).start()
        assert job.wait(TIMEOUT) and job.progress().state is RunState.FINISHED
        assert int(job.progress().worker.split("@")[0]) in set(cluster.workers().values())
        assert external._process is None  # no embedded cluster was started
    finally:
        external.close()


def test_an_unreachable_scheduler_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(jobs, "CONNECT_TIMEOUT", "1s")
    cluster = TrainingCluster(address="tcp://127.0.0.1:9")
    with pytest.raises(JobError, match="not reachable"):
        TrainingJob(request(), cluster).start()


@pytest.mark.kills_session_cluster
def test_a_lost_cluster_fails_its_jobs_and_the_next_training_starts_a_new_one(cluster):
    job = TrainingJob(request(LONG, limit=None), cluster).start()
    wait_until(lambda: job.progress().state is RunState.RUNNING, what="the run to start")
    lost = cluster._process
    lost.kill()  # the whole embedded cluster: scheduler, nannies, forkserver and workers
    assert job.wait(TIMEOUT)
    assert job.progress().state is RunState.FAILED and job.progress().message == CLUSTER_LOST
    again = TrainingJob(request(), cluster).start()
    assert again.wait(TIMEOUT) and again.progress().state is RunState.FINISHED
    assert cluster._process is not lost and cluster._process.poll() is None  # a new cluster, still running
