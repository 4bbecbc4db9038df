"""In headless Chromium: a sweep of 4 small runs on the Training page finishes and draws its parallel coordinates."""

import pytest
from playwright.sync_api import expect

from harness.chromium import screenshot, wait_for_app
from harness.server import ARTIFACTS

pytestmark = pytest.mark.browser


def test_a_sweep_of_four_small_runs_finishes_and_draws_its_parallel_coordinates(page, app_url):
    page.goto(f"{app_url}/training?units=32&epochs=1&view=sweep")
    wait_for_app(page)
    page.locator(".st-key-sweep_size").get_by_text("2,000 images", exact=True).click()
    wait_for_app(page)
    start = page.locator(".st-key-start_sweep").get_by_role("button")
    expect(start).to_contain_text("Start sweep (4 runs)")
    start.click()
    section = page.get_by_test_id("stMain")
    section.get_by_text("4 runs on 2,000 mnist images").first.wait_for(timeout=60_000)
    section.get_by_text("4 runs on 2,000 mnist images: 4 finished.").wait_for(timeout=300_000)
    wait_for_app(page)
    chart = page.locator(".st-key-sweep_chart")
    expect(chart.locator(".js-plotly-plot .parcoords")).to_be_visible(timeout=30_000)
    expect(chart.locator(".parcoords .axis-title")).to_have_count(3)  # units, learning rate, test accuracy
    expect(chart.get_by_text("test accuracy", exact=True)).to_be_visible()
    expect(chart.get_by_text("Learning rate (log)", exact=True)).to_be_visible()
    expect(chart.locator(".parcoords .tick text").filter(has_text="★")).to_have_count(1)  # the best run
    assert chart.locator("canvas.gl-canvas").count() >= 1  # the lines: WebGL
    expect(section.get_by_text("Best so far")).to_be_visible()
    assert page.locator('[data-testid="stException"]').count() == 0
    screenshot(page, "sweep-finished")
    chart.screenshot(path=ARTIFACTS / "sweep-chart.png")
