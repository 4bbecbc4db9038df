"""Shared fixtures: the real datasets, and the real app in headless Chromium."""

from __future__ import annotations

import os

import pytest

from tests.browser import TEACHER_KEY, chromium_browser, chromium_missing_reason, new_visitor, running_app


@pytest.fixture(scope="session")
def mnist():
    from core.data import load_dataset

    return load_dataset("mnist")


@pytest.fixture(scope="session")
def digits():
    from core.data import load_dataset

    return load_dataset("digits")


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    """A store folder for the whole session's app (never the user's ./models)."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(autouse=True)
def isolated_store(monkeypatch, model_dir):
    monkeypatch.setenv("DIGITLAB_MODEL_DIR", str(model_dir))


def pytest_collection_modifyitems(items):
    """Tests that kill the session's training cluster run last: the pages' cached job board keeps its address."""
    items.sort(key=lambda item: item.get_closest_marker("kills_session_cluster") is not None)


@pytest.fixture(scope="session")
def training_cluster(tmp_path_factory):
    """One embedded training cluster for the session's tests (two workers at most, kept while tests run)."""
    from core.jobs import TrainingCluster, close_all

    cluster = TrainingCluster(
        address=None, max_workers=2, idle_seconds=3600, state_dir=tmp_path_factory.mktemp("session-cluster")
    )
    yield cluster
    close_all()  # the pages' connections to it too
    cluster.shutdown()


@pytest.fixture(autouse=True)
def shared_cluster(training_cluster, monkeypatch):
    """Pages that train use the session's cluster (as an external scheduler): its workers are already warm.
    (The browser tests' app starts its own: tests/browser.py leaves this address out of its environment.)"""
    from core.jobs import SCHEDULER_ENV

    monkeypatch.setenv(SCHEDULER_ENV, training_cluster.scheduler_address)
    return training_cluster


@pytest.fixture(scope="session")
def trained_run(model_dir):
    """A small real MNIST model in the session's store, trained here, so no page trains a starter model itself."""
    import dataclasses

    from core.config import SEED
    from core.runs import LocalReporter, TrainingRequest
    from core.store import new_run_id
    from core.training import run_training

    config = dataclasses.replace(SEED, units=128, epochs=2)
    run_id = new_run_id()
    run_training(TrainingRequest(run_id, config, "mnist", 10_000, store_root=str(model_dir)), LocalReporter())
    return run_id


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
def app_url(browser, model_dir, trained_run):
    """The real app, started once for all browser tests, with a small trained model already in its store."""
    with running_app(env={"DIGITLAB_MODEL_DIR": str(model_dir), "DIGITLAB_TEACHER_KEY": TEACHER_KEY}) as url:
        yield url


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
