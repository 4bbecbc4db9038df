"""AppTest: the Training page without a job, with a real (small) job, and found again through its link."""

from streamlit.testing.v1 import AppTest

from core import cache
from tests.apptest import open_page

PAGE = "pages/training.py"


def button(app: AppTest, label: str):
    return next(b for b in app.button if b.label == label)


def test_page_without_a_job():
    app = open_page(PAGE)
    assert not app.exception
    assert not button(app, "Train").disabled and button(app, "Stop").disabled
    assert not [m for m in app.metric if m.label == "Test accuracy"]


def test_train_shows_test_accuracy_and_keeps_the_run():
    app = open_page(PAGE, {"epochs": "1"}, train_size="2,000")
    button(app, "Train").click().run()
    assert not app.exception
    run_id = app.session_state["run_id"]
    assert app.query_params["run"] == run_id
    job = cache.job_board().get(run_id)
    assert job.wait(timeout=300)
    app.run()
    [test_accuracy] = [m for m in app.metric if m.label == "Test accuracy"]
    assert 0.5 < float(test_accuracy.value.rstrip("%")) / 100 < 1
    assert [m.label for m in app.metric][:3] == ["Test accuracy", "Training accuracy", "Gap"]
    assert not button(app, "Train").disabled
    saved = app.dataframe[0].value
    assert run_id in saved["run"].tolist()

    reloaded = open_page(PAGE, {"run": run_id})  # a new session, as after reloading the tab
    assert not reloaded.exception
    assert any(run_id in caption.value for caption in reloaded.caption)
    assert [m for m in reloaded.metric if m.label == "Test accuracy"]


def test_unknown_run_in_the_link_is_a_warning():
    app = open_page(PAGE, {"run": "20000101-000000-abcdef"})
    assert not app.exception
    assert "not on this server" in app.warning[0].value
    assert "run" not in app.query_params


def test_a_saved_run_can_be_chosen_to_fine_tune(trained_run):
    app = open_page(PAGE)
    start_from = app.selectbox(key="start_from")
    assert trained_run in start_from.options
    start_from.set_value(trained_run).run()
    assert not app.exception
    assert any(f"Fine-tunes run {trained_run}" in caption.value for caption in app.caption)
