"""In headless Chromium with the system set to dark: the app, its charts and its contrast follow."""

import pytest

from harness.chromium import PAGES, audit, blocking, describe, screenshot, settle

pytestmark = pytest.mark.browser

DARK_ENOUGH = 0.1  # relative luminance (0 black, 1 white); Streamlit's dark background is about 0.008

COLOURS = """() => {
  const colour = (element) => element ? getComputedStyle(element).backgroundColor : null;
  return {
    app: colour(document.querySelector('[data-testid=stApp]')),
    plotly: [...document.querySelectorAll('[data-testid=stPlotlyChart] .main-svg:first-of-type')].map(colour),
    graphviz: [...document.querySelectorAll('[data-testid=stGraphVizChart] svg > g > polygon:first-of-type')]
      .map((polygon) => polygon.getAttribute('fill')),
  };
}"""


def luminance(css: str) -> float:
    """Relative luminance of an `rgb()`/`rgba()` colour (WCAG); transparent counts as what lies behind it."""
    red, green, blue = (float(part) / 255 for part in css[css.index("(") + 1 : -1].split(",")[:3])
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (red, green, blue)]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def transparent(css: str | None) -> bool:
    return css in (None, "none", "transparent", "rgba(0, 0, 0, 0)")


@pytest.fixture
def dark_page(browser, app_url):
    """A visitor whose system is set to dark mode."""
    with browser.browser.new_context(viewport={"width": 1400, "height": 1000}, color_scheme="dark") as context:
        yield context.new_page()


@pytest.mark.parametrize("name", PAGES)
def test_dark_mode_follows_the_system_on_every_page(dark_page, app_url, name):
    dark_page.goto(f"{app_url}/{PAGES[name]}")
    settle(dark_page)
    colours = dark_page.evaluate(COLOURS)
    assert luminance(colours["app"]) < DARK_ENOUGH, f"the page stays light in dark mode: {colours['app']}"
    for chart in colours["plotly"]:  # theme="streamlit" gives the chart the page's background, or none
        assert transparent(chart) or chart == colours["app"], f"a plotly chart keeps its own background: {colours}"
    for fill in colours["graphviz"]:
        assert transparent(fill), f"the layer graph keeps a {fill} background in dark mode"
    violations = audit(dark_page)
    print(f"axe on /{PAGES[name]} (dark):\n{describe(violations)}")
    assert not blocking(violations), describe(blocking(violations))
    screenshot(dark_page, f"dark-{name}")
