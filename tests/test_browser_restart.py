"""The web server killed -9 in the middle of a run on the embedded training cluster (the default): the cluster and
the run live on, and the restarted server shows the run live, then finished, with all its epochs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.cluster_client import TrainingCluster
from core.store import MODEL_DIR_ENV, RunStore
from harness.chromium import screenshot, start_a_run, wait_for_app
from harness.server import AppServer, shut_down_embedded_cluster
from harness.waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.cluster]

EPOCHS = 30  # the most the slider allows


def test_a_killed_server_loses_nothing_on_the_embedded_cluster(browser, tmp_path):
    env = {MODEL_DIR_ENV: str(tmp_path)}
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
    finally:
        page.close()
        server.stop()
        shut_down_embedded_cluster(env)
    assert store.get(run_id).result.epochs_done == EPOCHS and store.epochs_saved(run_id) == EPOCHS
