"""Start the real app and drive it in Debian's headless Chromium (Playwright)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
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
ARTIFACTS = ROOT / "artifacts" / "screenshots"


def chromium_missing_reason() -> str | None:
    """Why browser tests cannot run here, or None when they can."""
    if not Path(CHROMIUM).exists() and not shutil.which(CHROMIUM):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the playwright package is missing (pip install -r requirements-test.txt)"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def app_environment() -> dict[str, str]:
    """This process's environment, less a test's training-cluster address: the real app starts its own."""
    return {name: value for name, value in os.environ.items() if name != "DIGITLAB_DASK_SCHEDULER"}


@contextmanager
def running_app(env: dict[str, str] | None = None, startup_timeout: float = 60.0):
    """`streamlit run app.py` on a free loopback port; yields its base URL."""
    port = free_port()
    ARTIFACTS.parent.mkdir(parents=True, exist_ok=True)
    log_path = ARTIFACTS.parent / f"streamlit-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--server.port", str(port), "--server.address", "127.0.0.1"],
            cwd=ROOT, env={**app_environment(), **(env or {})}, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Streamlit did not start: {log_path.read_text()[-2000:]}")
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


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
