"""The class at a glance (core.presence): each learner's open page says where it is, every replica's learners
are counted, and a learner with no run after the threshold is marked."""

import dataclasses

from core.config import SEED
from core.presence import Presence, class_at_a_glance
from core.runs import Progress, RunResult, RunState
from core.store import RunRecord
from core.teacher_gate import TEACHER_KEY_ENV
from tests.apptest import open_page

ADA, BO = "a" * 16, "b" * 16
START = 1_800_000_000.0  # 2027-01-15 08:00 UTC


def run(run_id: str, owner: str, state: RunState, accuracy: float | None = None) -> RunRecord:
    record = RunRecord(run_id, "mnist", dataclasses.asdict(SEED), state, owner=owner)
    record.result.test_accuracy = accuracy
    return record


def test_two_learners_with_their_pages_and_runs_and_one_marked_for_a_hand(model_dir):
    Presence(model_dir).seen(ADA, "Training", now=START)
    Presence(model_dir).seen(BO, "Dataset", now=START)  # another replica: the same folder
    Presence(model_dir).seen(ADA, "Draw & predict", now=START + 700)
    seen = Presence(model_dir).everyone()
    assert {(s.owner, s.page, s.first) for s in seen} == {(ADA, "Draw & predict", START), (BO, "Dataset", START)}
    records = [
        run("20270115-080500-aaaaaa", ADA, RunState.FINISHED, 0.97),
        run("20270115-080900-bbbbbb", ADA, RunState.FINISHED, 0.98),
        run("20270115-081000-cccccc", ADA, RunState.RUNNING),
        run("20270114-080000-dddddd", BO, RunState.FINISHED, 0.99),  # yesterday's: not this lesson's
    ]
    one_epoch = RunResult(history={"loss": [0.3]})
    live = [Progress("20270115-081000-cccccc", state=RunState.RUNNING, epochs=5, result=one_epoch)]
    rows = class_at_a_glance(seen, records, live, {ADA: "Ada"}, [ADA, ADA, BO], now=START + 705, idle_minutes=10)
    ada, bo = rows
    assert (ada.name, ada.page, ada.connected, ada.last_active_seconds) == ("Ada", "Draw & predict", True, 5)
    assert (ada.runs_started, ada.runs_finished, ada.best_test_accuracy) == (3, 2, 0.98)
    assert (ada.training_now, ada.digits_labelled, ada.no_run_yet) == ("epoch 2 of 5", 2, False)
    assert bo.name.startswith("Learner ") and not bo.connected and bo.runs_started == 0
    assert bo.no_run_yet, "seen 11 minutes ago, no run since"
    assert not class_at_a_glance(seen, records, live, {}, [], now=START + 705, idle_minutes=12)[1].no_run_yet
    Presence(model_dir).clear()
    assert Presence(model_dir).everyone() == []


def test_a_learners_page_is_listed_on_the_teachers_class_view(model_dir, monkeypatch):
    learner = open_page("app.py")
    assert not learner.exception
    learner.switch_page("pages/dataset.py").run()
    [seen] = Presence(model_dir).everyone()
    assert seen.page == "Dataset"
    monkeypatch.setenv(TEACHER_KEY_ENV, "class-key-2026")
    teacher = open_page("pages/teacher.py", teacher_unlocked=True)
    assert not teacher.exception
    table = next(frame.value for frame in teacher.dataframe if "needs a hand" in frame.value.columns)
    assert table["page"].tolist() == ["Dataset"] and table["runs"].tolist() == [0]
    assert Presence(model_dir).everyone() == [seen], "the teacher's own tab is not a learner"
