"""The web server and the embedded training cluster (the default) over a cluster's life: the server killed -9 in the
middle of a run, the cluster and the run live on and the restarted server shows the run live, then finished, with
all its epochs; then a learner leaves a step-mode network on it and the server is stopped as a service stop does
(SIGTERM to its process group): the cluster closes the network after its idle limit and exits after its linger,
leaving no process behind. Both limits are shortened through their settings."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from core.cluster_client import LINGER_ENV, TrainingCluster
from core.stepper import IDLE_ENV
from core.store import MODEL_DIR_ENV, RunStore
from harness.chromium import screenshot, start_a_run, step_once, wait_for_app
from harness.processes import gone, process_tree
from harness.server import AppServer, shut_down_embedded_cluster
from harness.waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.cluster]

EPOCHS = 30  # the most the slider allows
STEP_IDLE = 4.0  # seconds: a step-mode network nobody clicks for this long is closed
LINGER = 3.0  # seconds the cluster stays with nothing to do
SLACK = 20.0  # closing the LocalCluster, its workers and forkserver; a loaded machine's polls


def test_a_killed_server_loses_nothing_and_a_stopped_one_leaves_no_cluster_behind(browser, tmp_path):
    env = {MODEL_DIR_ENV: str(tmp_path), IDLE_ENV: str(STEP_IDLE), LINGER_ENV: str(LINGER)}
    server = AppServer(env).start()
    page = browser.new_page()
    try:
        run_id = start_a_run(page, server.url, EPOCHS)
        store = RunStore(tmp_path)
        wait_until(lambda: (p := store.progress(run_id)) and p.epoch >= 2, what="the run's second epoch")
        cluster_pid = TrainingCluster(state_dir=tmp_path).embedded_pid()
        assert cluster_pid is not None and os.getsid(cluster_pid) != os.getsid(server.process.pid)

        server.kill()
        epoch_at_kill = store.progress(run_id).epoch
        wait_until(lambda: store.progress(run_id).epoch > epoch_at_kill, what="an epoch after the kill")
        assert Path(f"/proc/{cluster_pid}").exists()  # the cluster lives on without its server

        server.start()
        page.goto(f"{server.url}/training?run={run_id}")
        wait_for_app(page)
        page.get_by_text("samples/s").wait_for(timeout=60_000)  # live again, on the same cluster
        assert TrainingCluster(state_dir=tmp_path).embedded_pid() == cluster_pid
        screenshot(page, "restart-live-again")
        page.get_by_text(f"Finished after {EPOCHS} of {EPOCHS} epochs").wait_for(timeout=180_000)
        screenshot(page, "restart-finished")
        assert store.get(run_id).result.epochs_done == EPOCHS and store.epochs_saved(run_id) == EPOCHS

        step_once(page, server.url, "units=32")  # a learner leaves a step-mode network on the cluster
        processes = process_tree(cluster_pid)
        server.stop()
        stopped = time.monotonic()
        wait_until(lambda: gone(processes), STEP_IDLE + LINGER + SLACK, "every process of the orphaned cluster to exit")
        print(f"orphaned cluster gone {time.monotonic() - stopped:.1f} s after its server stopped")
        assert not (tmp_path / ".cluster.json").exists()
    finally:
        page.close()
        server.stop()
        shut_down_embedded_cluster(env)
