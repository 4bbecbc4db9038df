"""Debian's headless Chromium through Playwright: browsers and visitors, waiting for a page to settle, drawing on
the canvas, screenshots, and axe-core's accessibility audit."""

from __future__ import annotations

import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path

from harness.server import ARTIFACTS

CHROMIUM = os.environ.get("DIGITLAB_CHROMIUM", "/usr/bin/chromium")


CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium_missing_reason() -> str | None:
    """Why browser tests cannot run here, or None when they can."""
    if not Path(CHROMIUM).exists() and not shutil.which(CHROMIUM):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the playwright package is missing (pip install -r requirements-test.txt)"
    return None


@contextmanager
def chromium_browser():
    """Debian's Chromium, headless; each `new_context()` is a separate visitor with cookies of its own."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:  # Playwright gives the browser a fresh profile of its own
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def train_button(page):
    return page.get_by_test_id("stMain").get_by_role("button", name="Train", exact=True)


def stop_button(page):
    return page.get_by_test_id("stMain").get_by_role("button", name="Stop", exact=True)


def start_a_run(page, url: str, epochs: int, images: str = "10,000", query: str = "") -> str:
    """On the Training page: choose the number of epochs and images (and other hyperparameters by `query`), press
    Train, wait until it trains; its id."""
    page.goto(f"{url}/training?epochs={epochs}{'&' + query if query else ''}")
    wait_for_app(page)
    page.get_by_test_id("stMain").get_by_text(images, exact=True).first.click()  # the Train button's, not a sweep's
    wait_for_app(page)
    train_button(page).click()
    page.get_by_text("samples/s").wait_for(timeout=120_000)
    return page.url.split("run=")[1].split("&")[0]


def step_once(page, url: str, query: str = "") -> None:
    """On the Training page's Step by step view: Start step mode, then one Step, seen on screen."""
    page.goto(f"{url}/training?view=step{'&' + query if query else ''}")
    wait_for_app(page)
    main = page.get_by_test_id("stMain")
    main.get_by_role("button", name="Start step mode").click()
    page.get_by_test_id("stMetric").filter(has_text="Batches trained").wait_for(timeout=120_000)
    main.get_by_role("button", name="Step", exact=True).click()
    page.get_by_text("Epoch 1, batch 1 of ").wait_for(timeout=60_000)


def add_to_multiselect(page, label: str, option: str) -> None:
    """Choose `option` in the multiselect labelled `label` (typed to filter: long lists draw only what shows)."""
    page.get_by_test_id("stMultiSelect").filter(has_text=label).get_by_role("combobox").click()
    page.keyboard.type(option)
    page.get_by_role("option", name=option, exact=True).click()
    page.keyboard.press("Escape")
    wait_for_app(page)


def choose(page, box: str, option: str, tries: int = 3) -> None:
    """Pick the option matching `option` in the selectbox labelled `box`, typed to filter (a long list draws only
    the options in view). A rerun that redraws the box closes its list midway: the page settles and it tries again."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    field = page.get_by_test_id("stSelectbox").filter(has_text=box).get_by_role("combobox")
    for _ in range(tries):
        settle(page)
        field.click()
        page.keyboard.type(option)
        try:
            page.get_by_role("option", name=re.compile(re.escape(option))).click(timeout=10_000)
        except PlaywrightTimeoutError:
            page.keyboard.press("Escape")
            continue
        wait_for_app(page)
        if option in field.input_value():
            return
    raise AssertionError(f"could not choose {option!r} in {box!r}")


def unlock_teacher_page(page, url: str, key: str) -> None:
    """Open the Teacher page with the key."""
    page.goto(f"{url}/teacher")
    wait_for_app(page)
    page.get_by_label("Teacher key").fill(key)
    page.get_by_test_id("stMain").get_by_role("button", name="Open", exact=True).click()
    page.get_by_role("heading", name="This lesson").wait_for(timeout=30_000)


def new_visitor(browser, **options):
    """A fresh browser context: its own cookies and storage, as another person's browser."""
    return browser.new_context(viewport={"width": 1400, "height": 1000}, **options)


def screenshot(page, name: str) -> Path:
    """Keep a screenshot of the whole page as a test artefact (the viewport grows to fit it)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    viewport = page.viewport_size
    content = page.evaluate("() => document.querySelector('[data-testid=\"stMainBlockContainer\"]')?.scrollHeight || 0")
    page.set_viewport_size({"width": viewport["width"], "height": max(viewport["height"], min(content + 150, 8000))})
    page.wait_for_timeout(500)
    page.screenshot(path=path)
    page.set_viewport_size(viewport)
    return path


def wait_for_app(page, timeout_ms: int = 60_000) -> None:
    """Wait until the script run has finished and the page shows content."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_ms)
    page.wait_for_function(
        """() => {
            const app = document.querySelector('[data-testid="stApp"]');
            const status = document.querySelector('[data-testid="stStatusWidget"]');
            return app && !status && document.querySelector('[data-testid="stMain"] h1');
        }""",
        timeout=timeout_ms,
    )


