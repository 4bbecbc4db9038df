"""A class at work: ten browser sessions drawing digits on Draw & predict while two trainings run.

Each drawing session clears the canvas, draws a digit with the mouse, waits for the Prediction and looks at it
for 1.5-3 s (a person's pace), again and again; the sessions join two seconds apart, as a class does.
Printed: the time from mouse-up to the new Prediction on the page (p50, p95), the server's own time per stroke
(the page's "The server answered in" caption), errors, what the two trainings achieved meanwhile, the CPU time
of the web server, the training cluster and Chromium, and the memory of the server and the cluster. The
Chromium tabs share the machine's cores with the server and the trainings: on a small machine, mouse-up to
Prediction includes their wait for a core, which a class's own laptops would not add. With --server-core the
web server (and its training cluster) runs on one core and Chromium on the others, as if the browsers ran
elsewhere: the server's own time per stroke, without a renderer competing for its core.

With --class-learners N, one Chromium tab draws while bench/class_load.py's N simulated learners (speaking
Streamlit's protocol, no browser each; --trainings of them keep a full-MNIST run training) use the same server:
mouse-up to Prediction in a real browser under a class's load, beside the class's own per-stroke numbers.

The app runs on a fresh store holding the seed notebook's network, trained here first (full MNIST, 5 epochs).
Needs Debian's chromium and the test extras.
Run: python bench/load.py [--sessions 10] [--strokes 12] [--trainings 2] [--server-core]
     python bench/load.py --class-learners 30 [--trainings 2] [--strokes 12] [--seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import random
import re
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
from harness.chromium import CHROMIUM, CHROMIUM_FLAGS  # noqa: E402
from harness.processes import cpu_seconds, percentile, process_tree_mb, server_pid  # noqa: E402
from harness.server import ARTIFACTS, running_app  # noqa: E402

DIGITS = {  # strokes as fractions of the canvas
    "1": [[(0.52, 0.15), (0.48, 0.85)]],
    "7": [[(0.25, 0.2), (0.75, 0.2), (0.45, 0.86)]],
    "4": [[(0.3, 0.15), (0.25, 0.6), (0.75, 0.6)], [(0.62, 0.3), (0.62, 0.88)]],
}
JOIN_SECONDS = 2.0  # between one session's arrival and the next
LOOK_SECONDS = (1.5, 3.0)  # a person looks at the answer before drawing the next digit
SERVER_TIME = re.compile(r"The server answered in ([\d.]+) ms")


# Timed inside Chromium: each mouse-up (the canvas component is drawn in the page itself, not in an iframe), and
# the frame in which a Prediction appears (the first animation frame after the change: when it is painted).
IN_PAGE_MARKS = """(() => {
  window.__mouseUps = [];
  window.__predictionsPainted = [];
  window.addEventListener('mouseup', () => window.__mouseUps.push(performance.now()), true);
  let shown = false;
  new MutationObserver(() => {
    const metric = [...document.querySelectorAll('[data-testid=stMetric]')]
      .some((element) => element.textContent.includes('Prediction'));
    if (metric && !shown) requestAnimationFrame(() => window.__predictionsPainted.push(performance.now()));
    shown = metric;
  }).observe(document, {childList: true, subtree: true, characterData: true});
})()"""


@dataclasses.dataclass
class Stroke:
    seconds: float  # mouse-up to the Prediction shown, as Playwright sees it (its own round trips included)
    server_ms: float | None
    sent_seconds: float | None  # mouse-up to the drawing leaving the browser (the canvas component waits first)
    painted_seconds: float | None = None  # mouse-up to the Prediction painted, timed inside Chromium


LAST_MARKS = "[window.__mouseUps.at(-1) ?? null, window.__predictionsPainted.at(-1) ?? null]"


async def in_page_seconds(page) -> float | None:
    """The last mouse-up to the last Prediction painted, timed inside Chromium."""
    for _ in range(20):  # the paint comes in the animation frame after the change Playwright saw
        up, painted = await page.evaluate(LAST_MARKS)
        if up is not None and painted is not None and painted > up:
            return (painted - up) / 1000
        await asyncio.sleep(0.05)
    return None


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


async def drawing_session(
    browser, url: str, index: int, strokes: int, results: list[Stroke], errors: list[str]
) -> None:
    await asyncio.sleep(JOIN_SECONDS * index)
    pace = random.Random(index)
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    await context.add_init_script(IN_PAGE_MARKS)
    page = await context.new_page()
    sent: list[float] = []  # when the browser sent a drawing (a message of over 1 kB) to the server
    page.on(
        "websocket",
        lambda socket: socket.on(
            "framesent", lambda frame: sent.append(time.perf_counter()) if len(frame) > 1000 else None
        ),
    )
    try:
        await page.goto(f"{url}/predict", timeout=120_000)
        await page.locator("canvas.upper-canvas").wait_for(timeout=120_000)
        prompt = page.get_by_text("Draw a digit on the black square")
        metric = page.get_by_test_id("stMetric").filter(has_text="Prediction")
        for stroke in range(strokes):
            digit = list(DIGITS)[stroke % len(DIGITS)]
            await prompt.wait_for(timeout=60_000)  # a blank canvas
            await draw(page, DIGITS[digit])
            released = time.perf_counter()
            await metric.wait_for(timeout=60_000)
            seconds = time.perf_counter() - released
            caption = await page.get_by_text(SERVER_TIME).inner_text()
            leaving = next((moment - released for moment in sent if moment >= released), None)
            painted = await in_page_seconds(page)
            results.append(Stroke(seconds, float(SERVER_TIME.search(caption).group(1)), leaving, painted))
            await asyncio.sleep(pace.uniform(*LOOK_SECONDS))
            await page.get_by_role("button", name="Reset canvas & history").click()
        if await page.get_by_test_id("stException").count():
            errors.append("an exception box on the page")
    except Exception as error:
        errors.append(f"{type(error).__name__}: {str(error).splitlines()[0][:120]}")
        with contextlib.suppress(Exception):  # what that browser showed, to look at
            await page.screenshot(path=str(ARTIFACTS / f"load-error-{index}.png"), full_page=True)
    finally:
        await context.close()


async def start_training(browser, url: str):
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{url}/training?epochs=30")
    await page.get_by_test_id("stMain").get_by_role("button", name="Train", exact=True).click()
    await page.get_by_text("samples/s").wait_for(timeout=180_000)
    return context, page


async def run(url: str, server: int, sessions: int, strokes: int, trainings: int):
    """The strokes, the errors, what each training was doing at the end, and the CPU seconds each side used."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        trainers = [await start_training(browser, url) for _ in range(trainings)]
        results: list[Stroke] = []
        errors: list[str] = []
        started, cpu_before = time.perf_counter(), cpu_seconds(server)
        await asyncio.gather(
            *(drawing_session(browser, url, index, strokes, results, errors) for index in range(sessions))
        )
        cpu = {side: used - cpu_before[side] for side, used in cpu_seconds(server).items()}
        print(f"{len(results)} strokes in {time.perf_counter() - started:.0f} s")
        training = []
        for context, page in trainers:
            text = await page.get_by_test_id("stMain").inner_text()
            training.append(next((line for line in text.splitlines() if "samples/s" in line), "not training"))
            stop = page.get_by_test_id("stMain").get_by_role("button", name="Stop", exact=True)
            if await stop.is_enabled():
                await stop.click()
            await context.close()
        await browser.close()
    return results, errors, training, cpu


