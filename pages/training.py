"""Training: fit the configured network live, step through it batch by batch, sweep its hyperparameters, keep and
compare runs; one view at a time, its choice in the link (?view=)."""

from __future__ import annotations

import streamlit as st

from core.state import VIEW_PARAMETER
from pages.common import caches
from pages.common.frame import ensure_frame
from pages.common.identity import browser_owner
from pages.common.panel import hyperparameter_panel
from pages.common.sidebar import load_selected_dataset
from pages.training_views.saved import saved_view
from pages.training_views.step import step_view
from pages.training_views.sweep import sweep_view
from pages.training_views.train import train_view

VIEWS = {"train": "Train a run", "step": "Step by step", "sweep": "Sweep", "saved": "Saved runs"}
DEFAULT_VIEW = "train"
VIEW_WIDGET = "training_view"


def main() -> None:
    ensure_frame()
    dataset = load_selected_dataset()
    config = hyperparameter_panel()
    st.title("Training")
    st.caption(
        f"Fit the network from the sidebar on {dataset.title}: flattened (or kept 2-D for the CNN), scaled to "
        f"[0, 1], {config.epochs} epochs at batch {config.batch_size}. Each run trains in a worker process of its "
        "own and goes on while you visit other pages."
    )
    view = view_picker()
    owner = browser_owner()
    if view == "train":
        train_view(config, dataset, owner)
    elif view == "step":
        step_view(config, dataset, owner)
    elif view == "sweep":
        sweep_view(config, dataset, owner)
    else:
        saved_view(caches.run_store())


def view_picker() -> str:
    """Which view this tab shows: the link's (?view=), else the one picked before in this session, else Train."""
    if VIEW_WIDGET not in st.session_state:  # a first visit, or back from another page (widget state is dropped)
        linked = st.query_params.get(VIEW_PARAMETER)
        if linked is not None and linked not in VIEWS:
            st.warning("The view in the link is not one of this page's; Train a run is shown.")
        st.session_state[VIEW_WIDGET] = linked if linked in VIEWS else DEFAULT_VIEW
    st.segmented_control(
        "View",
        list(VIEWS),
        format_func=VIEWS.get,
        key=VIEW_WIDGET,
        on_change=_keep_a_view,
        label_visibility="collapsed",
    )
    view = st.session_state[VIEW_WIDGET]
    st.query_params[VIEW_PARAMETER] = view
    return view


def _keep_a_view() -> None:
    """Clicking the view shown deselects it: keep showing it."""
    if st.session_state[VIEW_WIDGET] is None:
        st.session_state[VIEW_WIDGET] = st.query_params.get(VIEW_PARAMETER, DEFAULT_VIEW)


main()
