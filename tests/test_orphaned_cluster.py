"""The embedded cluster outlives its web server on purpose, but never for good: once no server is connected it
closes idle step-mode networks on their own clock and exits after its linger, whatever learners did before
(a finished run, a sweep, an import, step mode), leaving no process behind. (tests/test_browser_restart.py stops
the real server after step mode on the real page.)"""

from __future__ import annotations

import dataclasses
import io
import time
import zipfile

import pytest
from PIL import Image

from core.cluster_client import TrainingCluster
from core.config import SEED
from core.run_board import RunBoard
from core.runs import TrainingRequest
from core.state import STEPPERS, WAITING
from core.stepper import StepSessions
from core.store import RunStore, new_run_id
from core.tasks import Task, import_digits
from harness.processes import gone, process_tree
from harness.waiting import wait_until

STEP_IDLE = 4.0  # seconds: a step-mode network nobody clicks for this long is closed
LINGER = 3.0  # seconds the cluster stays with nothing to do
SLACK = 20.0  # closing the LocalCluster, its workers and forkserver; a loaded machine's polls
SMALL = dataclasses.replace(SEED, units=32, epochs=1)

pytestmark = pytest.mark.cluster


def zip_of_digits(mnist, count: int = 30) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index in range(count):
            picture = io.BytesIO()
            Image.fromarray(mnist.x_test[index]).save(picture, format="PNG")
            archive.writestr(f"{mnist.y_test[index]}/{index}.png", picture.getvalue())
    return buffer.getvalue()


def test_a_cluster_whose_server_left_exits_after_a_run_a_sweep_an_import_and_step_mode(tmp_path, mnist):
    server = TrainingCluster(max_workers=2, state_dir=tmp_path, linger_seconds=LINGER)  # this test is its server
    board = RunBoard(RunStore(tmp_path), server)
    run_id = board.start("alice", TrainingRequest(new_run_id(), SMALL, "mnist", 1_000))
    wait_until(lambda: (p := board.progress(run_id)) and p.ended, 120, "the run's end")
    client = server.client()
    assert run_id not in (client.get_metadata([WAITING], default={}) or {})  # removed once a worker took it
    sweep = board.start_sweep("bob", SMALL, {"units": [16, 32], "batch_size": [128, 256]}, "mnist", 1_000)
    wait_until(lambda: all(p and p.ended for p in board.sweep_progress(sweep)), 180, "the sweep's end")
    task = Task(client, tmp_path / ".uploads", "class.zip", import_digits, zip_of_digits(mnist), "class", str(tmp_path))
    assert wait_until(lambda: task.state().finished and task.state(), 120, "the import").error is None
    steps = StepSessions(server, idle_seconds=STEP_IDLE)
    steps.step("carol", steps.open("carol", SMALL, "mnist", 1_000), 1, None)
    assert set(client.get_metadata([STEPPERS], default={})) == {"carol"}
    processes = process_tree(server.embedded_pid())
    assert len(processes) >= 3  # the cluster, its forkserver, a worker at least

    server.close()  # the server is gone: nobody will click Step again
    left = time.monotonic()
    try:
        wait_until(lambda: gone(processes), STEP_IDLE + LINGER + SLACK, "every process of the orphaned cluster to exit")
        print(f"orphaned cluster gone {time.monotonic() - left:.1f} s after its server")
        assert not (tmp_path / ".cluster.json").exists()
    finally:
        server.shutdown()  # only if the test failed: it is gone
