"""The teacher's lesson controls (core.lesson): kept in the model folder for every replica, applied to every
run a learner starts whatever the page sent, shown in the learner's pages; the teacher's tab is never held."""

import dataclasses

import numpy as np
import pytest

from core.config import PRESETS, SEED, ConfigError
from core.lesson import MAX_ANNOUNCEMENT, LessonBook, LessonControls
from core.teacher_gate import TEACHER_KEY_ENV
from tests.apptest import open_page, plain

KEY = "class-key-2026"


def test_controls_bound_and_fix_a_config_and_say_what_they_changed():
    rules = LessonControls(fixed={"family": "dense"}, max_epochs=3)
    config, notes = rules.apply(dataclasses.replace(PRESETS["Small CNN"].config, epochs=30))
    assert (config.family, config.epochs) == ("dense", 3)
    assert notes == [
        "Your teacher fixed family at Dense (the notebook's).",
        "Your teacher allows at most 3 epochs: this run trains 3.",
    ]
    assert rules.apply(dataclasses.replace(SEED, epochs=2)) == (dataclasses.replace(SEED, epochs=2), [])
    assert LessonControls().apply(SEED) == (SEED, [])


def test_every_server_reads_the_same_controls_and_a_hand_edited_file_is_checked(model_dir):
    teacher, other_replica = LessonBook(model_dir), LessonBook(model_dir)
    assert other_replica.read() == LessonControls()
    teacher.set(hidden_pages=("leaderboard",), fixed={"epochs": 3}, sweeps=False)
    seen = other_replica.read()
    assert (seen.hidden_pages, seen.fixed, seen.sweeps) == (("leaderboard",), {"epochs": 3}, False)
    teacher.file.path.write_text('{"hidden_pages": ["teacher", "model"], "fixed": {"epochs": 300}, "max_epochs": -1}')
    hand_edited = other_replica.read()
    assert hand_edited.hidden_pages == ("model",) and hand_edited.fixed == {} and hand_edited.max_epochs is None
    with pytest.raises(ConfigError, match="at most 500"):
        teacher.set(announcement="x" * (MAX_ANNOUNCEMENT + 1))
    first = teacher.push(PRESETS["Small CNN"].config).pushed_id
    again = teacher.push(PRESETS["Small CNN"].config)
    assert again.pushed_config() == PRESETS["Small CNN"].config and again.pushed_id != first


def test_a_learners_sidebar_is_bounded_and_a_link_cannot_get_around_it(model_dir):
    LessonBook(model_dir).set(fixed={"family": "dense"}, max_epochs=3)
    app = open_page("pages/model.py", {"epochs": "30", "family": "cnn"})
    assert not app.exception
    assert app.session_state["hp_epochs"] == 3 and app.session_state["hp_family"] == "dense"
    assert app.radio(key="hp_family").disabled
    assert any("at most 3 epochs" in caption.value for caption in app.caption)
    assert any(
        plain(c.value) == "Fixed by your teacher for this lesson: family Dense (the notebook's)." for c in app.caption
    )
    toasts = [plain(toast.value) for toast in app.toast]
    assert "Your teacher allows at most 3 epochs: this run trains 3." in toasts
    assert "Your teacher fixed family at Dense (the notebook's)." in toasts


def test_a_pushed_network_reaches_the_sidebar_once_and_the_learners_own_is_one_click_away(model_dir):
    app = open_page("pages/model.py", {"units": "64"})
    LessonBook(model_dir).push(PRESETS["Small CNN"].config)
    app.run()
    assert app.session_state["hp_family"] == "cnn" and app.session_state["hp_preset"] == "Small CNN"
    assert any("Your teacher set the network to Small CNN" in info.value for info in app.info)
    app.slider(key="hp_epochs").set_value(4).run()  # the learner changes it: the push is not taken twice
    assert app.session_state["hp_epochs"] == 4 and app.session_state["hp_family"] == "cnn"
    next(b for b in app.button if b.label == "Back to my settings").click().run()
    assert (app.session_state["hp_family"], app.session_state["hp_units"]) == ("dense", 64)


def test_the_announcement_shows_as_typed_on_every_page(model_dir):
    message = "**Bold** <b>html</b> [link](http://example.com) # not a heading"
    LessonBook(model_dir).set(announcement=message, hidden_pages=("leaderboard",), sweeps=False)
    app = open_page("app.py")
    assert not app.exception
    shown = app.info[0].value
    assert plain(shown).replace("\u200b", "") == message  # escaped: no Markdown, no HTML
    app.switch_page("pages/training.py").run()
    assert not app.exception and app.info[0].value == shown


