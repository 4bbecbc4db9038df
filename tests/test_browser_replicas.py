"""Two replicas of the app on one model folder, and nginx in front of them with docs/deploy.md's configuration."""

from __future__ import annotations

import collections
import contextlib
import os
import re
import shutil
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import expect

from harness.chromium import (
    add_to_multiselect,
    new_visitor,
    screenshot,
    start_a_run,
    stop_button,
    train_button,
    unlock_teacher_page,
    wait_for_app,
)
from harness.proxy import nginx_binary as installed_nginx
from harness.proxy import running_nginx
from harness.server import ARTIFACTS, TEACHER_KEY, AppServer, shut_down_embedded_cluster

pytestmark = [pytest.mark.browser, pytest.mark.cluster]

COOKIE_SECRET = "digit-lab-replicas-test-secret"


@dataclass
class Replicas:
    a: AppServer
    b: AppServer
    model_dir: Path


@pytest.fixture(scope="module")
def replicas(tmp_path_factory):
    """Two `streamlit run app.py` on one fresh model folder with one cookie secret: they share one embedded
    training cluster, found through the folder."""
    model_dir = tmp_path_factory.mktemp("replica-models")
    env = {
        "DIGITLAB_MODEL_DIR": str(model_dir),
        "DIGITLAB_TEACHER_KEY": TEACHER_KEY,
        "MALLOC_ARENA_MAX": "2",
        "LD_PRELOAD": "libtcmalloc_minimal.so.4",
    }
    servers: list[AppServer] = []  # the environment docs/deploy.md exports
    try:
        for _ in range(2):  # Streamlit refuses --server.cookieSecret as a flag: the environment carries it
            servers.append(AppServer({**env, "STREAMLIT_SERVER_COOKIE_SECRET": COOKIE_SECRET}).start())
        yield Replicas(servers[0], servers[1], model_dir)
    finally:
        for server in servers:
            server.stop()
        shut_down_embedded_cluster(env)


def saved_run_cells(page, url: str) -> list[str]:
    """The Saved runs table's cells on one replica (the grid draws on a canvas; its accessible table has the text)."""
    page.goto(f"{url}/training?view=saved")
    wait_for_app(page)
    table = page.get_by_test_id("stDataFrame").first
    table.locator("[role=gridcell]").first.wait_for(state="attached", timeout=60_000)
    return table.locator("[role=gridcell]").all_text_contents()


def test_a_lesson_control_set_on_one_replica_reaches_a_learner_on_the_other(browser, replicas):
    from core.lesson import LessonBook

    with new_visitor(browser.browser) as learner_context, new_visitor(browser.browser) as teacher_context:
        learner, teacher = learner_context.new_page(), teacher_context.new_page()
        learner.goto(f"{replicas.b.url}/model")
        wait_for_app(learner)
        leaderboard = learner.get_by_test_id("stSidebarNav").get_by_role("link", name="Leaderboard")
        expect(leaderboard).to_be_visible()
        unlock_teacher_page(teacher, replicas.a.url, TEACHER_KEY)
        add_to_multiselect(teacher, "Pages learners do not see", "Leaderboard")
        teacher.get_by_role("button", name="Apply to the class").click()
        applied = time.monotonic()
        expect(leaderboard).to_have_count(0, timeout=20_000)
        reached = time.monotonic() - applied
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "lesson-replica-seconds.txt").write_text(f"{reached:.2f}\n")  # the closing note's number
        assert LessonBook(replicas.model_dir).read().hidden_pages == ("leaderboard",)
        LessonBook(replicas.model_dir).set(hidden_pages=())
        expect(leaderboard).to_be_visible(timeout=20_000)


def test_a_run_started_on_one_replica_is_watched_and_stopped_on_the_other(browser, replicas):
    a, b = replicas.a, replicas.b
    owner = browser.new_page()
    run_id = start_a_run(owner, a.url, epochs=30, images="all")  # still training while B is checked (10,000
    # images: ~1 s an epoch here, and the checks on B took until epoch 18 of 30; all 60,000 leave a wide margin)

    with new_visitor(browser.browser) as stranger_context:  # someone else opens the run's link on replica B
        stranger = stranger_context.new_page()
        stranger.goto(f"{b.url}/training?run={run_id}")
        wait_for_app(stranger)
        stranger.get_by_text("samples/s").wait_for(timeout=60_000)  # live, from the folder the worker writes
        stranger.get_by_text("started in another browser").wait_for()
        expect(stop_button(stranger)).to_be_disabled()
        assert f"Run {run_id}" in stranger.get_by_test_id("stMain").inner_text()
        expect(stranger.get_by_text(re.compile(r"^Training now: 1 run$"))).to_be_visible()
        stranger.locator("[data-testid=stPlotlyChart] .main-svg").first.wait_for(timeout=30_000)  # the live curve
        screenshot(stranger, "replicas-stranger-on-b")

    on_b = browser.new_page()  # the owner's browser on replica B: the same cookie, so the run is theirs there
    on_b.goto(f"{b.url}/training?run={run_id}")
    wait_for_app(on_b)
    on_b.get_by_text("samples/s").wait_for(timeout=60_000)
    expect(on_b.get_by_text("started in another browser")).to_have_count(0)
    expect(stop_button(on_b)).to_be_enabled()
    stop_button(on_b).click()
    on_b.get_by_text("Stopped after").wait_for(timeout=120_000)
    screenshot(on_b, "replicas-owner-stopped-on-b")
    owner.get_by_text("Stopped after").wait_for(timeout=60_000)  # the page on A sees the same run end

    for url in (a.url, b.url):  # one run list: the stopped run is saved, and both replicas list it
        cells = saved_run_cells(on_b, url)
        assert run_id in cells and "stopped" in cells, f"run {run_id} is not in the Saved runs table on {url}: {cells}"
    on_b.close()
    owner.close()


