"""In headless Chromium: the Model page draws its layer graph and shows the seed's 407,050 parameters."""

import pytest
from playwright.sync_api import expect

from harness.chromium import screenshot, wait_for_app

pytestmark = pytest.mark.browser


def test_layer_graph_and_summary_render(page, app_url):
    page.goto(f"{app_url}/model")
    wait_for_app(page)
    graph = page.get_by_test_id("stGraphVizChart").locator("svg")
    graph.wait_for(timeout=60_000)
    node_titles = [title.text_content() for title in graph.locator("g.node title").all()]
    assert node_titles == ["image", "hidden_1", "output"]
    assert graph.locator("g.edge").count() == 2
    table = page.get_by_test_id("stTable")
    assert "407,050" in table.inner_text() and "401,920" in table.inner_text()
    screenshot(page, "model")

    page.get_by_test_id("stSidebar").get_by_text("Preset").wait_for()
    page.get_by_test_id("stSidebar").get_by_role("combobox").nth(1).click()
    page.get_by_role("option", name="Wider with dropout").click()
    page.get_by_test_id("stMain").get_by_text("669,706").first.wait_for(timeout=60_000)
    expect(graph.locator("g.node")).to_have_count(6, timeout=30_000)
    assert "hidden_layers=2" in page.url and "dropout=0.3" in page.url
    screenshot(page, "model-wider")
