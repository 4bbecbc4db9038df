"""In headless Chromium: every page opens from the navigation, and the Dataset page draws its charts."""

import pytest

from harness.chromium import screenshot, settle, wait_for_app

pytestmark = pytest.mark.browser

NAVIGATION = {
    "Home": "Digit Lab",
    "Dataset": "Dataset",
    "Model": "Model",
    "Training": "Training",
    "Draw & predict": "Draw & predict",
}
ERROR_BOXES = '[data-testid="stException"], [data-testid="stAlertContentError"]'


def test_every_page_opens_from_the_navigation(page, app_url):
    page.goto(app_url)
    wait_for_app(page)
    for link, title in NAVIGATION.items():
        page.get_by_test_id("stSidebarNav").get_by_text(link, exact=True).click()
        page.get_by_test_id("stMain").get_by_role("heading", name=title, level=1).wait_for(timeout=60_000)
        wait_for_app(page)
        screenshot(page, f"page-{link.split()[0].lower()}")
        assert page.locator(ERROR_BOXES).count() == 0, f"{link} shows an error"


def test_dataset_page_renders_its_plotly_charts(page, app_url):
    page.goto(f"{app_url}/dataset")
    settle(page)  # every chart drawn, the page still for two seconds
    assert page.locator(".js-plotly-plot .main-svg").count() >= 6
    assert page.locator(".js-plotly-plot .bars .point").count() >= 20  # class bars and the pixel histogram
    assert page.locator(".js-plotly-plot .hm image").count() >= 3  # sample grid, mean images, one image up close
    assert page.locator(".js-plotly-plot .scatterlayer .point").count() >= 3000  # the PCA map
    assert "5 0 4 1 9 2 1 3 1 4" in page.get_by_test_id("stMain").inner_text()
    screenshot(page, "dataset")
    assert page.locator(ERROR_BOXES).count() == 0
