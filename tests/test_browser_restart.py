"""The web server killed -9 in the middle of a run on the embedded training cluster (the default): the cluster and
the run live on, and the restarted server shows the run live, then finished, with all its epochs."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from core.jobs import TrainingCluster
from core.store import MODEL_DIR_ENV, RunStore
from tests.browser import AppServer, screenshot, shut_down_embedded_cluster, start_a_run, wait_for_app

pytestmark = [pytest.mark.browser, pytest.mark.cluster]

EPOCHS = 30  # the most the slider allows


def test_a_killed_server_loses_nothing_on_the_embedded_cluster(browser, tmp_path):
    env = {MODEL_DIR_ENV: str(tmp_path)}
    server = AppServer(env).start()
    page = browser.new_page()
    try:
        run_id = start_a_run(page, server.url, EPOCHS)
        store = RunStore(tmp_path)
        deadline = time.monotonic() + 120
        while (progress := store.progress(run_id)) is None or progress.epoch < 2:
            assert time.monotonic() < deadline, "the run did not reach its second epoch"
            time.sleep(0.2)
        cluster_pid = TrainingCluster(state_dir=tmp_path).embedded_pid()
        assert cluster_pid is not None and os.getsid(cluster_pid) != os.getsid(server.process.pid)

        server.kill()
        epoch_at_kill = store.progress(run_id).epoch
        time.sleep(5)  # the old embedded cluster followed its server out within 5 s
        assert Path(f"/proc/{cluster_pid}").exists() and store.progress(run_id).epoch > epoch_at_kill

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
