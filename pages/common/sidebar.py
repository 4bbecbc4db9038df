"""The sidebar every page shares (app.py draws it): the dataset, and the learner's name."""

from __future__ import annotations

import streamlit as st

from core.data import DATASET_NAMES, DATASET_TITLES, Dataset, DatasetError, uploaded_dataset_names
from core.names import MAX_NAME_CHARACTERS, NameRefused
from core.state import DATASET_KEY, NAME_KEY, PENDING_DATASET_KEY
from pages.common import caches
from pages.common.identity import browser_owner
from pages.common.text import escape_markdown, show_refusal


def learner_name_ui() -> None:
    """The sidebar's "Your name": a generated one until the learner gives theirs, kept for this browser."""
    owner = browser_owner()
    book = caches.name_book()
    if NAME_KEY not in st.session_state:
        st.session_state[NAME_KEY] = book.name_of(owner)
    st.sidebar.text_input(
        "Your name",
        key=NAME_KEY,
        max_chars=MAX_NAME_CHARACTERS,
        on_change=_keep_name,
        args=(owner,),
        help="Shown beside your runs and digits on the leaderboard; remembered by this browser. No account, no e-mail.",
    )


def _keep_name(owner: str) -> None:
    try:
        st.session_state[NAME_KEY] = caches.name_book().set(owner, st.session_state[NAME_KEY])
    except NameRefused as error:
        st.session_state[NAME_KEY] = caches.name_book().name_of(owner)
        st.toast(escape_markdown(str(error)), icon=":material/badge:")


def dataset_selector() -> None:
    """The sidebar's dataset choice, shared by every page: the built-in sets and the ones people uploaded."""
    names = [*DATASET_NAMES, *uploaded_dataset_names()]
    if PENDING_DATASET_KEY in st.session_state:
        st.session_state[DATASET_KEY] = st.session_state.pop(PENDING_DATASET_KEY)
    if st.session_state.get(DATASET_KEY) not in names:
        st.session_state[DATASET_KEY] = DATASET_NAMES[0]
    st.sidebar.selectbox(
        "Dataset", names, format_func=dataset_title, key=DATASET_KEY, help="Every page works on this dataset."
    )


def select_dataset(name: str) -> None:
    """Make `name` the sidebar's choice from the next script run on (the selector is already drawn in this one)."""
    st.session_state[PENDING_DATASET_KEY] = name


def dataset_title(name: str) -> str:
    if name in DATASET_TITLES:
        return DATASET_TITLES[name]
    try:
        return caches.dataset(name).title
    except DatasetError:
        return name


def selected_dataset_name() -> str:
    return st.session_state.get(DATASET_KEY, DATASET_NAMES[0])


def load_selected_dataset() -> Dataset:
    """The chosen dataset; a load failure is shown in the page, which then stops."""
    name = selected_dataset_name()
    try:
        return caches.dataset(name)
    except DatasetError as error:
        show_refusal(f"The {name} dataset could not be loaded.", str(error))
        st.stop()
