"""Dataset page load in headless Chromium: first visit (cold server caches) and a repeated visit,
timed until all six plotly charts have drawn, plus the server's memory (RSS) after each.

Needs Debian's chromium and playwright (the test extras). Run: python bench/page_load.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.browser import chromium_browser, running_app, wait_for_app  # noqa: E402

CHARTS_DRAWN = "document.querySelectorAll('.js-plotly-plot .main-svg').length >= 6"


def server_rss_mb(port: int) -> float:
    """Resident memory of the streamlit process listening on `port`, from /proc."""
    for status in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if f"--server.port\0{port}" in status.read_text():
                for line in (status.parent / "status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            continue
    return float("nan")


def main() -> None:
    with running_app() as url, chromium_browser() as browser:
        port = int(url.rsplit(":", 1)[1])
        print(f"server started: RSS {server_rss_mb(port):.0f} MB")
        page = browser.new_page()
        page.goto(url)  # the home page first, as a visitor would
        wait_for_app(page)
        for visit in ("first", "repeated", "repeated"):
            started = time.perf_counter()
            page.goto(f"{url}/dataset")
            wait_for_app(page)
            page.wait_for_function(CHARTS_DRAWN, timeout=120_000)
            seconds = time.perf_counter() - started
            print(
                f"{visit:9} Dataset page: {seconds:5.2f} s to all charts drawn; server RSS {server_rss_mb(port):.0f} MB"
            )


if __name__ == "__main__":
    main()
