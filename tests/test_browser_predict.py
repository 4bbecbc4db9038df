"""In headless Chromium: draw on the real canvas with the mouse and read the model's answer from the page."""

import pytest
from playwright.sync_api import expect

from tests.browser import draw_stroke, screenshot, wait_for_app

pytestmark = pytest.mark.browser

CANVAS_TIMEOUT_MS = 60_000


def open_canvas(page, app_url) -> None:
    page.goto(f"{app_url}/predict")
    wait_for_app(page)
    page.locator("canvas.upper-canvas").wait_for(timeout=CANVAS_TIMEOUT_MS)


def prediction(page) -> str:
    metric = page.get_by_test_id("stMetric").filter(has_text="Prediction")
    metric.wait_for(timeout=60_000)
    return metric.get_by_test_id("stMetricValue").inner_text().strip()


def test_blank_canvas_prompts_to_draw(page, app_url):
    open_canvas(page, app_url)
    assert "Draw a digit on the black square" in page.get_by_test_id("stMain").inner_text()
    assert page.get_by_test_id("stMetric").filter(has_text="Prediction").count() == 0


def test_a_vertical_stroke_reads_one(page, app_url):
    open_canvas(page, app_url)
    draw_stroke(page, [(0.5, 0.15), (0.5, 0.85)])
    assert prediction(page) == "1"
    screenshot(page, "predict-one")


def test_a_drawn_seven_reads_seven(page, app_url):
    open_canvas(page, app_url)
    draw_stroke(page, [(0.25, 0.2), (0.75, 0.2), (0.45, 0.85)])
    assert prediction(page) == "7"
    seen = page.get_by_test_id("stPlotlyChart").filter(has_text="What the model sees")
    assert seen.count() == 1
    screenshot(page, "predict-seven")


def test_clicking_a_confusion_cell_shows_those_mistakes(page, app_url):
    open_canvas(page, app_url)
    chart = page.get_by_test_id("stPlotlyChart").filter(has_text="Confusion matrix")
    chart.scroll_into_view_if_needed()
    cells = chart.locator(".nsewdrag").first.bounding_box()
    x, y = cells["x"] + cells["width"] * 0.95, cells["y"] + cells["height"] * 0.45  # predicted 9, true 4
    page.mouse.move(x, y)
    page.mouse.click(x, y)
    page.get_by_text("such mistakes", exact=False).or_(page.get_by_text("No mistakes of that kind")).wait_for()
    expect(page.get_by_role("combobox", name="True digit")).to_have_value("4", timeout=30_000)
    expect(page.get_by_role("combobox", name="Predicted as")).to_have_value("9")
    gallery = page.get_by_test_id("stPlotlyChart").last
    expect(gallery).to_contain_text(", true 4", timeout=30_000)  # plotly draws after the script run
    titles = [line for line in gallery.inner_text().splitlines() if ", true " in line]
    assert titles and all(title.startswith("9, true 4") for title in titles)
    screenshot(page, "predict-mistakes")


def test_undo_and_reset_follow_the_canvas(page, app_url):
    open_canvas(page, app_url)
    draw_stroke(page, [(0.5, 0.15), (0.5, 0.85)])
    assert prediction(page) == "1"
    metric = page.get_by_test_id("stMetric").filter(has_text="Prediction")
    one = metric.text_content()
    draw_stroke(page, [(0.2, 0.5), (0.8, 0.5)])  # a crossing bar: a different drawing, another answer
    expect(metric).not_to_have_text(one, timeout=30_000)
    page.get_by_role("button", name="Undo").click()
    expect(metric).to_have_text(one, timeout=30_000)  # the same single stroke: the same probabilities
    page.get_by_role("button", name="Reset canvas & history").click()
    page.get_by_text("Draw a digit on the black square").wait_for(timeout=30_000)
    assert page.get_by_test_id("stMetric").filter(has_text="Prediction").count() == 0
    screenshot(page, "predict-reset")
