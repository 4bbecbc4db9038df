"""The README's recipe for an existing Dask cluster, run as written (the real `dask scheduler` and `dask worker`
CLIs and the app, as separate processes), and a web server killed -9 in the middle of a run on it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest
from distributed import Client
from playwright.sync_api import expect

from core.store import RunStore
from harness.chromium import screenshot, start_a_run, wait_for_app
from harness.server import ARTIFACTS, AppServer, app_environment, free_port, readme_lines
from harness.waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.cluster]

EPOCHS = (
    30  # the most the slider allows; on 10,000 images long enough to kill the server and start it again while it trains
)


def as_here(line: str, port: int, models: Path) -> str:
    """The line with this machine's scheduler address and shared folder in place of the README's examples."""
    return (
        line.replace("scheduler:8786", f"127.0.0.1:{port}")
        .replace("--port 8786", f"--port {port}")
        .replace("/shared/models", str(models))
    )


@contextlib.contextmanager
def started(line: str, cwd: Path, name: str):
    """A README command line in a shell of its own process group; killed with its children at the end."""
    ARTIFACTS.parent.mkdir(parents=True, exist_ok=True)
    environment = {key: value for key, value in app_environment().items() if not key.startswith("DIGITLAB_")}
    with open(ARTIFACTS.parent / f"{name}.log", "wb") as log:
        process = subprocess.Popen(
            ["bash", "-c", line], cwd=cwd, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def test_the_readme_recipe_trains_on_its_worker_and_a_killed_server_loses_nothing(browser, tmp_path):
    port, models = free_port(), tmp_path / "shared-models"
    recipe = readme_lines("cluster-recipe")  # the README's lines for an existing cluster, as written
    scheduler_line, worker_line, server_line = (as_here(line, port, models) for line in recipe)
    elsewhere = tmp_path / "not-the-project"  # the scheduler and the worker find `core` installed, not in their cwd
    elsewhere.mkdir()
    with (
        started(scheduler_line, elsewhere, "recipe-scheduler"),
        started(worker_line, elsewhere, "recipe-worker") as worker,
    ):
        server = AppServer(env={"PATH": os.environ["PATH"]}, line=server_line).start()
        page = browser.new_page()
        try:
            run_id = start_a_run(page, server.url, EPOCHS)
            store = RunStore(models)
            training = wait_until(lambda: (p := store.progress(run_id)) and p.epoch >= 2 and p, 120, "two epochs")
            worker_pid = int(training.worker.split("@")[0])
            assert os.getpgid(worker_pid) == worker.pid  # it trains on the README's `dask worker`
            with Client(f"tcp://127.0.0.1:{port}", timeout="10s") as client:  # its preload: temporary files kept
                [temporary] = client.run(tempfile.gettempdir).values()  # in its own folder, removed with it
            assert Path(temporary).name.startswith("worker-") and any(Path(temporary).glob("__autograph_*.py"))

            server.kill()  # a crash in the middle of the lesson
            epoch_at_kill = store.progress(run_id).epoch
            wait_until(lambda: store.progress(run_id).epoch > epoch_at_kill + 1, 60, "the run to train on, serverless")

            server.start()  # the same command, as after a crash
            page.goto(f"{server.url}/training?run={run_id}")
            wait_for_app(page)
            page.get_by_text("samples/s").wait_for(timeout=60_000)  # live again
            assert f"Run {run_id}" in page.get_by_test_id("stMain").inner_text()
            screenshot(page, "recipe-live-after-restart")
            page.get_by_text(f"Finished after {EPOCHS} of {EPOCHS} epochs").wait_for(timeout=180_000)
            expect(page.get_by_test_id("stMetric").filter(has_text="Test accuracy")).to_be_visible()
        finally:
            page.close()
            server.stop()
    record = RunStore(models).get(run_id)
    assert record.result.epochs_done == EPOCHS and RunStore(models).epochs_saved(run_id) == EPOCHS
    assert (models / run_id / "model.keras").is_file() and any((models / run_id / "logs").rglob("events.out.*"))
