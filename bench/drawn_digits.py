"""Draw the ten digits with the mouse on the real canvas in headless Chromium and read the page's prediction.

Each digit is one pen stroke through a few points (fractions of the canvas), like a hand on a touchpad.
Prints what each drawing was read as and how many of the ten were right, with the page's stroke-width
normalization on (its default; the caption's width found is printed) and then off. Uses the app's model store
(DIGITLAB_MODEL_DIR, default ./models): on a fresh store the page first trains the notebook's network.
Run: python bench/drawn_digits.py
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.chromium import chromium_browser, draw_stroke, screenshot, wait_for_app  # noqa: E402
from harness.server import running_app  # noqa: E402


def loop(cx: float, cy: float, rx: float, ry: float, start: float = 0.0, points: int = 28):
    """An ellipse drawn as one closed stroke, starting at angle `start`."""
    angles = [start + 2 * math.pi * i / points for i in range(points + 1)]
    return [(cx + rx * math.cos(angle), cy + ry * math.sin(angle)) for angle in angles]


DIGITS = {
    0: loop(0.5, 0.5, 0.2, 0.32, start=-math.pi / 2),
    1: [(0.52, 0.15), (0.48, 0.85)],
    2: [(0.3, 0.3), (0.4, 0.18), (0.6, 0.18), (0.7, 0.3), (0.65, 0.45), (0.3, 0.82), (0.72, 0.82)],
    3: [(0.3, 0.2), (0.6, 0.17), (0.68, 0.3), (0.48, 0.47), (0.7, 0.6), (0.64, 0.8), (0.3, 0.83)],
    4: [(0.62, 0.86), (0.62, 0.14), (0.28, 0.6), (0.76, 0.6)],
    5: [(0.7, 0.17), (0.36, 0.17), (0.33, 0.47), (0.6, 0.44), (0.7, 0.62), (0.6, 0.81), (0.3, 0.8)],
    6: [(0.62, 0.14), (0.42, 0.38), (0.33, 0.64), (0.45, 0.83), (0.62, 0.76), (0.65, 0.58), (0.5, 0.5), (0.35, 0.6)],
    7: [(0.25, 0.2), (0.75, 0.2), (0.45, 0.86)],
    8: [(0.5 + 0.18 * math.sin(2 * t), 0.5 + 0.32 * math.sin(t)) for t in (2 * math.pi * i / 40 for i in range(41))],
    9: [*loop(0.5, 0.33, 0.17, 0.17, start=0.0), (0.64, 0.6), (0.6, 0.86)],
}


NORMALIZE_LABEL = "Match MNIST's stroke width"
TRIES = 3  # on a busy machine a stroke may reach a page still being drawn: the digit is drawn again


def read_drawing(page, url: str, points: list[tuple[float, float]], normalize: bool) -> tuple[str, str, str]:
    """Draw one digit on a fresh Draw & predict page: (the prediction, how sure, the stroke-width caption)."""
    page.goto(f"{url}/predict")
    wait_for_app(page)
    page.locator("canvas.upper-canvas").wait_for(timeout=300_000)
    if not normalize:
        page.get_by_text(NORMALIZE_LABEL).click()
        time.sleep(0.5)
        wait_for_app(page)
    draw_stroke(page, points)
    metric = page.get_by_test_id("stMetric").filter(has_text="Prediction")
    metric.wait_for(timeout=60_000)
    time.sleep(0.5)
    wait_for_app(page)
    read = metric.get_by_test_id("stMetricValue").inner_text().strip()
    sure = metric.get_by_test_id("stMetricDelta").inner_text().strip()
    width = page.get_by_text("Stroke width found")
    return read, sure, width.first.inner_text().strip() if normalize and width.count() else ""


def main() -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    with running_app() as url, chromium_browser() as browser:
        page = browser.new_page()
        for normalize in (True, False):
            right = 0
            for digit, points in DIGITS.items():
                for attempt in range(TRIES):
                    try:
                        read, sure, found = read_drawing(page, url, points, normalize)
                        break
                    except PlaywrightTimeout:
                        print(f"drew {digit}: no prediction shown (try {attempt + 1} of {TRIES})")
                else:
                    read, sure, found = "nothing", "", ""
                right += read == str(digit)
                print(f"drew {digit}: read {read} ({sure}) {'ok' if read == str(digit) else 'WRONG'} {found}")
                screenshot(page, f"drawn-{digit}{'' if normalize else '-as-drawn'}")
            state = "on" if normalize else "off"
            print(f"{right} of {len(DIGITS)} drawn digits read right, stroke-width normalization {state}")


if __name__ == "__main__":
    main()
