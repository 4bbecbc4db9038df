"""In headless Chromium: two learners with names on the leaderboard, and the teacher's view stopping a run."""

import re

import pytest
from playwright.sync_api import expect

from harness.chromium import new_visitor, screenshot, start_a_run, train_button, wait_for_app
from harness.server import TEACHER_KEY

pytestmark = pytest.mark.browser


def give_name(page, url: str, name: str) -> None:
    page.goto(f"{url}/leaderboard")
    wait_for_app(page)
    field = page.get_by_test_id("stSidebar").get_by_role("textbox", name="Your name")
    field.fill(name)
    field.press("Enter")
    wait_for_app(page)
    expect(field).to_have_value(name)


def grid_cells(page) -> list[str]:
    """The leaderboard's cells (the grid draws on a canvas; its accessible table has the text)."""
    table = page.get_by_test_id("stDataFrame").first
    table.locator("[role=gridcell]").first.wait_for(state="attached", timeout=60_000)
    return table.locator("[role=gridcell]").all_text_contents()


def test_two_learners_train_and_both_show_on_the_leaderboard_with_their_names(browser, other_visitor, app_url):
    third_visitor = new_visitor(browser.browser)  # two browsers of their own: no run of an earlier test is theirs
    page = third_visitor.new_page()
    learners = [(page, "Ada <b>L</b>"), (other_visitor.new_page(), "Bo [x](http://e.vil)")]  # names are text
    for tab, name in learners:
        give_name(tab, app_url, name)
        tab.goto(f"{app_url}/training?epochs=1")  # 2,000 images: it may end before its progress ever shows
        wait_for_app(tab)
        tab.get_by_test_id("stMain").get_by_text("2,000", exact=True).first.click()
        wait_for_app(tab)
        train_button(tab).click()
    for tab, _ in learners:
        tab.get_by_text("Finished after 1 of 1 epochs").wait_for(timeout=180_000)
    page.goto(f"{app_url}/leaderboard")
    wait_for_app(page)
    expect(page.get_by_text(re.compile("^Best here: "))).to_be_visible(timeout=30_000)
    cells = grid_cells(page)
    for _, name in learners:
        assert name in cells  # shown as typed, never as HTML or Markdown
    screenshot(page, "leaderboard")
    page.get_by_test_id("stMain").get_by_text("Only mine").click()
    wait_for_app(page)
    expect(page.get_by_test_id("stDataFrame").first.locator("[role=gridcell]", has_text="Bo [x]")).to_have_count(0)
    assert learners[0][1] in grid_cells(page)
    third_visitor.close()


def test_the_teacher_page_refuses_a_wrong_key_and_stops_a_learners_run_with_the_right_one(page, other_visitor, app_url):
    learner = other_visitor.new_page()
    run_id = start_a_run(learner, app_url, epochs=30, images="all")
    page.goto(f"{app_url}/teacher")
    wait_for_app(page)
    key = page.get_by_label("Teacher key")
    key.fill("not-the-key")
    page.get_by_test_id("stMain").get_by_role("button", name="Open", exact=True).click()
    expect(page.get_by_text("That key does not open the teacher's view.")).to_be_visible()
    key.fill(TEACHER_KEY)
    page.get_by_test_id("stMain").get_by_role("button", name="Open", exact=True).click()
    expect(page.get_by_role("heading", name="Training now")).to_be_visible(timeout=30_000)
    expect(page.get_by_role("combobox", name="Run to stop")).to_have_value(re.compile(f"^{run_id}: "))
    screenshot(page, "teacher")
    page.get_by_role("button", name="Stop it").click()
    expect(page.get_by_text(f"Run {run_id} stops after its current step")).to_be_visible()
    learner.get_by_text(re.compile(r"Stopped after \d+ of 30 epochs")).wait_for(timeout=60_000)
