"""In headless Chromium as a phone: draw digits with a finger (touch events), and every page fits the screen."""

import pytest
from playwright.sync_api import expect

from harness.chromium import PAGES, screenshot, settle

pytestmark = pytest.mark.browser

PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 3,
    "is_mobile": True,
    "has_touch": True,
    "user_agent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/140.0.0.0 Mobile Safari/537.36",
}
# Strokes as fractions of the canvas, in the order a person draws them.
FOUR = [[(0.3, 0.15), (0.22, 0.55), (0.78, 0.55)], [(0.62, 0.15), (0.62, 0.88)]]
SEVEN_AT_THE_TOP = [[(0.2, 0.08), (0.8, 0.08)], [(0.8, 0.08), (0.45, 0.9)]]  # the stem starts in the top corner
# Records where each finger landed: on the canvas, or on something lying over it.
TOUCH_LOG = """window.__touchTargets = [];
document.addEventListener('touchstart', (event) => {
  const target = event.composedPath()[0];
  const button = target.closest ? target.closest('button') : null;
  const name = button ? 'button ' + button.getAttribute('aria-label') : target.className?.baseVal ?? target.className;
  window.__touchTargets.push(String(name));
}, true);"""


@pytest.fixture
def phone(browser, app_url):
    """A phone's browser: small screen, touch, mobile viewport."""
    with browser.browser.new_context(**PHONE) as context:
        context.add_init_script(TOUCH_LOG)
        yield context.new_page()


def touch_stroke(cdp, box: dict, points: list[tuple[float, float]], steps: int = 10) -> None:
    """One finger stroke through points given as fractions of the box, as the phone's touch screen sends it."""

    def at(x: float, y: float) -> dict:
        return {"x": box["x"] + x * box["width"], "y": box["y"] + y * box["height"], "id": 1}

    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [at(*points[0])]})
    for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
        for step in range(1, steps + 1):
            fraction = step / steps
            point = at(x0 + (x1 - x0) * fraction, y0 + (y1 - y0) * fraction)
            cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [point]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def draw_by_touch(phone, strokes) -> None:
    canvas = phone.locator("canvas.upper-canvas")
    canvas.scroll_into_view_if_needed()
    cdp = phone.context.new_cdp_session(phone)
    for stroke in strokes:
        touch_stroke(cdp, canvas.bounding_box(), stroke)
        phone.wait_for_timeout(300)
    toolbar = phone.locator(".dc-toolbar")
    assert toolbar.get_attribute("data-pinned") == "true"  # in view above the canvas: fingers cannot hover
    phone.get_by_role("button", name="Update the app with this drawing").tap()


def open_canvas(phone, app_url) -> None:
    phone.goto(f"{app_url}/predict")
    settle(phone)
    phone.locator("canvas.upper-canvas").wait_for(timeout=60_000)


@pytest.mark.parametrize(("digit", "strokes"), [("4", FOUR), ("7", SEVEN_AT_THE_TOP)], ids=["four", "seven-at-top"])
def test_a_two_stroke_digit_drawn_by_touch_reads_right(phone, app_url, digit, strokes):
    open_canvas(phone, app_url)
    draw_by_touch(phone, strokes)
    value = phone.get_by_test_id("stMetric").filter(has_text="Prediction").get_by_test_id("stMetricValue")
    landed = phone.evaluate("() => window.__touchTargets")
    assert all("upper-canvas" in target for target in landed[: len(strokes)]), (
        f"a stroke began on something lying over the canvas, not on it: {landed}"
    )
    expect(value).to_have_text(digit, timeout=60_000)  # waits past the first stroke's answer
    screenshot(phone, f"touch-{digit}-{len(strokes)}-strokes")


def test_every_page_fits_a_phone_screen_and_the_canvas_clears(phone, app_url):
    for name, path in PAGES.items():
        phone.goto(f"{app_url}/{path}")
        settle(phone)
        widths = phone.evaluate(
            """() => ({page: document.documentElement.scrollWidth, screen: window.innerWidth,
                       main: document.querySelector('[data-testid=stMain]').scrollWidth})"""
        )
        assert widths["page"] <= widths["screen"] and widths["main"] <= widths["screen"], (name, widths)
    open_canvas(phone, app_url)
    box = phone.locator("canvas.upper-canvas").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= widths["screen"], box
    draw_by_touch(phone, FOUR)
    phone.get_by_test_id("stMetric").filter(has_text="Prediction").wait_for(timeout=60_000)
    phone.get_by_role("button", name="Reset canvas & history").tap()
    phone.get_by_text("Draw a digit on the black square").wait_for(timeout=30_000)
