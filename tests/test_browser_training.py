"""In headless Chromium: train live, stop, reload, a killed worker, and another browser watching a run."""

import os
import re
import signal

import pytest
from playwright.sync_api import expect

from harness.chromium import screenshot, stop_button, train_button, wait_for_app
from harness.waiting import wait_until

pytestmark = pytest.mark.browser


def choose_small_slice(page) -> None:
    page.get_by_test_id("stMain").get_by_text("2,000", exact=True).first.click()  # the Train button's
    wait_for_app(page)


def test_train_watch_the_curve_and_see_test_accuracy(page, app_url):
    page.goto(f"{app_url}/training?epochs=2")
    wait_for_app(page)
    choose_small_slice(page)
    train_button(page).click()
    # the test accuracy shows already while the run is saved; the run has ended only when it says so
    page.get_by_text("Finished after 2 of 2 epochs").wait_for(timeout=180_000)
    curves = page.get_by_test_id("stPlotlyChart").first
    expect(curves.locator(".scatterlayer .trace")).to_have_count(4)  # loss and accuracy: train, and held-out dashed
    expect(curves.locator(".scatterlayer .point")).to_have_count(8)  # 2 epochs x 2 curves x 2 panels
    expect(curves.get_by_text("held-out (2,000 test digits)")).to_be_visible()  # the legend says which digits
    assert "held-out accuracy" in page.get_by_test_id("stMain").inner_text()
    expect(page.get_by_test_id("stMetric").filter(has_text="Test accuracy")).to_be_visible()
    assert "overfitting" in page.get_by_test_id("stMain").inner_text()
    screenshot(page, "training-finished")


def test_a_reload_finds_the_running_job_another_browser_only_watches_and_stop_keeps_it(page, other_visitor, app_url):
    page.goto(f"{app_url}/training?epochs=30")  # all 60,000 images: long enough to reload and stop
    wait_for_app(page)
    train_button(page).click()
    page.get_by_text("samples/s").wait_for(timeout=120_000)
    assert "run=" in page.url
    run_id = page.url.split("run=")[1].split("&")[0]

    stranger = other_visitor.new_page()  # someone else opens the run's link
    stranger.goto(f"{app_url}/training?run={run_id}")
    wait_for_app(stranger)
    stranger.get_by_text("samples/s").wait_for(timeout=60_000)  # the run shows, live
    stranger.get_by_text("started in another browser").wait_for()
    expect(stop_button(stranger)).to_be_disabled()
    screenshot(stranger, "training-read-only")

    page.reload()  # a new session for the owner: the job is still there, still running, and still theirs
    wait_for_app(page)
    page.get_by_text("samples/s").wait_for(timeout=60_000)
    assert f"Run {run_id}" in page.get_by_test_id("stMain").inner_text()
    expect(train_button(page)).to_be_disabled()
    # an epoch finished (the progress reads epoch 2 on): Stop keeps it, and its test accuracy is read
    expect(page.get_by_text(re.compile(r"^Epoch ([2-9]|\d\d) of 30"))).to_be_visible(timeout=180_000)
    screenshot(page, "training-running")

    stop_button(page).click()
    page.get_by_text("Stopped after").wait_for(timeout=120_000)
    page.get_by_test_id("stMetric").filter(has_text="Test accuracy").wait_for(timeout=60_000)
    wait_for_app(page)
    screenshot(page, "training-stopped")
    page.get_by_test_id("stMain").get_by_role("radio", name="Saved runs").click()  # the view, in the link
    wait_for_app(page)
    expect(page).to_have_url(re.compile(r"view=saved"))
    table = page.get_by_test_id("stDataFrame").first
    table.locator("[role=gridcell]").first.wait_for(state="attached", timeout=60_000)
    assert run_id in table.locator("[role=gridcell]").all_text_contents()  # kept: it learned something