# ---- nginx in front: docs/deploy.md's configuration, run as written -----------------------------------------


def nginx_binary() -> str:
    """nginx's path; without it the test skips (fails under CI=true, where .ci/run installs it)."""
    found = installed_nginx()
    if found is None:
        reason = "nginx is not installed (apt-get install nginx)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"The nginx test must run in CI, but {reason}.")
        pytest.skip(f"nginx test skipped: {reason}.")
    return found


@pytest.fixture(scope="module")
def proxy(replicas, tmp_path_factory):
    """nginx with docs/deploy.md's configuration in front of the two replicas; yields its URL and its folder."""
    binary = nginx_binary()
    folder = tmp_path_factory.mktemp("nginx")
    try:
        with running_nginx(binary, folder, (replicas.a.port, replicas.b.port)) as url:
            yield url, folder
    finally:
        for name in ("nginx.conf", "error.log", "access.log"):  # to read when it fails
            with contextlib.suppress(OSError):
                shutil.copy(folder / name, ARTIFACTS.parent / f"nginx-{name}")


def test_through_nginx_a_run_trains_live_and_a_3_mb_model_uploads(browser, replicas, proxy, tmp_path):
    url, _ = proxy
    with new_visitor(browser.browser) as context:
        page = context.new_page()
        page.goto(f"{url}/training?epochs=3")  # the page's websocket goes through nginx
        wait_for_app(page)
        page.get_by_test_id("stMain").get_by_text("2,000", exact=True).first.click()
        wait_for_app(page)
        train_button(page).click()  # (not start_a_run: this run may end, in ~2 s, before "samples/s" ever shows)
        page.get_by_text("Finished after 3 of 3 epochs").wait_for(timeout=120_000)
        run_id = page.url.split("run=")[1].split("&")[0]
        page.locator("[data-testid=stPlotlyChart] .main-svg").first.wait_for(timeout=60_000)  # the live curve
        assert page.locator('[data-testid="stException"]').count() == 0
        screenshot(page, "replicas-through-nginx")

        model = tmp_path / "through-nginx.keras"  # over nginx's default 1 MB body limit, under the app's 50 MB
        shutil.copy(replicas.model_dir / run_id / "model.keras", model)
        assert model.stat().st_size > 2**20, f"the model file is too small to test the limit: {model.stat().st_size}"
        page.goto(f"{url}/training?view=saved")
        wait_for_app(page)
        page.get_by_text("Upload a model").click()
        expander = page.get_by_test_id("stExpander").filter(has_text="Upload a model")
        with page.expect_response(lambda response: "/_stcore/upload_file/" in response.url) as upload:
            expander.locator('input[type="file"]').set_input_files(str(model))
        assert upload.value.ok, f"nginx or the replica refused the upload: HTTP {upload.value.status}"
        page.get_by_text("through-nginx.keras reads mnist images").wait_for(timeout=90_000)
        screenshot(page, "replicas-upload-through-nginx")


def upstream_of(url: str, client: str, log: Path) -> str:
    """Ask the proxy as `client` (an address); the replica that answered, from the access log."""

    def answered() -> list[str]:
        return [fields[1] for fields in map(str.split, log.read_text().splitlines()) if fields[0] == client]

    before = len(answered())
    request = urllib.request.Request(f"{url}/_stcore/health", headers={"X-Forwarded-For": client})
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert answer.status == 200
    for _ in range(100):  # the log line is written once the request is over
        if len(upstreams := answered()) > before:
            return upstreams[-1]
        time.sleep(0.05)
    raise AssertionError(f"no access log line for {client}")


def test_each_client_stays_on_one_replica_and_a_classroom_network_spreads_over_both(replicas, proxy):
    url, folder = proxy
    replica_addresses = {f"127.0.0.1:{replicas.a.port}", f"127.0.0.1:{replicas.b.port}"}
    chosen = {}
    for host in range(10, 34):  # 24 pupils on one 192.168.1.x network
        client = f"192.168.1.{host}"
        first, second = upstream_of(url, client, folder / "access.log"), upstream_of(url, client, folder / "access.log")
        assert first == second, f"{client} went to {first}, then to {second}: not sticky"
        chosen[client] = first
    assert set(chosen.values()) == replica_addresses, f"one network's clients all went to {set(chosen.values())}"
    shares = collections.Counter(chosen.values())
    assert min(shares.values()) >= 11, f"the class is split {dict(shares)}: one replica carries more than half"
