"""A run's robustness report (core.robustness): measured under MNIST-C's corruptions, kept in its record, one
measurement at a time, lost when the run trains again; the report task on the cluster with Cancel; the Saved runs
view and the leaderboard that ranks by it."""

import dataclasses
import fcntl

import pytest

from core import classroom
from core.config import SEED
from core.corruptions import CORRUPTIONS
from core.robustness import MEASURING_ALREADY, RobustnessError, measure_run, report_of, why_not
from core.runs import Progress, RunState
from core.state import ROBUSTNESS_LOCK
from core.store import RunRecord, RunStore, RunWriter
from core.tasks import report_robustness
from harness.waiting import wait_until
from pages.common import services
from tests.apptest import open_page

DIGITS = 300  # the report's first test digits, fewer than the app's 2,000 to keep the quick loop quick


def test_a_run_is_measured_under_every_corruption_and_the_report_kept_in_its_record(trained_run, model_dir):
    store = RunStore(model_dir)
    report = measure_run(store, trained_run, count=DIGITS)
    assert set(report.corruptions) == set(CORRUPTIONS) and report.digits == DIGITS
    assert report.clean > 0.9, "the seed network reads clean digits"
    assert report.mean < report.clean - 0.1, "corruptions cost a dense network many points (MNIST-C: so they do)"
    assert report.corruptions["stripe"] < 0.5 and report.corruptions["translate"] < report.clean
    assert report_of(RunStore(model_dir).get(trained_run)) == report, "kept in run.json, read back by any server"


def test_one_measurement_of_a_run_at_a_time(trained_run, model_dir):
    store = RunStore(model_dir)
    with open(model_dir / trained_run / ROBUSTNESS_LOCK, "a") as held:  # as a worker measuring it holds it
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(RobustnessError, match=MEASURING_ALREADY[:40]):
            measure_run(store, trained_run, count=DIGITS)
    assert report_of(store.get(trained_run)) is None
    assert measure_run(store, trained_run, count=DIGITS).digits == DIGITS, "released: measured"


def test_a_live_run_is_not_measured_and_training_again_drops_the_report(trained_run, model_dir):
    store = RunStore(model_dir)
    measure_run(store, trained_run, count=DIGITS)
    record = store.get(trained_run)
    assert why_not(dataclasses.replace(record, state=RunState.RUNNING)) == "A run is measured once it has ended."
    assert "MNIST's, on 28x28 digits" in why_not(dataclasses.replace(record, dataset="digits"))
    writer = RunWriter(store, record).start(Progress(trained_run, state=RunState.RUNNING))
    writer.finish(Progress(trained_run, state=RunState.STOPPED))
    assert report_of(RunStore(model_dir).get(trained_run)) is None, "the model changed: its old report is gone"


def test_the_leaderboard_ranks_by_the_corruptions(trained_run):
    def row(run_id: str, test: float, corruptions: float | None) -> RunRecord:
        robustness = {"mean": corruptions} if corruptions is not None else {}
        return RunRecord(run_id, "mnist", dataclasses.asdict(SEED), RunState.FINISHED, robustness=robustness)

    records = [row("r-a", 0.99, 0.7), row("r-b", 0.98, 0.9), row("r-c", 0.97, None)]
    records[0].result.test_accuracy, records[1].result.test_accuracy = 0.99, 0.98
    records[2].result.test_accuracy = 0.97
    rows = classroom.leaderboard(records, [], {}, {}, {}, classroom.Challenge())
    assert [r.run_id for r in rows] == ["r-a", "r-b", "r-c"]
    assert [r.run_id for r in classroom.ranked(rows, "corruptions")] == ["r-b", "r-a", "r-c"], "unmeasured last"
    assert "corruptions" in classroom.results_csv(rows).splitlines()[0]

    app = open_page("pages/leaderboard.py")
    assert app.dataframe[0].value["corruptions"].isna().all()
    app.selectbox(key="board_rank").set_value("corruptions").run()
    assert not app.exception


def test_the_saved_runs_view_offers_the_measurement_then_shows_the_report(trained_run, model_dir):
    app = open_page("pages/training.py", {"view": "saved"})
    assert not app.exception
    assert [b for b in app.button if b.label == "Measure its robustness"]
    measure_run(RunStore(model_dir), trained_run, count=DIGITS)
    app.run()
    assert not app.exception
    assert not [b for b in app.button if b.label == "Measure its robustness"]
    labels = [metric.label for metric in app.metric]
    assert "Mean under corruptions" in labels and "Clean accuracy (same digits)" in labels


def test_the_report_task_runs_on_the_cluster_and_cancel_leaves_nothing(cluster, trained_run, model_dir):
    root = str(model_dir.resolve())
    cancelled = services.start_task("cancelled", report_robustness, None, root, trained_run)
    cancelled.cancel()
    ended = wait_until(lambda: (state := cancelled.state()).finished and state, 120, "the cancelled task's end")
    assert ended.error == "Cancelled." and report_of(RunStore(model_dir).get(trained_run)) is None

    app = open_page("pages/training.py", {"view": "saved"})
    next(b for b in app.button if b.label == "Measure its robustness").click().run()
    assert not app.exception
    task = app.session_state["robustness_task"]
    wait_until(lambda: task.state().finished, 300, "the robustness report")
    app.run()
    assert not app.exception
    report = report_of(RunStore(model_dir).get(trained_run))
    assert report is not None and report.digits == 2_000
    assert [m.value for m in app.metric if m.label == "Mean under corruptions"] == [f"{report.mean:.1%}"]
