"""AppTest: the Training page without a run, with a real (small) run, found again through its link, continued."""

import dataclasses

from streamlit.testing.v1 import AppTest

from core.config import SEED, config_to_query
from core.runs import LocalReporter, RunState, TrainingRequest
from core.store import default_store_root, new_run_id
from core.training import run_training
from harness.waiting import wait_until
from pages.common import caches
from tests.apptest import open_page

PAGE = "pages/training.py"


def button(app: AppTest, label: str):
    return next(b for b in app.button if b.label == label)


def test_page_without_a_job():
    app = open_page(PAGE)
    assert not app.exception
    assert not button(app, "Train").disabled and button(app, "Stop").disabled
    assert not [m for m in app.metric if m.label == "Test accuracy"]


def test_train_shows_test_accuracy_and_keeps_the_run(cluster):
    app = open_page(PAGE, {"epochs": "1"}, train_size="2,000")
    button(app, "Train").click().run()
    assert not app.exception
    run_id = app.session_state["run_id"]
    assert app.query_params["run"] == run_id
    wait_for_end(run_id)
    app.run()
    [test_accuracy] = [m for m in app.metric if m.label == "Test accuracy"]
    assert 0.5 < float(test_accuracy.value.rstrip("%")) / 100 < 1
    assert [m.label for m in app.metric][:3] == ["Test accuracy", "Training accuracy", "Gap"]
    assert not button(app, "Train").disabled
    app.segmented_control(key="training_view").set_value("saved").run()
    assert app.query_params["view"] == "saved" and not app.exception
    saved = app.dataframe[0].value
    assert run_id in saved["run"].tolist()
    assert not [b for b in app.button if b.label == "Train"]  # one view at a time

    reloaded = open_page(PAGE, {"run": run_id})  # a new session, as after reloading the tab
    assert not reloaded.exception
    assert any(run_id in caption.value for caption in reloaded.caption)
    assert [m for m in reloaded.metric if m.label == "Test accuracy"]


def wait_for_end(run_id: str, timeout: float = 300) -> None:
    wait_until(lambda: (progress := caches.run_board().progress(run_id)) and progress.ended, timeout, f"{run_id}'s end")


class StopAt(LocalReporter):
    def stop_requested(self) -> bool:
        return self.latest is not None and self.latest.epoch >= 1


def test_a_stopped_run_is_continued_by_its_owner_from_its_last_epoch(cluster):
    config = dataclasses.replace(SEED, units=32, epochs=3)
    run_id = new_run_id()
    request = TrainingRequest(run_id, config, "mnist", 2_000, store_root=str(default_store_root()), owner="alice")
    assert run_training(request, StopAt()).state is RunState.STOPPED

    stranger = open_page(PAGE, {"run": run_id})
    assert not stranger.exception and "Stopped after 1 of 3 epochs" in stranger.success[0].value
    assert not [b for b in stranger.button if b.label.startswith("Continue")]  # only for the owner

    owner = open_page(PAGE, {"run": run_id, **config_to_query(config)}, session_owner="alice")
    [resume] = [b for b in owner.button if b.label == "Continue from epoch 1"]
    resume.click().run()
    assert not owner.exception
    wait_for_end(run_id)
    owner.run()
    assert "Finished after 3 of 3 epochs" in owner.success[0].value
    assert caches.run_store().epochs_saved(run_id) == 3


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
