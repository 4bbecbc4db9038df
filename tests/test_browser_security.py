"""In headless Chromium: the app calls no outside host, and markup in a link is shown as text, never rendered."""

from urllib.parse import quote, urlsplit

import pytest

from harness.chromium import draw_stroke, screenshot, wait_for_app

pytestmark = pytest.mark.browser

HOSTILE = {  # what a link could carry: a link, an image (the browser would fetch it) and coloured text
    "link": "[click me](http://example.com/phish)",
    "image": "![x](http://example.com/pixel.png)",
    "colour": ":red[alarm] **bold**",
}


def test_a_drawing_is_read_without_any_outside_request(page, app_url):
    """Each page's own visit is checked in test_browser_accessibility.py; here, the canvas at work."""
    app = urlsplit(app_url).netloc
    outside = []
    page.on("request", lambda request: outside.append(request.url) if urlsplit(request.url).netloc != app else None)
    page.goto(f"{app_url}/predict")
    page.locator("canvas.upper-canvas").wait_for(timeout=60_000)
    draw_stroke(page, [(0.5, 0.15), (0.5, 0.85)])
    page.get_by_test_id("stMetric").filter(has_text="Prediction").wait_for(timeout=60_000)
    assert [url for url in outside if not url.startswith(("data:", "blob:"))] == []


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_markup_in_a_link_is_shown_as_text(page, app_url, kind):
    fetched = []
    page.on(
        "request",
        lambda request: fetched.append(request.url) if urlsplit(request.url).hostname == "example.com" else None,
    )
    markup = HOSTILE[kind]
    page.goto(f"{app_url}/training?units={quote(markup)}&run={quote(markup)}")
    wait_for_app(page)
    toast = page.get_by_test_id("stToast").first
    toast.wait_for(timeout=30_000)
    page.get_by_text("The run in the link is not a run id").wait_for()
    screenshot(page, f"link-markup-{kind}")
    text = toast.inner_text()
    assert "Ignored units=" in text and ("example.com" in text or "alarm" in text)  # shown, as text
    assert page.locator('a[href*="example.com"], img[src*="example.com"]').count() == 0
    assert toast.locator("strong, [class*='red'], span[style*='color']").count() == 0
    assert fetched == []
