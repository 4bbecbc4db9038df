"""How fast pages appear in headless Chromium, on a cold and on a warm server.

For every page: the time from navigation until its title shows (first paint) and until all its charts have
drawn, on the first visit (cold server caches) and on later visits (warm), by URL and through the sidebar.
The store holds the seed notebook's network (trained here first), so Draw & predict and Inside have a model.
Needs Debian's chromium and the test extras. Run: python bench/page_load.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.load import process_tree_mb, server_pid  # noqa: E402
from core.config import SEED  # noqa: E402
from core.runs import LocalReporter, TrainingRequest  # noqa: E402
from core.store import RunStore, new_run_id  # noqa: E402
from core.training import run_training  # noqa: E402
from tests.browser import chromium_browser, new_visitor, running_app  # noqa: E402

PAGES = {"Home": ("", 0), "Dataset": ("dataset", 6), "Model": ("model", 0), "Training": ("training", 0),
         "Draw & predict": ("predict", 5), "Inside the network": ("inside", 9)}  # fmt: skip
TITLE = "document.querySelector('[data-testid=\"stMain\"] h1')"
IDLE = "!document.querySelector('[data-testid=\"stStatusWidget\"]')"


def charts_drawn(count: int) -> str:
    return f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {count}"


def visit(page, open_page, charts: int) -> tuple[float, float]:
    """(seconds to the title, seconds to every chart drawn and the script run over)."""
    started = time.perf_counter()
    open_page()
    page.wait_for_function(TITLE, timeout=180_000)
    title = time.perf_counter() - started
    page.wait_for_function(f"{charts_drawn(charts)} && {IDLE}", timeout=180_000)
    return title, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="digitlab-pages-") as store:
        run_id = new_run_id()
        outcome = run_training(TrainingRequest(run_id, SEED, "mnist"), LocalReporter())
        RunStore(store).save_outcome(run_id, "mnist", dataclasses.asdict(SEED), 60_000, outcome)
        with running_app(env={"DIGITLAB_MODEL_DIR": store}) as url, chromium_browser() as browser:
            page = new_visitor(browser).new_page()
            print(f"{'page':20} {'cold: title / all drawn':>26} {'warm by URL':>22} {'warm by sidebar':>22}")
            for name, (path, charts) in PAGES.items():
                cold = visit(page, lambda path=path: page.goto(f"{url}/{path}"), charts)
                by_url = [
                    visit(page, lambda path=path: page.goto(f"{url}/{path}"), charts) for _ in range(args.repeats)
                ]
                by_link = []
                for _ in range(args.repeats):
                    page.goto(f"{url}/{'model' if path != 'model' else 'dataset'}")
                    page.wait_for_function(f"{TITLE} && {IDLE}", timeout=180_000)
                    link = page.get_by_test_id("stSidebarNav").get_by_role("link", name=name, exact=False)
                    by_link.append(visit(page, link.click, charts))
                print(f"{name:20} {cold[0]:10.2f} s / {cold[1]:5.2f} s {median(by_url)} {median(by_link)}")
            server, cluster = process_tree_mb(server_pid(url))
            print(f"server RSS after the visits: {server:.0f} MB (cluster processes: {cluster:.0f} MB)")


def median(visits: list[tuple[float, float]]) -> str:
    return f"{statistics.median(v[0] for v in visits):9.2f} s / {statistics.median(v[1] for v in visits):5.2f} s"


if __name__ == "__main__":
    main()