def draw_stroke(page, points: list[tuple[float, float]], steps: int = 10) -> None:
    """Draw one pen stroke with the mouse on the drawing canvas, through points given as fractions of its size."""
    box = page.locator("canvas.upper-canvas").bounding_box()

    def at(x: float, y: float) -> tuple[float, float]:
        return box["x"] + x * box["width"], box["y"] + y * box["height"]

    page.mouse.move(*at(*points[0]))
    page.mouse.down()
    for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
        for step in range(1, steps + 1):
            fraction = step / steps
            page.mouse.move(*at(x0 + (x1 - x0) * fraction, y0 + (y1 - y0) * fraction))
    page.mouse.up()


PAGES = {
    "home": "",
    "dataset": "dataset",
    "model": "model",
    "training": "training",
    "predict": "predict",
    "inside": "inside",
    "leaderboard": "leaderboard",
    "teacher": "teacher",
}


BLOCKING_IMPACTS = {"serious", "critical"}


ALSO_BLOCKING = {"heading-order"}  # "moderate" for axe, but a screen reader user navigates by headings


SETTLED = """() => {
  const all = (selector) => document.querySelectorAll(selector);
  if (!document.querySelector('[data-testid=stMain] h1')) return null;
  if (document.querySelector('[data-testid=stStatusWidget], [data-testid=stSpinner], [data-testid=stSkeleton]')) {
    return null;
  }
  for (const chart of all('[data-testid=stPlotlyChart]')) if (!chart.querySelector('.main-svg')) return null;
  for (const chart of all('[data-testid=stGraphVizChart]')) if (!chart.querySelector('svg')) return null;
  return document.querySelector('[data-testid=stMain]').innerText.length + ':' + all('[data-testid=stMain] *').length;
}"""


SEVEN = [(0.25, 0.2), (0.75, 0.2), (0.45, 0.85)]  # one stroke: a 7 every trained network reads


def draw_a_seven(page, url: str) -> None:
    """Open Draw & predict, draw a 7, and wait until the page reads it as one."""
    page.goto(f"{url}/predict")
    wait_for_app(page)
    page.locator("canvas.upper-canvas").wait_for(timeout=60_000)
    draw_stroke(page, SEVEN)
    prediction = page.get_by_test_id("stMetric").filter(has_text="Prediction").get_by_test_id("stMetricValue")
    prediction.filter(has_text="7").wait_for(timeout=60_000)


def settle(page, quiet_ms: int = 600, timeout_ms: int = 90_000, poll_ms: int = 150) -> None:
    """Wait until the script run is over, every chart is drawn (plotly and graphviz draw after the run), and the
    page has stayed the same for quiet_ms: pages fill in after their first paint (a model loading, fragments)."""
    wait_for_app(page, timeout_ms)
    waited, last, same = 0, None, 0
    while waited < timeout_ms:
        now = page.evaluate(SETTLED)
        same = same + poll_ms if now is not None and now == last else 0
        if same >= quiet_ms:
            return
        last = now
        page.wait_for_timeout(poll_ms)
        waited += poll_ms
    raise AssertionError(f"{page.url} did not settle within {timeout_ms / 1000:.0f} s")


def audit(page) -> list[dict]:
    """axe-core's violations on the page as it is now."""
    from axe_playwright_python.sync_playwright import Axe

    return Axe().run(page).response["violations"]


def blocking(violations: list[dict]) -> list[dict]:
    return [v for v in violations if v["impact"] in BLOCKING_IMPACTS or v["id"] in ALSO_BLOCKING]


def describe(violations: list[dict]) -> str:
    """One line per violation, then its elements (with the measured colours for a contrast failure)."""
    lines = []
    for violation in violations:
        lines.append(f"{violation['impact']} {violation['id']}: {violation['help']} ({len(violation['nodes'])} nodes)")
        for node in violation["nodes"][:10]:
            data = (node.get("any") or [{}])[0].get("data") or {}
            colours = ""
            if "fgColor" in data:
                colours = f" [{data['fgColor']} on {data['bgColor']}: {data['contrastRatio']}:1]"
            lines.append(f"    {node['html'][:160]}{colours}")
    return "\n".join(lines) or "no violations"
