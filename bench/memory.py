"""Memory of a server that a class uses: one learner walks every page and trains the seed network three times,
then ten more browsers sit idle on the Home page, then nobody trains for a while.

Prints the web server's RSS and the PSS of its training cluster (scheduler, nannies, forkserver and workers:
pages they share counted once) after each step, the growth between the first and the third run, the growth per
idle session, and what is left once the idle workers have been closed. Needs Debian's chromium and the test extras.
Run: python bench/memory.py [--idle-sessions 10]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.cluster_client import IDLE_WORKER_SECONDS  # noqa: E402
from harness.chromium import chromium_browser, new_visitor, wait_for_app  # noqa: E402
from harness.processes import process_tree_mb, server_pid  # noqa: E402
from harness.server import running_app  # noqa: E402

CHARTS_DRAWN = "document.querySelectorAll('.js-plotly-plot .main-svg').length >= 6"


def report(label: str, pid: int) -> tuple[float, float]:
    server, cluster = process_tree_mb(pid)
    print(
        f"{label:48} server {server:6.0f} MB   cluster + workers (PSS) {cluster:6.0f} MB   "
        f"total {server + cluster:6.0f} MB"
    )
    return server, cluster


def train_seed(page, url: str) -> None:
    page.goto(f"{url}/training")
    wait_for_app(page)
    page.get_by_test_id("stMain").get_by_role("button", name="Train", exact=True).click()
    page.get_by_text("Finished after 5 of 5 epochs").wait_for(timeout=600_000)
    wait_for_app(page)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--idle-sessions", type=int, default=10)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="digitlab-memory-") as store,
        running_app(env={"DIGITLAB_MODEL_DIR": store}) as url,
        chromium_browser() as browser,
    ):
        pid = server_pid(url)
        report("started", pid)
        learner = new_visitor(browser).new_page()
        for path in ("", "dataset", "model"):
            learner.goto(f"{url}/{path}")
            wait_for_app(learner)
            if path == "dataset":
                learner.wait_for_function(CHARTS_DRAWN, timeout=120_000)
        report("after Home, Dataset and Model", pid)
        totals = []
        for run in range(1, 4):
            train_seed(learner, url)
            totals.append(sum(report(f"after training the seed network, run {run}", pid)))
        learner.goto(f"{url}/predict")
        learner.locator("canvas.upper-canvas").wait_for(timeout=120_000)
        wait_for_app(learner)
        learner.goto(f"{url}/inside")
        wait_for_app(learner)
        learner.wait_for_function(CHARTS_DRAWN, timeout=120_000)
        server_after_walk, _ = report("after Draw & predict and Inside (every page)", pid)
        print(f"growth between the first and the third run: {totals[2] - totals[0]:+.0f} MB (server + workers)")

        before, _ = report("before the idle sessions", pid)
        idle = []
        for _ in range(args.idle_sessions):
            page = new_visitor(browser).new_page()
            page.goto(url)
            wait_for_app(page)
            idle.append(page)
        time.sleep(5)
        after, _ = report(f"with {args.idle_sessions} more idle sessions", pid)
        print(f"growth per idle session: {(after - before) / args.idle_sessions:+.1f} MB")
        print(f"server after one learner's walk: {server_after_walk:.0f} MB")

        time.sleep(IDLE_WORKER_SECONDS + 15)
        report(f"after {IDLE_WORKER_SECONDS + 15} s without training", pid)


if __name__ == "__main__":
    main()
