"""Step mode in Chromium: the time from a click on "Step" to the page showing the new batch count, for the seed
network on all of MNIST, in a real `streamlit run app.py` with its embedded cluster.

Measured inside the page (the click and the first painted frame that shows the new count), so Playwright's own
polling adds nothing. Two conditions, one step-mode network: nothing else running, then while another browser
trains the Small CNN on all 60,000 images for 30 epochs (the seed network's 30 end within the clicks): the
machine's two cores shared by the server, the run and the step-mode network.
Run: python bench/step_mode.py [--clicks 30]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.chromium import chromium_browser, new_visitor, start_a_run, wait_for_app
from harness.server import AppServer, shut_down_embedded_cluster

SMALL_CNN = "family=cnn&filters=16&units=128&optimizer=adam&learning_rate=0.005&schedule=one-cycle"
CLICK_TO_COUNT = """async ([button, expected]) => {
    const count = () => [...document.querySelectorAll('[data-testid="stMetric"]')]
        .find(metric => metric.innerText.includes('Batches trained'))
        ?.querySelector('[data-testid="stMetricValue"]')?.innerText.trim();
    const started = performance.now();
    button.click();
    await new Promise(resolve => {
        const check = () => count() === expected ? resolve() : requestAnimationFrame(check);
        check();
    });
    return performance.now() - started;
}"""


def start_step_mode(page) -> None:
    main = page.get_by_test_id("stMain")
    main.get_by_role("button", name="Start step mode").click()
    try:
        page.get_by_test_id("stMetric").filter(has_text="Batches trained").wait_for(timeout=120_000)
    except Exception:
        text = main.inner_text()
        shown = text[text.find("Step by step") :][:1200]
        raise SystemExit(f"Step mode did not start: {shown}") from None


def click_times(page, clicks: int, first: int = 1, still_training=None) -> list[float]:
    """Milliseconds from each click on Step to the new count on screen, counting from `first` (`still_training()`,
    when given, is checked right after the last click and must hold)."""
    main = page.get_by_test_id("stMain")
    times = []
    for done in range(first, first + clicks):
        button = main.get_by_role("button", name="Step", exact=True).element_handle()
        times.append(page.evaluate(CLICK_TO_COUNT, [button, f"{done:,}"]))
        page.wait_for_timeout(150)  # a person's clicks are not back to back
    if still_training is not None and not still_training():
        raise SystemExit("The training ended before the clicks did: the second measurement is not under load.")
    return times[2:]  # the first clicks warm the page's caches


def summary(times: list[float]) -> dict:
    return {
        "clicks": len(times),
        "p50_ms": round(float(np.median(times)), 1),
        "p95_ms": round(float(np.percentile(times, 95)), 1),
        "max_ms": round(max(times), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=30)
    args = parser.parse_args()
    store = tempfile.mkdtemp(prefix="digitlab-step-")
    env = {"DIGITLAB_MODEL_DIR": store}
    server = AppServer(env).start()
    results = {}
    try:
        with chromium_browser() as browser:
            page = new_visitor(browser).new_page()
            page.goto(f"{server.url}/training?view=step")
            wait_for_app(page)
            start_step_mode(page)
            results["idle"] = summary(click_times(page, args.clicks))
            print("idle", results["idle"], flush=True)
            trainer = new_visitor(browser).new_page()  # the Small CNN, 30 epochs: still training after the clicks
            start_a_run(trainer, server.url, epochs=30, images="all", query=SMALL_CNN)
            training = lambda: "samples/s" in trainer.get_by_test_id("stMain").inner_text()  # noqa: E731
            results["one training running"] = summary(click_times(page, args.clicks, args.clicks + 1, training))
            print("one training running", results["one training running"], flush=True)
    finally:
        server.stop()
        shut_down_embedded_cluster(env)
        shutil.rmtree(store, ignore_errors=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
