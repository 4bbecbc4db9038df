"""In headless Chromium: draw on the real canvas with the mouse and read the model's answer from the page."""

import pytest
from playwright.sync_api import expect

from harness.chromium import choose, draw_stroke, screenshot, wait_for_app

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
    seen = page.get_by_role("img", name="The 28x28 image the model reads")
    expect(seen).to_have_js_property("naturalWidth", 224)  # drawn, not a broken image
    expect(page.get_by_role("table", name="Probability of each digit")).to_contain_text("7")
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


def test_why_view_then_inside_the_network_replays_the_drawing_epoch_by_epoch(page, app_url, app_run):
    open_canvas(page, app_url)
    # the session's 2-epoch model, whatever other tests saved since (a 1-epoch run has no history to replay)
    choose(page, "Model", app_run)
    draw_stroke(page, [(0.25, 0.2), (0.75, 0.2), (0.45, 0.85)])
    assert prediction(page) == "7"
    page.get_by_text("Why? Show the evidence in each pixel").click()
    evidence = page.get_by_test_id("stPlotlyChart").filter(has_text="Evidence for 7")
    expect(evidence).to_have_count(1, timeout=30_000)
    expect(evidence.locator(".hm image")).to_have_count(2)  # the digit and its evidence on top
    screenshot(page, "predict-why")

    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Inside the network").click()
    wait_for_app(page)
    expect(page.get_by_role("radiogroup").filter(has_text="Your latest drawing")).to_be_visible(timeout=30_000)
    read = page.get_by_test_id("stMetric").filter(has_text="The network reads")
    expect(read.get_by_test_id("stMetricValue")).to_have_text("7", timeout=60_000)
    history = page.get_by_test_id("stPlotlyChart").filter(has_text="probability").filter(has_text="epoch").last
    history.scroll_into_view_if_needed()
    expect(history.locator(".scatterlayer .trace")).to_have_count(10, timeout=30_000)  # one line per digit
    before = page.get_by_test_id("stMain").inner_text()
    slider = page.get_by_test_id("stSlider").filter(has_text="After epoch").get_by_role("slider")
    slider.focus()
    page.keyboard.press("Home")  # back to epoch 1
    expect(slider).to_have_value("1", timeout=30_000)
    wait_for_app(page)
    page.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length >= 8", timeout=60_000)
    assert page.get_by_test_id("stMain").inner_text() != before  # pictures and numbers as they were after epoch 1
    screenshot(page, "inside-epoch-1")
    assert page.locator('[data-testid="stException"]').count() == 0


def test_a_labelled_drawing_is_counted_in_your_handwriting(page, app_url):
    open_canvas(page, app_url)
    draw_stroke(page, [(0.5, 0.15), (0.5, 0.85)])
    assert prediction(page) == "1"
    page.get_by_test_id("stMain").get_by_role("radio", name="1", exact=True).click()  # "This is a... 1"
    page.get_by_role("button", name="Keep it in my digits").click()
    page.get_by_text("Kept as a 1.").wait_for(timeout=30_000)
    page.get_by_role("tab", name="Your handwriting").click()
    panel = page.get_by_role("tabpanel", name="Your handwriting")
    panel.get_by_text("labelled digits; models read them").wait_for(timeout=30_000)
    assert "1 labelled digits" in panel.inner_text()
    screenshot(page, "your-handwriting")
