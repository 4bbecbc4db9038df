"""How fast pages appear in headless Chromium, on a cold and on a warm server.

For every page: the time from navigation until its title shows (first paint) and until all its charts have
drawn, on the first visit (cold server caches) and on later visits (warm), by URL and through the sidebar.
The store holds the seed notebook's network (trained here first), so Draw & predict and Inside have a model.
Needs Debian's chromium and the test extras. Run: python bench/page_load.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.config import SEED  # noqa: E402
from core.runs import LocalReporter, TrainingRequest  # noqa: E402
from core.store import new_run_id  # noqa: E402
from core.training import run_training  # noqa: E402
from harness.chromium import chromium_browser, new_visitor  # noqa: E402
from harness.processes import process_tree_mb, server_pid  # noqa: E402
from harness.server import running_app  # noqa: E402

PAGES = {  # sidebar name: (path, title, charts)
    "Home": ("", "Digit Lab", 0),
    "Dataset": ("dataset", "Dataset", 6),
    "Model": ("model", "Model", 0),
    "Training": ("training", "Training", 0),
    "Draw & predict": ("predict", "Draw & predict", 5),
    "Inside the network": ("inside", "Inside the network", 9),
}
IDLE = "!document.querySelector('[data-testid=\"stStatusWidget\"]')"


def charts_drawn(count: int) -> str:
    return f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {count}"


def title_is(title: str) -> str:
    return f"document.querySelector('[data-testid=\"stMain\"] h1')?.innerText.trim() === {json.dumps(title)}"


def visit(page, open_page, title: str, charts: int) -> tuple[float, float]:
    """(seconds to the page's own title, seconds to every chart drawn and the script run over)."""
    started = time.perf_counter()
    open_page()
    page.wait_for_function(title_is(title), timeout=180_000)
    title = time.perf_counter() - started
    page.wait_for_function(f"{charts_drawn(charts)} && {IDLE}", timeout=180_000)
    return title, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="digitlab-pages-") as store:
        run_id = new_run_id()
        run_training(TrainingRequest(run_id, SEED, "mnist", store_root=store), LocalReporter())
        with running_app(env={"DIGITLAB_MODEL_DIR": store}) as url, chromium_browser() as browser:
            page = new_visitor(browser).new_page()
            print(f"{'page':20} {'cold: title / all drawn':>26} {'warm by URL':>22} {'warm by sidebar':>22}")
            for name, (path, title, charts) in PAGES.items():

                def by_url(path=path, title=title, charts=charts):
                    return visit(page, lambda: page.goto(f"{url}/{path}"), title, charts)

                cold = by_url()
                warm_by_url = [by_url() for _ in range(args.repeats)]
                by_link = []
                for _ in range(args.repeats):  # from a page without charts, once it is idle
                    start_path, start_title = ("model", "Model") if path == "" else ("", "Digit Lab")
                    page.goto(f"{url}/{start_path}")
                    page.wait_for_function(f"{title_is(start_title)} && {IDLE}", timeout=180_000)
                    link = page.get_by_test_id("stSidebarNav").get_by_role("link", name=name, exact=False)
                    by_link.append(visit(page, link.click, title, charts))
                print(f"{name:20} {cold[0]:10.2f} s / {cold[1]:5.2f} s {median(warm_by_url)} {median(by_link)}")
            server, cluster = process_tree_mb(server_pid(url))
            print(f"server RSS after the visits: {server:.0f} MB (cluster processes: {cluster:.0f} MB)")


def median(visits: list[tuple[float, float]]) -> str:
    return f"{statistics.median(v[0] for v in visits):9.2f} s / {statistics.median(v[1] for v in visits):5.2f} s"


if __name__ == "__main__":
    main()
