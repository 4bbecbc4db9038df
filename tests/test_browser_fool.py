"""In headless Chromium: draw a digit, switch on "Fool it", and see the fooling image, the change and the
probabilities before and after; the opened section passes axe; Inside shows the same attack on the drawing."""

import pytest
from playwright.sync_api import expect

from harness.chromium import audit, blocking, describe, draw_a_seven, screenshot, settle, wait_for_app

pytestmark = pytest.mark.browser

FOOL_SWITCH = "Fool it: change each pixel a little to change the answer"


def chart(page, text: str):
    return page.get_by_test_id("stPlotlyChart").filter(has_text=text)


def test_a_drawn_seven_is_fooled_and_the_attack_is_drawn(page, app_url):
    draw_a_seven(page, app_url)
    assert page.get_by_test_id("stMetric").filter(has_text="After the attack it reads").count() == 0

    page.get_by_text(FOOL_SWITCH).click()
    after = page.get_by_test_id("stMetric").filter(has_text="After the attack it reads")
    after.wait_for(timeout=30_000)
    slider = page.get_by_test_id("stSlider").filter(has_text="Epsilon").get_by_role("slider")
    slider.focus()
    for _ in range(10):  # 0.1 -> 0.2
        page.keyboard.press("ArrowRight")
    expect(slider).to_have_value("0.2", timeout=30_000)
    page.get_by_test_id("stMain").get_by_text("PGD (10 small steps)").click()
    main = page.get_by_test_id("stMain")
    expect(main).to_contain_text("Fooled: the network now reads a", timeout=30_000)
    expect(main).to_contain_text("No pixel moved by more than 0.2", timeout=30_000)
    settle(page)
    assert after.get_by_test_id("stMetricValue").inner_text().strip() != "7"
    expect(chart(page, "The fooling image").locator(".hm image")).to_have_count(1)  # plotly drew the heatmap
    expect(chart(page, "x stronger").locator(".hm image")).to_have_count(1)
    expect(chart(page, "x stronger").locator(".colorbar")).to_have_count(1)
    bars = chart(page, "before").filter(has_text="after")
    expect(bars.locator(".barlayer .trace")).to_have_count(2)  # before and after, side by side
    chart(page, "The fooling image").scroll_into_view_if_needed()
    screenshot(page, "fool-predict")
    violations = audit(page)
    assert not blocking(violations), describe(blocking(violations))

    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Inside the network").click()
    wait_for_app(page)
    heading = page.get_by_role("heading", name="Fool the network")
    heading.wait_for(timeout=60_000)
    expect(page.get_by_role("radiogroup").filter(has_text="Your latest drawing")).to_be_visible(timeout=30_000)
    expect(page.get_by_test_id("stMetric").filter(has_text="After the attack it reads")).to_have_count(1)
    settle(page)
    heading.scroll_into_view_if_needed()
    screenshot(page, "fool-inside")
    assert page.locator('[data-testid="stException"]').count() == 0