async def one_tab_in_a_class(
    url: str, server: int, store: str, learners: int, trainings: int, strokes: int, seconds: float
):
    """One Chromium tab drawing `strokes` digits while a simulated class of `learners` uses the server."""
    from playwright.async_api import async_playwright

    from harness.drawing import make_pool
    from harness.simulated_class import run_class

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        results: list[Stroke] = []
        errors: list[str] = []

        async def tab():
            await asyncio.sleep(min(15.0, seconds / 4))  # once the class has arrived
            await drawing_session(browser, url, 0, strokes, results, errors)

        _, klass = await asyncio.gather(
            tab(), run_class(url, learners, trainings, seconds, [server], store, make_pool())
        )
        await browser.close()
    return results, errors, klass


def print_painted(results: list[Stroke]) -> None:
    if painted := sorted(stroke.painted_seconds * 1000 for stroke in results if stroke.painted_seconds is not None):
        print(
            f"mouse-up to Prediction painted, timed inside Chromium: p50 {statistics.median(painted):.0f} ms, "
            f"p95 {percentile(painted, 95):.0f} ms (n={len(painted)}; without Playwright's own round trips)"
        )


def class_main(args) -> None:
    """--class-learners: one real tab under a simulated class."""
    from bench.class_load import report
    from harness.simulated_class import prepare_store

    with tempfile.TemporaryDirectory(prefix="digitlab-load-") as store:
        prepare_store(store)
        with running_app(env={"DIGITLAB_MODEL_DIR": store}) as url:
            pid = server_pid(url)
            results, errors, klass = asyncio.run(
                one_tab_in_a_class(url, pid, store, args.class_learners, args.trainings, args.strokes, args.seconds)
            )
            report(klass, store)
    seconds = sorted(stroke.seconds * 1000 for stroke in results)
    print(
        f"one Chromium tab among {args.class_learners} simulated learners ({args.trainings} training): "
        f"{len(results)} strokes, {len(errors)} errors"
    )
    for error in errors:
        print(f"error: {error}")
    if seconds:
        server = sorted(stroke.server_ms for stroke in results if stroke.server_ms is not None)
        p50, p95 = statistics.median(seconds), percentile(seconds, 95)
        print(
            f"mouse-up to Prediction: p50 {p50:.0f} ms, p95 {p95:.0f} ms, max {seconds[-1]:.0f} ms; the page's "
            f"own server time p50 {statistics.median(server):.1f} ms"
        )
        print_painted(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--strokes", type=int, default=12, help="per session")
    parser.add_argument("--trainings", type=int, default=2, help="runs of 30 epochs on all of MNIST meanwhile")
    parser.add_argument("--server-core", action="store_true", help="the server on one core, Chromium on the others")
    parser.add_argument("--class-learners", type=int, help="one tab draws among this many simulated learners")
    parser.add_argument("--seconds", type=float, default=60, help="how long the simulated class stays")
    args = parser.parse_args()
    if args.class_learners:
        class_main(args)
        return
    cores = sorted(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(prefix="digitlab-load-") as store:
        run_id = new_run_id()
        progress = run_training(TrainingRequest(run_id, SEED, "mnist", store_root=store), LocalReporter())
        print(f"seed model ready: test accuracy {progress.result.test_accuracy:.2%}")
        if args.server_core:
            os.sched_setaffinity(0, cores[:1])  # inherited by the server, its threads and its cluster...
        with running_app(env={"DIGITLAB_MODEL_DIR": store}) as url:
            os.sched_setaffinity(0, cores[1:] if args.server_core else cores)  # ...and these by Chromium
            pid = server_pid(url)
            before = process_tree_mb(pid)
            results, errors, training, cpu = asyncio.run(run(url, pid, args.sessions, args.strokes, args.trainings))
            after = process_tree_mb(pid)
    seconds = sorted(stroke.seconds * 1000 for stroke in results)
    server = sorted(stroke.server_ms for stroke in results if stroke.server_ms is not None)
    print(
        f"{args.sessions} sessions drawing while {args.trainings} trainings run: {len(results)} strokes, "
        f"{len(errors)} errors"
    )
    for error in errors:
        print(f"error: {error}")
    if not results:
        return
    print(f"mouse-up to Prediction: p50 {statistics.median(seconds):.0f} ms, p95 {percentile(seconds, 95):.0f} ms")
    print_painted(results)
    waits = sorted(stroke.sent_seconds * 1000 for stroke in results if stroke.sent_seconds is not None)
    if waits:
        print(
            f"of which before the drawing leaves the browser: p50 {statistics.median(waits):.0f} ms "
            "(streamlit-drawable-canvas sends 200 ms after the last change)"
        )
    print(f"server time per stroke: p50 {statistics.median(server):.1f} ms, p95 {percentile(server, 95):.1f} ms")
    for line in training:
        print(f"training meanwhile: {line}")
    print("CPU seconds while they drew: " + ", ".join(f"{side} {seconds:.0f}" for side, seconds in cpu.items()))
    print(
        f"memory, web server: {before[0]:.0f} MB before, {after[0]:.0f} MB after; training cluster and workers: "
        f"{before[1]:.0f} MB before, {after[1]:.0f} MB after"
    )


if __name__ == "__main__":
    main()
