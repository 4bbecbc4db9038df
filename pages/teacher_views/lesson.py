"""The Teacher page's lesson controls (core.lesson): closed pages, fixed and bounded hyperparameters, sweeps,
a message to the class, and a network pushed to every learner's sidebar. Every replica follows within seconds."""

from __future__ import annotations

import time

import streamlit as st

from core.config import FIELDS, PRESETS, SEED, ConfigError
from core.lesson import MAX_ANNOUNCEMENT, MAX_LESSON_NAME, PAGES, Lesson
from core.presence import Presence
from pages.common import caches
from pages.common.lesson import lesson_book
from pages.common.panel import field_widget
from pages.common.text import escape_markdown, show_refusal

FIXED_PREFIX = "lesson_fixed_"


def lesson_ui() -> None:
    st.header("This lesson")
    st.caption(
        "What learners see and may change. Your own browser (with the key) is never held by these; every "
        "learner's page follows within a few seconds, on every replica, without reloading."
    )
    book = lesson_book()
    rules = book.read()
    lessons_ui(book, rules.lesson)
    hidden = st.multiselect(
        "Pages learners do not see",
        list(PAGES),
        default=list(rules.hidden_pages),
        format_func=PAGES.get,
        key="lesson_hidden",
    )
    fixed = st.multiselect(
        "Hyperparameters learners may not change",
        list(FIELDS),
        default=list(rules.fixed),
        format_func=lambda name: FIELDS[name].label,
        key="lesson_fixed",
        help="Each is fixed at the value you set for it below.",
    )
    for name in fixed:
        st.session_state.setdefault(FIXED_PREFIX + name, rules.fixed.get(name, getattr(SEED, name)))
        field_widget(name, key=FIXED_PREFIX + name)
    epochs_column, sweeps_column = st.columns(2, vertical_alignment="bottom")
    most = epochs_column.number_input(
        "At most this many epochs (0: no limit)", 0, 30, rules.max_epochs or 0, key="lesson_max_epochs"
    )
    sweeps = sweeps_column.toggle("Learners may run sweeps", value=rules.sweeps, key="lesson_sweeps")
    if st.button("Apply to the class", icon=":material/school:", key="lesson_apply"):
        book.set(
            hidden_pages=tuple(hidden),
            fixed={name: st.session_state[FIXED_PREFIX + name] for name in fixed},
            max_epochs=int(most) or None,
            sweeps=sweeps,
        )
        st.success("Applied: learners' pages follow within a few seconds.")
    announcement_ui(rules.announcement)
    push_ui()


def lessons_ui(book, current: Lesson | None) -> None:
    """Start a lesson: from then on the leaderboard, the challenge, the class view and the exports are this
    lesson's by default; earlier lessons stay a choice away."""
    if current is not None:
        since = time.strftime("%Y-%m-%d %H:%M", time.localtime(current.started))
        st.markdown(f"Lesson now: **{escape_markdown(current.name, limit=MAX_LESSON_NAME)}**, since {since}.")
    else:
        st.caption("No lesson started yet: the leaderboard and the exports hold every run.")
    name_column, start_column = st.columns([3, 1], vertical_alignment="bottom")
    name = name_column.text_input(
        "New lesson", max_chars=MAX_LESSON_NAME, placeholder="Period 3, Tuesday", key="lesson_name"
    )
    if start_column.button("Start it", icon=":material/event:", key="lesson_start", width="stretch"):
        book.start_lesson(name)
        Presence(caches.run_store().root).clear()
        st.rerun()


def announcement_ui(current: str) -> None:
    """A short message at the top of every learner's page until it is cleared; shown exactly as typed."""
    message = st.text_area(
        "Message to the class", value=current, max_chars=MAX_ANNOUNCEMENT, key="lesson_message", height=80
    )
    show_column, clear_column, _ = st.columns([1, 1, 2])
    if show_column.button("Show it", icon=":material/campaign:", key="lesson_show", width="stretch"):
        try:
            lesson_book().set(announcement=message.strip())
        except ConfigError as error:
            show_refusal("The message was not shown.", str(error))
        else:
            st.rerun()
    if clear_column.button("Clear the message", key="lesson_clear", width="stretch", disabled=not current):
        lesson_book().set(announcement="")
        st.rerun()
    if current:
        st.caption(f"Shown now: {escape_markdown(current, limit=80)}")


def push_ui() -> None:
    """Everyone starts here: a preset into every learner's sidebar (their own settings one click away)."""
    preset_column, push_column = st.columns([2, 1], vertical_alignment="bottom")
    preset = preset_column.selectbox("Everyone starts from", list(PRESETS), key="lesson_preset")
    if push_column.button("Push to every sidebar", icon=":material/send:", key="lesson_push", width="stretch"):
        lesson_book().push(PRESETS[preset].config)
        st.success(f"Every learner's sidebar switches to {preset} on its next rerun; runs in progress go on.")
