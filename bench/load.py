"""A class at work: ten browser sessions drawing digits on Draw & predict while two trainings run.

Each drawing session clears the canvas, draws a digit with the mouse and waits for the Prediction, again and
again. Printed: the time from mouse-up to the new Prediction on the page (p50, p95), the server's own time per
stroke (the page's "The server answered in" caption), errors, what the two trainings achieved meanwhile, and
the memory of the web server and of the training cluster before and after.

The app runs on a fresh store holding the seed notebook's network, trained here first (full MNIST, 5 epochs).
Needs Debian's chromium and the test extras. Run: python bench/load.py [--sessions 10] [--strokes 12]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.config import SEED  # noqa: E402
from core.runs import LocalReporter, TrainingRequest  # noqa: E402
from core.store import RunStore, new_run_id  # noqa: E402
from core.training import run_training  # noqa: E402
from tests.browser import CHROMIUM, CHROMIUM_FLAGS, running_app  # noqa: E402

DIGITS = {  # strokes as fractions of the canvas
    "1": [[(0.52, 0.15), (0.48, 0.85)]],
    "7": [[(0.25, 0.2), (0.75, 0.2), (0.45, 0.86)]],
    "4": [[(0.3, 0.15), (0.25, 0.6), (0.75, 0.6)], [(0.62, 0.3), (0.62, 0.88)]],
}
SERVER_TIME = re.compile(r"The server answered in ([\d.]+) ms")


@dataclasses.dataclass
class Stroke:
    seconds: float  # mouse-up to the Prediction shown
    server_ms: float | None


def process_tree_mb(pid: int) -> tuple[float, float]:
    """(RSS of the process, RSS of its descendants: the training cluster and its workers), in MB."""
    process = psutil.Process(pid)
    children = sum(child.memory_info().rss for child in process.children(recursive=True))
    return process.memory_info().rss / 2**20, children / 2**20


def server_pid(url: str) -> int:
    port = url.rsplit(":", 1)[1]
    for process in psutil.process_iter(["cmdline"]):
        if "--server.port" in (cmdline := process.info["cmdline"] or []) and port in cmdline:
            return process.pid
    raise RuntimeError("the app's process was not found")


async def draw(page, strokes) -> None:
    box = await page.locator("canvas.upper-canvas").bounding_box()
    for points in strokes:
        await page.mouse.move(box["x"] + points[0][0] * box["width"], box["y"] + points[0][1] * box["height"])
        await page.mouse.down()
        for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
            for step in range(1, 9):
                fraction = step / 8
                await page.mouse.move(
                    box["x"] + (x0 + (x1 - x0) * fraction) * box["width"],
                    box["y"] + (y0 + (y1 - y0) * fraction) * box["height"],
                )
        await page.mouse.up()


async def drawing_session(browser, url: str, strokes: int, results: list[Stroke], errors: list[str]) -> None:
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    try:
        await page.goto(f"{url}/predict")
        await page.locator("canvas.upper-canvas").wait_for(timeout=120_000)
        prompt = page.get_by_text("Draw a digit on the black square")
        metric = page.get_by_test_id("stMetric").filter(has_text="Prediction")
        for index in range(strokes):
            digit = list(DIGITS)[index % len(DIGITS)]
            await prompt.wait_for(timeout=60_000)  # a blank canvas
            await draw(page, DIGITS[digit])
            released = time.perf_counter()
            await metric.wait_for(timeout=60_000)
            seconds = time.perf_counter() - released
            caption = await page.get_by_text(SERVER_TIME).inner_text()
            results.append(Stroke(seconds, float(SERVER_TIME.search(caption).group(1))))
            await page.get_by_role("button", name="Reset canvas & history").click()
        if await page.get_by_test_id("stException").count():
            errors.append("an exception box on the page")
    except Exception as error:
        errors.append(f"{type(error).__name__}: {str(error).splitlines()[0][:120]}")
    finally:
        await context.close()


async def start_training(browser, url: str):
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{url}/training?epochs=30")
    await page.get_by_test_id("stMain").get_by_role("button", name="Train", exact=True).click()
    await page.get_by_text("samples/s").wait_for(timeout=180_000)
    return context, page


async def run(url: str, sessions: int, strokes: int) -> tuple[list[Stroke], list[str], list[str]]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        trainers = [await start_training(browser, url) for _ in range(2)]
        results: list[Stroke] = []
        errors: list[str] = []
        started = time.perf_counter()
        await asyncio.gather(*(drawing_session(browser, url, strokes, results, errors) for _ in range(sessions)))
        print(f"{len(results)} strokes in {time.perf_counter() - started:.0f} s")
        training = []
        for context, page in trainers:
            text = await page.get_by_test_id("stMain").inner_text()
            training.append(next((line for line in text.splitlines() if "samples/s" in line), "not training"))
            await page.get_by_test_id("stMain").get_by_role("button", name="Stop", exact=True).click()
            await context.close()
        await browser.close()
    return results, errors, training


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--strokes", type=int, default=12, help="per session")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="digitlab-load-") as store:
        run_id = new_run_id()
        outcome = run_training(TrainingRequest(run_id, SEED, "mnist"), LocalReporter())
        RunStore(store).save_outcome(run_id, "mnist", dataclasses.asdict(SEED), 60_000, outcome)
        print(f"seed model ready: test accuracy {outcome.progress.result.test_accuracy:.2%}")
        with running_app(env={"DIGITLAB_MODEL_DIR": store}) as url:
            pid = server_pid(url)
            before = process_tree_mb(pid)
            results, errors, training = asyncio.run(run(url, args.sessions, args.strokes))
            after = process_tree_mb(pid)
    seconds = sorted(stroke.seconds * 1000 for stroke in results)
    server = sorted(stroke.server_ms for stroke in results if stroke.server_ms is not None)
    print(f"{args.sessions} sessions drawing while 2 trainings run, {len(results)} strokes, {len(errors)} errors")
    print(f"mouse-up to Prediction: p50 {statistics.median(seconds):.0f} ms, p95 {percentile(seconds, 95):.0f} ms")
    print(f"server time per stroke: p50 {statistics.median(server):.1f} ms, p95 {percentile(server, 95):.1f} ms")
    for line in training:
        print(f"training meanwhile: {line}")
    for error in errors:
        print(f"error: {error}")
    print(f"memory, web server: {before[0]:.0f} MB before, {after[0]:.0f} MB after; training cluster and workers: "
          f"{before[1]:.0f} MB before, {after[1]:.0f} MB after")  # fmt: skip


def percentile(values: list[float], share: float) -> float:
    return values[min(len(values) - 1, round(share / 100 * (len(values) - 1)))]


if __name__ == "__main__":
    main()
