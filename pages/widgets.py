"""Widgets shared by several pages (not a page itself: app.py does not list it)."""

from __future__ import annotations

import streamlit as st

from core import cache
from core.data import DATASET_NAMES, DATASET_TITLES, Dataset, DatasetError

DATASET_KEY = "dataset"


def dataset_selector() -> None:
    """The sidebar's dataset choice, shared by every page."""
    st.sidebar.selectbox(
        "Dataset",
        DATASET_NAMES,
        format_func=DATASET_TITLES.get,
        key=DATASET_KEY,
        help="Every page works on this dataset.",
    )


def selected_dataset_name() -> str:
    return st.session_state.get(DATASET_KEY, DATASET_NAMES[0])


def load_selected_dataset() -> Dataset:
    """The chosen dataset; a load failure is shown in the page, which then stops."""
    name = selected_dataset_name()
    try:
        return cache.dataset(name)
    except DatasetError as error:
        st.error(f"**The {name} dataset could not be loaded.** {error}")
        st.stop()
