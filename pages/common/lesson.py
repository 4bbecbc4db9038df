"""The teacher's lesson controls as a learner meets them (core.lesson): closed pages, the class's announcement,
locked and bounded hyperparameters, a network pushed to the sidebar; each page follows a change within a few
seconds, without a reload."""

from __future__ import annotations

import contextlib
import time

import streamlit as st

from core.config import ModelConfig
from core.lesson import MAX_ANNOUNCEMENT, Lesson, LessonBook, LessonControls
from core.presence import Presence
from core.state import LESSON_SEEN_KEY, OWN_CONFIG_KEY, PRESENCE_KEY, PUSH_SEEN_KEY, UNLOCKED_KEY
from pages.common import caches
from pages.common.identity import browser_owner
from pages.common.text import escape_markdown

WATCH_SECONDS = 3.0  # how often a page looks for new controls (one stat of lesson.json)
PRESENCE_SECONDS = 5.0  # how often an open page says where its learner is (one small file)
FIXED_HELP = "Fixed by your teacher for this lesson."
TEACHER_PAGE = "Teacher"  # its visitors are not learners (before the key, they may be the teacher)


@st.cache_resource(show_spinner=False)
def _book(root: str) -> LessonBook:
    return LessonBook(root)


def lesson_book() -> LessonBook:
    return _book(str(caches.run_store().root))


def is_teacher() -> bool:
    """This tab gave the teacher key: no lesson control holds it."""
    return bool(st.session_state.get(UNLOCKED_KEY))


def controls() -> LessonControls:
    """The controls this tab is held by: the lesson's, or none for the teacher."""
    return LessonControls() if is_teacher() else lesson_book().read()


def announcement() -> None:
    """The teacher's message, at the top of every page, as typed (escaped: no Markdown, no HTML)."""
    message = lesson_book().read().announcement
    if message:
        st.info(escape_markdown(message, limit=MAX_ANNOUNCEMENT), icon=":material/campaign:")


@st.fragment(run_every=WATCH_SECONDS)
def watch(page: str) -> None:
    """Rerun the whole page when the teacher changes the controls (navigation, sidebar and message follow), and
    tell the teacher's class view which page this learner is on."""
    if not is_teacher() and page != TEACHER_PAGE:
        last_page, written = st.session_state.get(PRESENCE_KEY, ("", 0.0))
        if page != last_page or time.time() - written >= PRESENCE_SECONDS:
            with contextlib.suppress(OSError):
                Presence(caches.run_store().root).seen(browser_owner(), page)
            st.session_state[PRESENCE_KEY] = (page, time.time())
    version = lesson_book().version()
    seen = st.session_state.setdefault(LESSON_SEEN_KEY, version)
    if version != seen:
        st.session_state[LESSON_SEEN_KEY] = version
        st.rerun(scope="app")


def take_push(widgets: ModelConfig) -> ModelConfig | None:
    """A network the teacher pushed that this tab has not taken yet: the config to set the sidebar to (the
    learner's own is kept to go back to), else None."""
    lesson = controls()
    pushed = lesson.pushed_config()
    if pushed is None or st.session_state.get(PUSH_SEEN_KEY) == lesson.pushed_id:
        return None
    st.session_state[PUSH_SEEN_KEY] = lesson.pushed_id
    st.session_state[OWN_CONFIG_KEY] = widgets
    return pushed


EVERY_LESSON = "all"


def lesson_picker(lessons: tuple[Lesson, ...], key: str) -> Lesson | None:
    """This lesson by default; an earlier one, or all of them (None)."""
    options = [EVERY_LESSON, *range(len(lessons))]
    picked = st.selectbox(
        "Lesson",
        options,
        index=len(options) - 1,
        format_func=lambda i: "every lesson" if i == EVERY_LESSON else escape_markdown(lessons[i].name, limit=60),
        key=key,
        help="Runs belong to the lesson they started in.",
    )
    return None if picked == EVERY_LESSON else lessons[picked]
