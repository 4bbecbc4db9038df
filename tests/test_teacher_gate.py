"""The teacher's key: the page opens only with it, a short key is refused, and wrong keys are limited per browser,
per address and for everyone together, so that neither a private window nor a script without cookies gets more."""

from __future__ import annotations

import time

from core import classroom
from core.teacher_gate import (
    LONGEST_LOCKOUT_SECONDS,
    MIN_KEY_CHARACTERS,
    PER_ADDRESS,
    PER_BROWSER,
    PER_EVERYONE,
    TEACHER_KEY_ENV,
    TeacherGate,
    key_matches,
    key_problem,
)
from pages.common import caches
from tests.apptest import open_page

KEY = "s3cret-teacher-key"


def test_the_key_is_compared_whole_and_a_short_one_is_refused():
    assert key_matches(KEY, KEY) and not key_matches(KEY[:-1], KEY)
    assert not key_matches("", "")  # no key configured opens nothing
    assert key_problem("x" * (MIN_KEY_CHARACTERS - 1)) and key_problem("x" * MIN_KEY_CHARACTERS) is None


def test_five_wrong_tries_a_minute_from_one_browser_then_it_waits(model_dir):
    gate, owner, now = TeacherGate(model_dir), "c" * 16, time.time()
    for tries in range(PER_BROWSER):
        assert gate.wait_seconds(owner, now=now + tries) == 0
        assert not gate.try_key(owner, "wrong", KEY, now=now + tries)
    assert 55 <= gate.wait_seconds(owner, now=now + 5) <= 60
    assert gate.wait_seconds("d" * 16, now=now + 5) == 0  # another browser is not slowed down
    assert gate.wait_seconds(owner, now=now + 61) == 0
    assert gate.try_key(owner, KEY, KEY, now=now + 61)


def test_fresh_browsers_from_one_address_are_limited_by_the_address(model_dir):
    gate, now = TeacherGate(model_dir), time.time()
    for tries in range(PER_ADDRESS):  # a private window each time: a new owner id
        assert gate.wait_seconds(f"fresh-{tries}", "10.0.0.7", now=now + tries) == 0
        gate.try_key(f"fresh-{tries}", "wrong", KEY, "10.0.0.7", now=now + tries)
    assert gate.wait_seconds("fresh-new", "10.0.0.7", now=now + PER_ADDRESS) > 0
    assert gate.wait_seconds("fresh-new", "10.0.0.8", now=now + PER_ADDRESS) == 0


def test_everyone_together_waits_once_the_global_limit_is_reached_longer_each_time(model_dir):
    """Twenty wrong keys a minute from anywhere, each from a fresh browser and address: then nobody may try for a
    minute, the next time two; the right key still opens once the wait is over."""
    gate, now = TeacherGate(model_dir), time.time()
    for tries in range(PER_EVERYONE):
        assert gate.wait_seconds(f"b{tries}", f"10.0.1.{tries}", now=now) == 0
        gate.try_key(f"b{tries}", "wrong", KEY, f"10.0.1.{tries}", now=now)
    assert 59 <= gate.wait_seconds("the-teacher", "10.0.9.9", now=now) <= 60  # the teacher waits too
    assert gate.wait_seconds("the-teacher", "10.0.9.9", now=now + 61) == 0
    assert gate.try_key("the-teacher", KEY, KEY, "10.0.9.9", now=now + 61)
    later = now + 62
    for tries in range(PER_EVERYONE):
        gate.try_key(f"e{tries}", "wrong", KEY, f"10.0.2.{tries}", now=later)
    assert 119 <= gate.wait_seconds("someone", now=later) <= 120  # the wait doubles
    far = later + LONGEST_LOCKOUT_SECONDS + 200  # an hour without a lockout: it starts over at a minute
    for tries in range(PER_EVERYONE):
        gate.try_key(f"f{tries}", "wrong", KEY, f"10.0.3.{tries}", now=far)
    assert 59 <= gate.wait_seconds("someone", now=far) <= 60


def test_a_teacher_key_shorter_than_twelve_characters_keeps_the_page_closed(monkeypatch):
    monkeypatch.setenv(TEACHER_KEY_ENV, "short-key")
    app = open_page("pages/teacher.py")
    assert not app.exception and "needs at least 12" in app.warning[0].value and not app.text_input


def test_the_teacher_page_says_how_to_set_a_key_refuses_a_wrong_one_and_opens_with_the_right_one(monkeypatch):
    monkeypatch.delenv(TEACHER_KEY_ENV, raising=False)
    app = open_page("pages/teacher.py")
    assert not app.exception and TEACHER_KEY_ENV in app.info[0].value
    monkeypatch.setenv(TEACHER_KEY_ENV, "class-key-42")
    app = open_page("pages/teacher.py")
    app.text_input[0].input("class-key-4")  # typed into the form, sent with its button
    app.button[0].click().run()
    assert app.error[0].value == "That key does not open the teacher's view." and not app.header
    app.text_input[0].input("class-key-42")
    app.button[0].click().run()
    assert not app.exception
    assert [header.value for header in app.header] == [
        "This lesson",
        "The class at a glance",
        "Training now",
        "Challenge",
        "Clean up",
        "Disk",
        "Export",
    ]
    app.number_input(key="challenge_epochs").set_value(3).run()
    next(b for b in app.button if b.label == "Set the challenge").click().run()
    assert classroom.read_challenge(caches.run_store().root) == classroom.Challenge(max_epochs=3)
    next(b for b in app.button if b.label == "Clear it").click().run()
    assert not classroom.read_challenge(caches.run_store().root).active
