"""core.jobs: the run life-cycle against real Dask clusters (worker processes, real TensorFlow training)."""

import contextlib
import dataclasses
import os
import signal
import tempfile
import time
from pathlib import Path

import pytest

from core import cluster_client
from core import store as store_module
from core.cluster_client import SCHEDULER_ENV, TrainingCluster
from core.config import SEED
from core.run_board import STOPPED_BEFORE_START, JobError, RunBoard
from core.runs import INTERRUPTED_MESSAGE, RunState, TrainingRequest
from core.store import RunStore, new_run_id
from harness.waiting import wait_until

QUICK = dataclasses.replace(SEED, units=64, epochs=1)
LONG = dataclasses.replace(QUICK, epochs=30)  # a run still going when stopped (epochs of 16 batches on SLICE)
SLICE = 2_000
TIMEOUT = 120

pytestmark = pytest.mark.cluster


@pytest.fixture
def board(training_cluster, tmp_path):
    """A web server's view: the session's embedded cluster (two workers at most, warm) and a fresh store."""
    return RunBoard(RunStore(tmp_path), training_cluster)


def request(config=QUICK, limit=SLICE) -> TrainingRequest:
    return TrainingRequest(new_run_id(), config, "mnist", limit)


def wait_for_end(board: RunBoard, run_id: str):
    wait_until(lambda: (p := board.progress(run_id)) is not None and p.ended, what=f"run {run_id} to end")
    return board.progress(run_id)


