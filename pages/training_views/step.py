"""Training, step by step: one batch per click, in a worker that keeps the network between clicks."""

from __future__ import annotations

import contextlib

import streamlit as st

from core import charts, insight_charts, training_charts
from core.config import ModelConfig
from core.data import Dataset
from core.state import LATEST_DRAWING_KEY, STEP_PROBLEM_KEY, STEPPER_KEY
from core.stepper import StepModeError
from pages.common import caches
from pages.common.panel import buildable
from pages.common.text import show_refusal
from pages.common.widgets import show_chart


def step_view(config: ModelConfig, dataset: Dataset, owner: str) -> None:
    """Training one batch at a time, in a worker that keeps the network between clicks."""
    st.header("Step by step")
    st.caption(
        "Train the sidebar's network one batch at a time and watch what each batch does: the loss, the "
        "batch's accuracy, the first layer's weights and your latest drawing's probabilities. The network "
        "waits in a worker between clicks; it is a sandbox, not saved as a run."
    )
    step_mode(config, dataset, owner)


@st.fragment
def step_mode(config: ModelConfig, dataset: Dataset, owner: str) -> None:
    """A click reruns only this fragment: one call to the worker, then the charts."""
    sessions = caches.step_sessions()
    if (problem := st.session_state.pop(STEP_PROBLEM_KEY, None)) is not None:
        show_refusal("Step mode could not start.", problem)
    try:
        stepping = st.session_state.get(STEPPER_KEY) or _found_stepper(sessions, owner)
    except (OSError, StepModeError) as error:
        show_refusal("Step mode is not available now.", str(error))
        return
    columns = st.columns(4)
    opening = {"on_click": _open_stepper, "args": (sessions, owner, config, dataset.name), "width": "stretch"}
    if stepping is None:
        columns[0].button(
            "Start step mode",
            icon=":material/footprint:",
            key="step_start",
            disabled=not buildable(config, dataset),
            **opening,
        )
        return
    stepper, stepped_config = stepping
    batches = 0
    for column, count in zip(columns, (1, 10), strict=False):
        emphasis = "primary" if count == 1 and st.context.theme.type != "dark" else "secondary"  # white on blue: 2.7:1
        if column.button(
            "Step" if count == 1 else f"Step {count}",
            key=f"step_{count}",
            icon=":material/skip_next:",
            type=emphasis,
            width="stretch",
        ):
            batches = count
    columns[2].button(
        "Start over",
        icon=":material/restart_alt:",
        key="step_restart",
        help="A new network from the sidebar's settings, from fresh weights.",
        **opening,
    )
    columns[3].button(
        "Leave step mode",
        icon=":material/close:",
        key="step_leave",
        width="stretch",
        on_click=_leave_step_mode,
        args=(sessions, owner),
    )
    drawing = st.session_state.get(LATEST_DRAWING_KEY)
    image = drawing["image"] if drawing and drawing["image"].shape == dataset.image_shape else None
    try:
        view = sessions.step(owner, stepper, batches, image)
    except StepModeError as error:
        st.session_state.pop(STEPPER_KEY, None)
        show_refusal("Step mode stopped.", str(error))
        return
    show_step(view)
    if stepped_config != config:
        st.caption("The sidebar changed since this network was built: Start over to step the new one.")


def _found_stepper(sessions, owner: str):
    """This browser's step-mode network left on the cluster (before a reload, or by another server)."""
    if (found := sessions.find(owner)) is not None:
        st.session_state[STEPPER_KEY] = found
    return found


def _open_stepper(sessions, owner: str, config: ModelConfig, dataset_name: str) -> None:
    try:
        st.session_state[STEPPER_KEY] = (sessions.open(owner, config, dataset_name), config)
    except (OSError, StepModeError) as error:
        st.session_state[STEP_PROBLEM_KEY] = str(error)


def _leave_step_mode(sessions, owner: str) -> None:
    st.session_state.pop(STEPPER_KEY, None)
    with contextlib.suppress(OSError):
        sessions.close(owner)


def show_step(view) -> None:
    """After a step: where training stands, the batch curves, the weight pictures, the drawing's probabilities."""
    batch, loss, accuracy = st.columns(3)
    batch.metric(
        "Batches trained",
        f"{view.step:,}",
        help=f"Step counts batches; an epoch is {view.batches_per_epoch:,} of them.",
    )
    if view.losses:
        change = view.losses[-1] - view.losses[-2] if len(view.losses) > 1 else None
        loss.metric(
            "Loss of the last batch",
            f"{view.losses[-1]:.4f}",
            None if change is None else f"{change:+.4f}",
            delta_color="inverse",
        )
        accuracy.metric("Its accuracy", f"{view.accuracies[-1]:.1%}")
    st.caption(
        f"Epoch {view.epoch}, batch {view.batch} of {view.batches_per_epoch} next (the worker took "
        f"{view.milliseconds:.0f} ms)."
    )
    if view.losses:
        show_chart(st, training_charts.batch_curves(view.losses, view.accuracies), key="step-curves")
    weights_column, drawing_column = st.columns([2, 1])
    with weights_column:
        titles = [f"#{unit}" for unit in view.units]
        show_chart(st, insight_charts.weight_grid(view.weights, titles), key="step-weights")
        st.caption(
            f"The first layer's first {len(view.units)} weight pictures (as on Inside the network): red "
            "pixels excite a unit, blue ones hold it back. They start as noise: watch strokes "
            "appear."
        )
    with drawing_column:
        if view.probabilities is None:
            st.caption("Draw a digit on Draw & predict: its probabilities will move here, batch by batch.")
        else:
            show_chart(st, charts.probability_bars(view.probabilities), key="step-drawing")
            top = int(view.probabilities.argmax())
            st.caption(f"Your latest drawing reads as a {top} ({view.probabilities[top]:.1%}) now.")
