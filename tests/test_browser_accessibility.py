"""In headless Chromium: axe-core and outside requests on every page once drawn; the main controls by keyboard."""

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from harness.chromium import PAGES, audit, blocking, describe, draw_stroke, settle

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("name", PAGES)
def test_page_has_no_serious_accessibility_violation_and_calls_no_outside_host(page, app_url, name):
    app = urlsplit(app_url).netloc
    outside = []
    page.on("request", lambda request: outside.append(request.url) if urlsplit(request.url).netloc != app else None)
    page.goto(f"{app_url}/{PAGES[name]}")
    settle(page)
    assert [url for url in outside if not url.startswith(("data:", "blob:"))] == []  # offline classrooms work
    violations = audit(page)
    print(f"axe on /{PAGES[name]}:\n{describe(violations)}")
    assert not blocking(violations), describe(blocking(violations))


@pytest.mark.parametrize("width", [1280, 1024])
def test_predict_page_with_an_answer_has_no_serious_accessibility_violation(page, app_url, width):
    """Drawn on, at a desktop's width and a laptop's: the canvas (280 px) never sits in a narrower column, where its
    frame would scroll sideways, a scroll region no keyboard reaches, and cut off the canvas."""
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{app_url}/predict")
    settle(page)
    draw_stroke(page, [(0.5, 0.15), (0.5, 0.85)])
    page.get_by_test_id("stMetric").filter(has_text="Prediction").wait_for(timeout=60_000)
    settle(page)
    violations = audit(page)
    print(f"axe on /predict with an answer, {width} px wide:\n{describe(violations)}")
    assert not blocking(violations), describe(blocking(violations))


# ---- The keyboard ------------------------------------------------------------------------------------------

FOCUSED = """() => {
  let element = document.activeElement;
  while (element && element.shadowRoot && element.shadowRoot.activeElement) element = element.shadowRoot.activeElement;
  if (!element || element === document.body) return null;
  return (element.getAttribute('aria-label') || element.innerText || '').trim().split('\\n').pop();
}"""


def tab_to(page, label: str, limit: int = 60) -> int:
    """Press Tab until the focused element (inside shadow roots too) is labelled `label`; returns the presses."""
    path = []
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        path.append(page.evaluate(FOCUSED))
        if path[-1] == label:
            return presses
    raise AssertionError(f"Tab never reached {label!r}; focus went through {path}")


def start_tabbing_at_the_title(page) -> None:
    """A click on the page title: the next Tab goes to the first control after it, as a reader's would."""
    page.get_by_test_id("stMain").locator("h1").first.click()


def test_train_and_stop_work_from_the_keyboard(page, app_url):
    page.goto(f"{app_url}/training?epochs=30")
    settle(page)
    page.get_by_test_id("stMain").get_by_text("2,000", exact=True).first.click()
    settle(page)
    start_tabbing_at_the_title(page)
    tab_to(page, "Train")
    page.keyboard.press("Enter")
    stop = page.get_by_test_id("stMain").get_by_role("button", name="Stop", exact=True)
    expect(stop).to_be_enabled(timeout=60_000)
    page.get_by_text("samples/s").wait_for(timeout=120_000)  # under way: what Stop ends is a real run
    tab_to(page, "Stop", limit=10)  # Train is disabled now; the next stop along is Stop
    page.keyboard.press("Space")
    page.get_by_text("Stopped after").wait_for(timeout=120_000)


def test_the_canvas_toolbar_works_from_the_keyboard(page, app_url):
    page.goto(f"{app_url}/predict")
    settle(page)
    prediction = page.get_by_test_id("stMetric").filter(has_text="Prediction")
    prompt = page.get_by_text("Draw a digit on the black square")
    for button, key in (("Undo", "Space"), ("Reset canvas & history", "Enter")):
        draw_stroke(page, [(0.5, 0.15), (0.5, 0.85)])
        prediction.wait_for(timeout=60_000)
        settle(page)
        page.mouse.move(5, 5)  # off the canvas: no hover, so only keyboard focus can show the toolbar
        start_tabbing_at_the_title(page)
        tab_to(page, button)
        expect(page.locator(".dc-toolbar")).to_have_css("opacity", "1")  # shown while a button has focus
        page.keyboard.press(key)
        prompt.wait_for(timeout=30_000)
        expect(prediction).to_have_count(0)