def gone(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it: this process started it
    return not Path(f"/proc/{pid}").exists()


def parent_command_line(pid: int) -> str:
    parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    return Path(f"/proc/{parent}/cmdline").read_text().replace("\0", " ")


def test_a_run_trains_in_a_worker_process_that_writes_it_into_the_store(board, training_cluster):
    run_id = board.start("alice", request())
    progress = wait_for_end(board, run_id)
    assert progress.state is RunState.FINISHED and progress.epoch == 1 and progress.message == ""
    assert 0.5 < progress.result.test_accuracy < 1
    worker_pid = int(progress.worker.split("@")[0])
    assert worker_pid != os.getpid() and worker_pid in training_cluster.workers().values()
    # forked from a forkserver that imported TensorFlow once, so the next worker needs no ~6 s import
    assert "multiprocessing.forkserver" in parent_command_line(worker_pid)
    assert "'core.training'" in parent_command_line(worker_pid)
    [record] = board.store.records()
    assert record.run_id == run_id and record.owner == "alice" and board.store.epochs_saved(run_id) == 1
    if Path("/proc/self/autogroup").exists():  # the kernel schedules sessions as groups: the cluster's is niced
        assert Path(f"/proc/{worker_pid}/autogroup").read_text().split()[-1] == "10"
        assert (
            Path(f"/proc/{training_cluster.embedded_pid()}/autogroup").read_text()
            == Path(f"/proc/{worker_pid}/autogroup").read_text()
        )


def test_progress_arrives_while_it_trains_and_only_the_owner_stops_it_keeping_its_epochs(board):
    run_id = board.start("alice", request(LONG))
    wait_until(lambda: (p := board.progress(run_id)) is not None and p.epoch >= 1, what="the first epoch")
    running = board.progress(run_id)
    assert running.state is RunState.RUNNING and running.batches_per_epoch == 16  # 2,000 images / 128
    assert [p.run_id for p in board.live()] == [run_id] and board.store.records() == []  # live, not yet listed
    with pytest.raises(JobError, match="still training"):
        board.start("alice", request())
    assert not board.stop(run_id, "mallory") and not board.stop(run_id, "")
    time.sleep(1.0)
    assert board.progress(run_id).active  # mallory's stop did nothing
    assert board.stop(run_id, "alice")
    progress = wait_for_end(board, run_id)
    assert progress.state is RunState.STOPPED and 1 <= progress.epoch < LONG.epochs
    assert progress.result.test_accuracy is not None
    assert board.store.epochs_saved(run_id) == progress.epoch


def test_a_run_outlives_the_server_that_submitted_it(training_cluster, tmp_path):
    """A web server that goes away (its client closed, as when its process dies) does not take its run along:
    another server on the same store and cluster sees it train on and finish."""
    address = training_cluster.scheduler_address
    first = RunBoard(RunStore(tmp_path), TrainingCluster(address=address))
    run_id = first.start("alice", request(dataclasses.replace(QUICK, epochs=4)))
    first.cluster.close()
    second = RunBoard(RunStore(tmp_path), TrainingCluster(address=address))
    wait_until(lambda: (p := second.progress(run_id)) is not None and p.state is RunState.RUNNING, what="training")
    progress = wait_for_end(second, run_id)
    assert progress.state is RunState.FINISHED and progress.epoch == 4
    assert second.owner_of(run_id) == "alice" and second.store.epochs_saved(run_id) == 4
    second.cluster.close()


def test_a_killed_worker_interrupts_its_run_which_continues_from_its_last_epoch(board, monkeypatch):
    monkeypatch.setattr(store_module, "STALE_SECONDS", 4.0)
    run_id = board.start("alice", request(LONG))
    wait_until(lambda: (p := board.progress(run_id)) is not None and p.epoch >= 2, what="two epochs")
    worker_pid = int(board.progress(run_id).worker.split("@")[0])
    # Its temporary files (TensorFlow's converted functions among them) are in its own folder, not in /tmp,
    # where nothing would remove them: a killed worker runs no cleanup at exit.
    pids, folders = board.cluster.workers(), board.cluster.client().run(tempfile.gettempdir)
    [killed_folder] = [Path(folders[address]) for address, pid in pids.items() if pid == worker_pid]
    assert killed_folder.name.startswith("worker-") and any(killed_folder.glob("__autograph_generated_file*.py"))
    os.kill(worker_pid, signal.SIGKILL)
    progress = wait_for_end(board, run_id)
    assert progress.state is RunState.INTERRUPTED and progress.message == INTERRUPTED_MESSAGE
    wait_until(lambda: not killed_folder.exists(), 60, "the killed worker's folder removed by the next worker")
    epochs = board.store.epochs_saved(run_id)
    assert epochs >= 2 and [record.run_id for record in board.store.records()] == [run_id]
    assert board.store.get(run_id).result.seconds > 0  # as long as it trained before its worker died
    with pytest.raises(JobError, match="Only the browser that started"):
        board.continue_run("mallory", run_id)
    assert board.continue_run("alice", run_id) == run_id  # the same run, trained on from its last epoch
    wait_until(lambda: board.progress(run_id).active and board.progress(run_id).epoch > epochs, what="more epochs")
    assert (
        board.progress(run_id).result.history["loss"][:epochs]
        == board.store.get(run_id).result.history["loss"][:epochs]
    )
    assert board.stop(run_id, "alice")
    assert wait_for_end(board, run_id).state is RunState.STOPPED


def test_runs_beyond_the_workers_wait_their_turn_and_can_be_stopped_before_they_start(board):
    busy = [board.start(owner, request(LONG, limit=None)) for owner in ("a", "b")]  # both workers, for minutes
    wait_until(lambda: all(board.progress(run_id).state is RunState.RUNNING for run_id in busy), what="both runs")
    queued = board.start("c", request())
    time.sleep(1.0)
    assert board.progress(queued).state is RunState.WAITING and board.owner_of(queued) == "c"
    assert queued in [p.run_id for p in board.live()]
    assert not board.stop(queued, "a")
    assert board.stop(queued, "c")
    assert board.progress(queued).state is RunState.STOPPED and board.progress(queued).message == STOPPED_BEFORE_START
    for run_id in busy:
        assert board.stop(run_id, board.owner_of(run_id))
    for run_id in busy:
        wait_for_end(board, run_id)
    time.sleep(2.0)
    assert board.progress(queued).state is RunState.STOPPED and board.store.get(queued) is None  # it never trained


def test_an_external_scheduler_from_the_environment_trains_without_local_workers(
    monkeypatch, training_cluster, tmp_path
):
    """The session's cluster, a process of its own reached by its address, stands in for one started elsewhere."""
    monkeypatch.setenv(SCHEDULER_ENV, training_cluster.scheduler_address)
    board = RunBoard(RunStore(tmp_path))
    try:
        assert not board.cluster.embedded
        progress = wait_for_end(board, board.start("alice", request()))
        assert progress.state is RunState.FINISHED
        assert int(progress.worker.split("@")[0]) in set(training_cluster.workers().values())
        assert not (tmp_path / ".cluster.json").exists()  # no embedded cluster was started
    finally:
        board.cluster.close()


def test_an_unreachable_scheduler_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(cluster_client, "CONNECT_TIMEOUT", "1s")  # nothing answers on port 9: no need to wait 10 s
    board = RunBoard(RunStore(tmp_path), TrainingCluster(address="tcp://127.0.0.1:9"))
    with pytest.raises(JobError, match="not reachable"):
        board.start("alice", request())
    assert board.progress(new_run_id()) is None  # and reading runs does not wait for it again


def test_the_embedded_cluster_is_found_again_by_a_restarted_server_and_closes_itself_when_idle(tmp_path):
    started = TrainingCluster(max_workers=1, state_dir=tmp_path, linger_seconds=3)
    try:
        address = started.scheduler_address
        pid = started.embedded_pid()
        os.killpg(pid, 0)  # alive, in a session of its own
        assert os.getsid(pid) == pid
        restarted = TrainingCluster(max_workers=1, state_dir=tmp_path)  # a new server process on the same folder
        assert restarted.scheduler_address == address and restarted.embedded_pid() == pid
        restarted.close()
        started.close()  # no server connected, nothing to train: it closes itself after its 3 s
        wait_until(lambda: gone(pid), timeout=30, what="the idle cluster to exit")
        assert not (tmp_path / ".cluster.json").exists()
    finally:
        started.shutdown()


def test_a_lost_cluster_interrupts_its_runs_and_the_next_training_starts_a_new_one(tmp_path, monkeypatch):
    monkeypatch.setattr(store_module, "STALE_SECONDS", 4.0)
    own = TrainingCluster(max_workers=1, state_dir=tmp_path)  # a cluster of its own: this test kills it
    board = RunBoard(RunStore(tmp_path), own)
    try:
        run_id = board.start("alice", request(LONG, limit=None))
        wait_until(lambda: board.progress(run_id).state is RunState.RUNNING, what="the run to start")
        lost = own.embedded_pid()
        os.killpg(lost, signal.SIGKILL)  # the whole embedded cluster: scheduler, nannies, forkserver and workers
        assert wait_for_end(board, run_id).state is RunState.INTERRUPTED
        again = board.start("bob", request())
        assert wait_for_end(board, again).state is RunState.FINISHED
        assert own.embedded_pid() not in (None, lost)  # a new cluster, still running
    finally:
        own.shutdown()