def test_a_killed_worker_interrupts_only_its_run_which_continues_from_its_last_epoch(page, app_url):
    page.goto(f"{app_url}/training?epochs=30")
    wait_for_app(page)
    page.get_by_test_id("stMain").get_by_text("10,000", exact=True).click()
    wait_for_app(page)
    train_button(page).click()
    page.get_by_text(re.compile(r"^Epoch [3-9] of 30")).wait_for(timeout=120_000)  # two epochs kept at least
    caption = page.get_by_text(re.compile(r"^Run \d{8}-\d{6}-\w+ \(.*worker \d+@")).inner_text()
    worker_pid = int(caption.split("worker ")[1].split("@")[0])
    os.kill(worker_pid, signal.SIGKILL)
    page.get_by_text("Its training worker stopped unexpectedly").wait_for(timeout=60_000)  # its heartbeat: 15 s
    assert page.locator('[data-testid="stException"]').count() == 0
    resume = page.get_by_role("button", name=re.compile(r"Continue from epoch \d+"))
    kept = int(resume.inner_text().split("epoch ")[1].split()[0])
    assert kept >= 2
    screenshot(page, "training-worker-killed")

    resume.click()  # the server is still up; the run trains on, on a new worker, from its last epoch
    page.get_by_text(re.compile(rf"^Epoch {kept + 1} of 30")).wait_for(timeout=120_000)
    expect(stop_button(page)).to_be_enabled()
    stop_button(page).click()
    page.get_by_text("Stopped after").wait_for(timeout=120_000)


def test_the_learning_rate_finder_draws_its_curve_and_its_suggestion_moves_the_slider(page, app_url):
    page.goto(f"{app_url}/training?optimizer=sgd")  # SGD at the panel's 0.001 learns slowly: the finder says so
    wait_for_app(page)
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_role("button", name="Find a learning rate").click()
    sidebar.get_by_text("suggested:").wait_for(timeout=120_000)
    curve = sidebar.get_by_test_id("stPlotlyChart")
    expect(curve.locator(".scatterlayer .trace")).to_have_count(3)  # the loss, the suggestion, the lowest loss
    suggestion = re.search(r"suggested: ([0-9.e-]+)", sidebar.inner_text()).group(1)
    expect(curve.get_by_text(f"suggested {suggestion}", exact=True)).to_be_visible()  # in the legend
    assert float(suggestion) > 0.001
    screenshot(page, "learning-rate-finder")
    sidebar.get_by_role("button", name=f"Use {suggestion}").click()
    wait_for_app(page)
    expect(page).to_have_url(re.compile(f"learning_rate={re.escape(suggestion)}"))
    slider = sidebar.get_by_test_id("stSlider").filter(has_text="Learning rate")
    expect(slider.get_by_role("slider")).to_have_attribute("aria-valuetext", suggestion)


def pictures(chart) -> list[str]:
    """The images plotly drew for a chart's heatmaps (PNG data URLs): what the browser shows, visible or not."""
    return chart.locator(".heatmaplayer image").evaluate_all(
        "images => images.map(image => image.getAttribute('href') || image.getAttribute('xlink:href'))"
    )


def test_step_mode_steps_twice_and_the_weight_pictures_change(page, app_url):
    page.goto(f"{app_url}/training?units=64&view=step")
    wait_for_app(page)
    main = page.get_by_test_id("stMain")
    main.get_by_role("button", name="Start step mode").click()
    batches = page.get_by_test_id("stMetric").filter(has_text="Batches trained")
    expect(batches).to_contain_text("0", timeout=120_000)
    weights = main.locator(".st-key-step-weights")
    expect(weights.locator(".heatmaplayer image")).to_have_count(1)  # the units' pictures, as plotly drew them
    before = pictures(weights)
    assert before[0].startswith("data:image/png")
    for count in ("1", "2"):
        main.get_by_role("button", name="Step", exact=True).click()
        expect(batches).to_contain_text(count, timeout=30_000)
        expect(main.get_by_text(f"Epoch 1, batch {count} of 469 next")).to_be_visible()
    wait_until(lambda: pictures(weights) != before, 10)  # two batches moved the first layer's weights
    expect(page.get_by_test_id("stMetric").filter(has_text="Loss of the last batch")).to_be_visible()
    screenshot(page, "step-mode")
    main.get_by_role("button", name="Leave step mode").click()
    expect(main.get_by_role("button", name="Start step mode")).to_be_visible()
