"""Fixtures: the real datasets; a model folder of each test's own; the session's small trained run, copied into it
on request; the real training cluster for the tests that ask for it (asking marks them `cluster`); the real app in
headless Chromium.

No test meets another's leftovers: each starts on an empty model folder of its own, and the quick loop (`-m "not
browser and not cluster"`) starts no Dask process at all (a test that would start one fails and says which fixture
to ask for). The browser tests of one process share one app and its folder, each in browser contexts of its own
(its own owner), asserting only about what it made, and leave the app idle for the next. `--order reverse` or
`--order random:SEED` runs the tests in another order, to check that none needs another's leftovers.
"""

from __future__ import annotations

import dataclasses
import os
import random
import shutil
import subprocess

import pytest

from core.cluster_client import SCHEDULER_ENV, TrainingCluster
from core.store import MODEL_DIR_ENV, RunStore
from harness.chromium import chromium_browser, chromium_missing_reason, new_visitor
from harness.server import TEACHER_KEY, running_app
from harness.waiting import wait_until

CLUSTER_FIXTURES = {"cluster", "training_cluster"}


def pytest_addoption(parser):
    parser.addoption("--order", default="file", help="file (the default), reverse, or random:SEED")


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects: the marks given here count
def pytest_collection_modifyitems(config, items):
    for item in items:
        if CLUSTER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.cluster)
        # Under `-n 2 --dist loadgroup` (the default): a browser test file in one process (its app, its Chromium),
        # the cluster tests in one process (one warm cluster), the rest spread over both.
        if item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.xdist_group(f"browser-{item.path.stem}"))
        elif item.get_closest_marker("cluster"):
            item.add_marker(pytest.mark.xdist_group("cluster"))
    order = config.getoption("--order")
    if order == "reverse":
        items.reverse()
    elif order.startswith("random"):
        random.Random(order.partition(":")[2] or "0").shuffle(items)


@pytest.fixture(scope="session")
def mnist():
    from core.data import load_dataset

    return load_dataset("mnist")


@pytest.fixture(scope="session")
def digits():
    from core.data import load_dataset

    return load_dataset("digits")


@pytest.fixture(autouse=True)
def model_dir(tmp_path, monkeypatch):
    """This test's own model folder, empty (never the user's ./models): the pages and core use it."""
    folder = tmp_path / "models"
    folder.mkdir()
    monkeypatch.setenv(MODEL_DIR_ENV, str(folder))
    return folder


@pytest.fixture(scope="session")
def session_run(tmp_path_factory) -> tuple[str, str]:
    """A small real MNIST model, trained once for the session: (its folder, its run id). Tests take copies."""
    from core.config import SEED
    from core.runs import LocalReporter, TrainingRequest
    from core.store import new_run_id
    from core.training import run_training

    folder = tmp_path_factory.mktemp("session-run")
    run_id = new_run_id()
    config = dataclasses.replace(SEED, units=128, epochs=2)
    run_training(TrainingRequest(run_id, config, "mnist", 10_000, store_root=str(folder)), LocalReporter())
    return str(folder), run_id


@pytest.fixture
def trained_run(session_run, model_dir) -> str:
    """The session's trained run, copied into this test's model folder (so no page trains a starter model)."""
    folder, run_id = session_run
    shutil.copytree(os.path.join(folder, run_id), model_dir / run_id)
    return run_id


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


# ---- The training cluster ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def training_cluster(tmp_path_factory):
    """One embedded training cluster for the session's cluster tests (two workers at most, kept while tests run)."""
    from core.cluster_client import close_all

    cluster = TrainingCluster(
        address=None, max_workers=2, idle_seconds=3600, state_dir=tmp_path_factory.mktemp("session-cluster")
    )
    yield cluster
    close_all()  # the pages' connections to it too
    cluster.shutdown()


@pytest.fixture
def cluster(training_cluster, monkeypatch):
    """The session's cluster, for the pages too (as an external scheduler): its workers are already warm."""
    monkeypatch.setenv(SCHEDULER_ENV, training_cluster.scheduler_address)
    return training_cluster


@pytest.fixture(autouse=True)
def no_cluster_unless_asked(request, monkeypatch):
    """Outside the cluster and browser tests no Dask process starts: a page that would start the embedded cluster
    finds none (as when it is unreachable), and the test fails afterwards, saying which fixture to ask for."""
    if request.node.get_closest_marker("cluster") or request.node.get_closest_marker("browser"):
        yield
        return
    started = []

    def refuse(self):
        started.append(self.state_file)
        raise OSError("no training cluster in this test")

    monkeypatch.setattr(TrainingCluster, "_start_embedded", refuse)
    yield
    assert not started, "this test would start a Dask cluster: ask for the `cluster` fixture (it marks it cluster)"


# ---- The real app in Chromium -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium through Playwright; under CI=true a missing browser fails instead of skipping."""
    reason = chromium_missing_reason()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Browser tests must run in CI, but {reason}.")
        pytest.skip(f"Browser test skipped: {reason}.")
    with chromium_browser() as chromium, new_visitor(chromium) as context:
        yield context


@pytest.fixture(scope="session")
def app_store(tmp_path_factory, session_run):
    """The browser tests' app's model folder, with the session's trained run in it."""
    folder, run_id = session_run
    store = tmp_path_factory.mktemp("app-models")
    shutil.copytree(os.path.join(folder, run_id), store / run_id)
    return store


@pytest.fixture(scope="session")
def app_url(browser, app_store):
    """The real app, started once for all browser tests, with a small trained model already in its store."""
    with running_app(env={MODEL_DIR_ENV: str(app_store), "DIGITLAB_TEACHER_KEY": TEACHER_KEY}) as url:
        yield url


@pytest.fixture(scope="session")
def app_cluster(app_store):
    """The browser tests' app's training cluster, as a test process sees it (never started from here)."""
    cluster = TrainingCluster(state_dir=app_store)
    yield cluster
    cluster.close()


@pytest.fixture(autouse=True)
def app_left_idle(request):
    """A browser test leaves the shared app idle: the runs it left training are stopped, and the next test starts
    once no worker of the app's cluster is busy (step mode, say, needs a free one)."""
    yield
    if "app_url" not in request.fixturenames:
        return
    from core.run_board import RunBoard

    cluster = request.getfixturevalue("app_cluster")
    board = RunBoard(RunStore(request.getfixturevalue("app_store")), cluster)
    for progress in board.live():
        board.stop(progress.run_id, "", teacher=True)

    def idle() -> bool:
        client = cluster.existing_client()
        return client is None or not any(client.processing().values())

    wait_until(idle, 180, "the app's cluster to finish what this test left it")


@pytest.fixture
def app_run(session_run) -> str:
    """The run id of the trained run in the browser tests' app."""
    return session_run[1]


@pytest.fixture
def other_visitor(browser, app_url):
    """A second person's browser: separate cookies, same app."""
    with new_visitor(browser.browser) as context:
        yield context


@pytest.fixture
def page(browser, app_url):
    page = browser.new_page()
    yield page
    page.close()