def test_the_teacher_sets_the_controls_and_is_never_held_by_them(model_dir, monkeypatch):
    monkeypatch.setenv(TEACHER_KEY_ENV, KEY)
    app = open_page("pages/teacher.py")
    app.text_input[0].input(KEY)
    app.button[0].click().run()
    app.multiselect(key="lesson_hidden").set_value(["leaderboard"]).run()
    app.multiselect(key="lesson_fixed").set_value(["epochs"]).run()
    app.slider(key="lesson_fixed_epochs").set_value(3).run()
    app.toggle(key="lesson_sweeps").set_value(False).run()
    next(b for b in app.button if b.label == "Apply to the class").click().run()
    assert not app.exception
    rules = LessonBook(model_dir).read()
    assert (rules.hidden_pages, rules.fixed, rules.sweeps) == (("leaderboard",), {"epochs": 3}, False)
    app.text_area(key="lesson_message").input("Bring your notebooks").run()
    next(b for b in app.button if b.label == "Show it").click().run()
    assert LessonBook(model_dir).read().announcement == "Bring your notebooks"
    next(b for b in app.button if b.label == "Push to every sidebar").click().run()
    assert LessonBook(model_dir).read().pushed_config() == SEED
    app.text_input(key="lesson_name").input("Period 3, Tuesday").run()
    next(b for b in app.button if b.label == "Start it").click().run()
    assert not app.exception and LessonBook(model_dir).read().lesson.name == "Period 3, Tuesday"
    assert app.selectbox(key="export_lesson").value == 0, "the export is this lesson's by default"
    own_tab = open_page("pages/model.py", teacher_unlocked=True)  # the teacher's own tab: not held
    assert not own_tab.exception and not own_tab.slider(key="hp_epochs").disabled


HOUR = 3600.0


def test_runs_and_digits_belong_to_the_lesson_they_started_in_and_so_does_the_challenge(model_dir):
    from core import classroom
    from core.lesson import digits_in, runs_in
    from core.my_digits import MyDigitsStore
    from core.store import run_started

    book = LessonBook(model_dir)
    first = book.start_lesson("Period 3, Tuesday", now=run_started("20260115-080000"))
    second = book.start_lesson("  Period 4,\n Thursday ", now=run_started("20260117-080000"))
    lessons = book.read().lessons
    assert [lesson.name for lesson in lessons] == ["Period 3, Tuesday", "Period 4, Thursday"]
    assert book.read().lesson == second

    class Row:
        def __init__(self, run_id):
            self.run_id = run_id

    rows = [Row("20260115-090000-aaaaaa"), Row("20260117-090000-bbbbbb"), Row("20260101-090000-cccccc")]
    assert [r.run_id[-6:] for r in runs_in(rows, second, lessons)] == ["bbbbbb"]
    assert [r.run_id[-6:] for r in runs_in(rows, first, lessons)] == ["aaaaaa"]
    assert len(runs_in(rows, None, lessons)) == 3

    store = MyDigitsStore(model_dir, "mnist")
    store.add(np.zeros((28, 28)), 3, "a" * 16)
    digits = store.load()
    assert digits.times[0] > second.started and len(digits_in(digits, second, lessons)) == 1
    assert len(digits_in(digits, first, lessons)) == 0

    classroom.set_challenge(model_dir, classroom.Challenge(max_epochs=3), first.lesson_id)
    assert classroom.read_challenge(model_dir, first.lesson_id).max_epochs == 3
    assert not classroom.read_challenge(model_dir, second.lesson_id).active, "a new lesson, no challenge yet"


def test_the_leaderboard_shows_this_lessons_runs_and_an_earlier_lesson_on_request(trained_run, model_dir):
    import json
    import shutil

    from core.store import run_started

    earlier = "20200101-090000-aaaaaa"
    shutil.copytree(model_dir / trained_run, model_dir / earlier)
    record = json.loads((model_dir / earlier / "run.json").read_text())
    (model_dir / earlier / "run.json").write_text(json.dumps({**record, "run_id": earlier}))
    book = LessonBook(model_dir)
    book.start_lesson("Lesson 1", now=run_started(earlier) - HOUR)
    book.start_lesson("Lesson 2", now=run_started(trained_run) - HOUR)
    app = open_page("pages/leaderboard.py")
    assert not app.exception
    assert [link.split("=")[1] for link in app.dataframe[0].value["run"]] == [trained_run]
    app.selectbox(key="board_lesson").set_value(0).run()
    assert [link.split("=")[1] for link in app.dataframe[0].value["run"]] == [earlier]
    app.selectbox(key="board_lesson").set_value("all").run()
    assert len(app.dataframe[0].value) == 2
