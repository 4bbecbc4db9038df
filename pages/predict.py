"""Draw & predict: the user's digits and the test set, through a trained model's eyes."""

from __future__ import annotations

import streamlit as st

from core.data import Dataset
from core.run_board import JobError
from core.state import KEPT_KEY
from pages.common import caches, services
from pages.common.frame import ensure_frame
from pages.common.sidebar import load_selected_dataset
from pages.common.text import show_refusal
from pages.common.widgets import model_picker, runs_for
from pages.predict_views.draw import drawing_ui, picture_ui
from pages.predict_views.handwriting import handwriting_ui
from pages.predict_views.test_set import test_set_ui


def main() -> None:
    ensure_frame()
    dataset = load_selected_dataset()
    st.title("Draw & predict")
    store = caches.run_store()
    records = runs_for(dataset)
    if not records:
        starter_ui(dataset)
        return
    if KEPT_KEY in st.session_state:
        st.toast(st.session_state.pop(KEPT_KEY), icon=":material/bookmark_added:")
    run_id = model_picker(records)
    model = caches.saved_model(str(store.root), run_id)
    draw_tab, upload_tab, handwriting_tab = st.tabs(["Draw a digit", "Upload a picture", "Your handwriting"])
    with draw_tab:
        drawing_ui(model, run_id, dataset)
    with upload_tab:
        picture_ui(model, run_id, dataset)
    with handwriting_tab:
        handwriting_ui(store, records, run_id, dataset)
    st.divider()
    test_set_ui(store, run_id, dataset)


# ---- Which model -----------------------------------------------------------------------------------------


def starter_ui(dataset: Dataset) -> None:
    """A fresh install has no model: train the notebook's network once, for every session, and wait for it."""
    try:
        run_id = services.starter_run(dataset.image_format)
    except JobError as error:
        show_refusal("The starter model could not be trained.", str(error))
        return
    progress = caches.run_board().progress(run_id)
    if progress is not None and progress.active:
        st.info("No trained model yet: this first visit trains the seed notebook's network once and keeps it.")
        starter_progress(run_id, dataset.title)
        return
    show_refusal("The starter model could not be trained.", progress.message if progress else "It was lost.")
    if st.button("Try again", key="starter_again"):
        services.starter_run.clear()
        st.rerun()


@st.fragment(run_every=1.0)
def starter_progress(run_id: str, title: str) -> None:
    progress = caches.run_board().progress(run_id)
    if progress is None or progress.ended:
        st.rerun()
    done = (progress.epoch + progress.batch / max(progress.batches_per_epoch, 1)) / progress.epochs
    step = progress.message or f"epoch {min(progress.epoch + 1, progress.epochs)} of {progress.epochs}"
    st.progress(min(done, 1.0), text=f"Training the notebook's network on {title} for everyone ({step})...")


# ---- The user's own digits -------------------------------------------------------------------------------


# ---- The test set, as in the notebook ------------------------------------------------------------------------


main()
