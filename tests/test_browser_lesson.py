"""In headless Chromium: the teacher steers the lesson from the Teacher page and learners' open pages follow
without a reload: a closed page leaves their navigation, a fixed hyperparameter is locked (a link cannot get
around it), a pushed network reaches two sidebars while a run goes on, a message shows as typed on every page."""

import re

import pytest
from playwright.sync_api import expect

from core.lesson import LessonBook
from harness.chromium import (
    add_to_multiselect,
    audit,
    blocking,
    describe,
    new_visitor,
    screenshot,
    settle,
    train_button,
    unlock_teacher_page,
    wait_for_app,
)
from harness.server import TEACHER_KEY

pytestmark = pytest.mark.browser

FOLLOW_MS = 20_000  # a page looks for new controls every 3 s, then reruns


@pytest.fixture
def teacher(browser, app_url, app_store):
    """The teacher's tab, unlocked, on the Teacher page; the lesson's controls are lifted again afterwards."""
    with new_visitor(browser.browser) as context:
        page = context.new_page()
        unlock_teacher_page(page, app_url, TEACHER_KEY)
        yield page
    LessonBook(app_store).file.path.unlink(missing_ok=True)


def learner_on(browser, url: str):
    context = new_visitor(browser.browser)
    page = context.new_page()
    page.goto(url)
    wait_for_app(page)
    return page


def apply(page) -> None:
    page.get_by_role("button", name="Apply to the class").click()
    expect(page.get_by_text("Applied: learners' pages follow")).to_be_visible(timeout=30_000)


def test_a_closed_page_and_fixed_epochs_reach_an_open_page_and_a_link_cannot_get_around_them(browser, teacher, app_url):
    learner = learner_on(browser, f"{app_url}/model")
    navigation = learner.get_by_test_id("stSidebarNav")
    expect(navigation.get_by_role("link", name="Leaderboard")).to_be_visible()
    add_to_multiselect(teacher, "Pages learners do not see", "Leaderboard")
    add_to_multiselect(teacher, "Hyperparameters learners may not change", "Epochs")
    fixed = teacher.get_by_test_id("stSlider").filter(has_text="Epochs").get_by_role("slider")
    fixed.focus()
    for _ in range(2):  # 5 -> 3
        teacher.keyboard.press("ArrowLeft")
    expect(fixed).to_have_value("3")
    apply(teacher)

    expect(navigation.get_by_role("link", name="Leaderboard")).to_have_count(0, timeout=FOLLOW_MS)  # no reload
    epochs = learner.get_by_test_id("stSidebar").get_by_role("slider", name="Epochs")
    expect(epochs).to_have_value("3", timeout=FOLLOW_MS)
    expect(epochs).to_be_disabled()
    screenshot(learner, "lesson-learner-locked")
    expect(teacher.get_by_test_id("stDataFrame").filter(has_text="needs a hand")).to_have_count(1, timeout=FOLLOW_MS)
    settle(teacher)
    screenshot(teacher, "lesson-teacher")  # the README's docs/teacher.png

    linked = learner_on(browser, f"{app_url}/training?epochs=30")
    expect(linked.get_by_text("Your teacher fixed epochs at 3.")).to_be_visible(timeout=30_000)  # the toast
    linked.get_by_test_id("stMain").get_by_text("2,000", exact=True).first.click()
    wait_for_app(linked)
    train_button(linked).click()
    linked.get_by_text("Finished after 3 of 3 epochs").wait_for(timeout=180_000)
    linked.goto(f"{app_url}/leaderboard")  # closed: not in the navigation, and not served by its link either
    wait_for_app(linked)
    expect(linked.get_by_role("heading", name="Leaderboard")).to_have_count(0)

    for label in ("Pages learners do not see", "may not change"):  # the one chosen of each, taken back
        teacher.get_by_test_id("stMultiSelect").filter(has_text=label).get_by_role("combobox").click()
        teacher.keyboard.press("Backspace")
        teacher.keyboard.press("Escape")
        wait_for_app(teacher)
    apply(teacher)
    expect(navigation.get_by_role("link", name="Leaderboard")).to_be_visible(timeout=FOLLOW_MS)
    expect(epochs).to_be_enabled(timeout=FOLLOW_MS)
    learner.context.close()
    linked.context.close()


def test_a_pushed_network_reaches_two_sidebars_and_a_run_in_progress_goes_on(browser, teacher, app_url):
    first, second = (learner_on(browser, f"{app_url}/training?epochs=3") for _ in range(2))
    train_button(first).click()
    first.get_by_text(re.compile(r"Epoch [123] of 3: batch")).first.wait_for(timeout=120_000)
    teacher.get_by_test_id("stSelectbox").filter(has_text="Everyone starts from").click()
    teacher.get_by_role("option", name="Small CNN", exact=True).click()
    teacher.get_by_role("button", name="Push to every sidebar").click()
    expect(teacher.get_by_text("Every learner's sidebar switches to Small CNN")).to_be_visible(timeout=30_000)
    for page in (first, second):
        sidebar = page.get_by_test_id("stSidebar")
        expect(sidebar.get_by_text("Your teacher set the network to Small CNN")).to_be_visible(timeout=FOLLOW_MS)
        expect(sidebar.get_by_role("radio", name="Convolutional (CNN)")).to_be_checked()
    first.get_by_text("Finished after 3 of 3 epochs").wait_for(timeout=300_000)  # its run was not touched
    second.get_by_test_id("stSidebar").get_by_role("button", name="Back to my settings").click()
    wait_for_app(second)
    dense = second.get_by_test_id("stSidebar").get_by_role("radio", name="Dense (the notebook's)")
    expect(dense).to_have_count(1, timeout=FOLLOW_MS)  # while the sidebar is redrawn the old radio stays beside it
    expect(dense).to_be_checked()
    settle(first)
    screenshot(first, "lesson-pushed")
    violations = audit(first)
    assert not blocking(violations), describe(blocking(violations))
    first.context.close()
    second.context.close()


def test_the_message_shows_as_typed_on_every_page(browser, teacher, app_url):
    message = "**Not bold** <b>no html</b> [no link](http://example.com)"
    teacher.get_by_label("Message to the class").fill(message)
    teacher.get_by_role("button", name="Show it").click()
    wait_for_app(teacher)
    learner = learner_on(browser, app_url)
    for path in ("", "/dataset", "/predict"):
        learner.goto(f"{app_url}{path}")
        wait_for_app(learner)
        alert = learner.get_by_test_id("stAlert").filter(has_text="Not bold")
        alert.wait_for(timeout=30_000)
        assert alert.locator("p").inner_text().replace("\u200b", "") == message  # as typed
        assert alert.locator("b, strong, a").count() == 0
    screenshot(learner, "lesson-message")
    learner.context.close()
