"""Widgets and helpers shared by several pages (not a page itself: app.py does not list it)."""

from __future__ import annotations

import numpy as np
import streamlit as st

from core import charts, insight_charts
from core.adversarial import AttackError, Fooling, fool
from core.corruptions import CORRUPTIONS, corrupt
from core.data import Dataset, image_format_of
from core.insight import integrated_gradients
from core.state import CHOSEN_RUN_KEY, RUN_KEY
from core.store import RunRecord
from core.strokes import image_probabilities
from core.tasks import TaskState
from pages.common import caches, services
from pages.common.text import escape_markdown, show_refusal

# ---- Tasks on the cluster -------------------------------------------------------------------------------------

TASK_REFRESH_SECONDS = 0.5


def task_ui(key: str) -> TaskState | None:
    """This session's task under `key` (a core.tasks.Task): its progress bar and Cancel while it runs; its final
    state once, when it has ended (then it is forgotten); None while it runs or when there is none."""
    task = st.session_state.get(key)
    if task is None:
        return None
    state = task.state()
    if state.finished:
        del st.session_state[key]
        return state
    task_progress(key)
    return None


@st.fragment(run_every=TASK_REFRESH_SECONDS)
def task_progress(key: str) -> None:
    task = st.session_state.get(key)
    if task is None:
        return
    state = task.state()
    if state.finished:
        st.rerun()  # the whole page, once: it shows the result
    st.progress(state.fraction, text=f"{escape_markdown(task.label, limit=80)}: {escape_markdown(state.message)}")
    if st.button("Cancel", icon=":material/cancel:", key=f"{key}-cancel"):
        task.cancel()


# ---- Charts -----------------------------------------------------------------------------------------------------

# Plotly's toolbar stays visible (not only on hover), so every chart can be downloaded as a PNG from its camera icon.
CHART_CONFIG = {"displayModeBar": True, "displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}


def show_chart(container, figure, **options):
    """A plotly chart in `container` (st, a column...), its toolbar with 'Download plot as PNG' always shown."""
    return container.plotly_chart(figure, config=CHART_CONFIG, **options)


def show_evidence(container, model, image: np.ndarray, digit: int, title: str, key: str) -> np.ndarray:
    """Integrated gradients for `digit`, drawn over the image in `container`; returns the attribution."""
    attribution = integrated_gradients(model, image, digit)
    show_chart(container, insight_charts.attribution_overlay(image, attribution, title), key=key)
    return attribution


# ---- Fooling the network (Draw & predict, Inside the network) -------------------------------------------------

ANY_OTHER = "any other"
FOOL_METHODS = {"FGSM": "FGSM (one step)", "PGD": "PGD (10 small steps)"}


def fooling_ui(model, image: np.ndarray, key: str) -> Fooling | None:
    """Attack one digit: the target, epsilon and method, then the fooling image, the change scaled up until it
    shows, and the probabilities before and after. Widget keys start with `key`."""
    target_column, epsilon_column, method_column = st.columns(3)
    target = target_column.selectbox(
        "Make it read",
        [ANY_OTHER, *range(10)],
        key=f"{key}-target",
        format_func=lambda t: f"{t} digit" if t == ANY_OTHER else f"a {t}",
    )
    epsilon = epsilon_column.slider(
        "Epsilon: the most any pixel may change",
        0.01,
        0.3,
        0.1,
        step=0.01,
        key=f"{key}-epsilon",
        help="On the model's 0-to-1 scale of gray: 0.1 is 26 levels of 255.",
    )
    method = method_column.radio(
        "Method",
        list(FOOL_METHODS),
        format_func=FOOL_METHODS.get,
        horizontal=True,
        key=f"{key}-method",
        help="FGSM moves every pixel by epsilon at once, along the "
        "sign of the gradient. PGD takes 10 smaller steps, each kept within epsilon of "
        "the original: slower, and stronger.",
    )
    try:
        result = fool(model, image, method, epsilon, None if target == ANY_OTHER else int(target))
    except AttackError as error:
        show_refusal("This digit cannot be attacked.", str(error))
        return None
    if result.target == result.answer_before:
        st.info(f"The network already reads a {target}: pick another digit to aim for.", icon=":material/info:")
        return result
    fooled_column, change_column, bars_column = st.columns(3)
    show_chart(fooled_column, charts.image_heatmap(result.adversarial, "The fooling image"), key=f"{key}-image")
    scale = 1 / max(float(np.abs(result.change).max()), 1e-6)
    show_chart(
        change_column,
        insight_charts.change_heatmap(result.change, f"The change, {scale:.0f}x stronger"),
        key=f"{key}-change",
    )
    with bars_column:
        after = result.answer_after
        st.metric(
            "After the attack it reads",
            str(after),
            f"{result.after[after]:.1%} sure",
            delta_color="off",
            delta_arrow="off",
        )
        show_chart(st, insight_charts.probabilities_before_after(result.before, result.after), key=f"{key}-bars")
    before = result.answer_before
    if result.fooled:
        outcome = f"Fooled: the network now reads a {after} ({result.after[after]:.1%}), not a {before}."
    elif result.target is None:
        outcome = f"Not fooled at this epsilon: it still reads a {after}. Raise epsilon or try PGD."
    else:
        outcome = f"Not fooled into a {result.target}: it reads a {after}. Raise epsilon or try PGD."
    st.caption(
        f"{outcome} No pixel moved by more than {epsilon:g} ({round(epsilon * 255)} gray levels of 255): "
        "a person still reads the digit they read before. In the middle, ink the attack added is red and ink "
        "it took away blue."
    )
    return result


# ---- The model that reads digits (Draw & predict, Inside the network) ----------------------------------------


def runs_for(dataset: Dataset) -> list[RunRecord]:
    """The saved runs whose models read this dataset's images (28x28 or 8x8), newest first."""
    return [r for r in caches.run_store().records() if image_format_of(r.dataset) == dataset.image_format]


def model_picker(records: list[RunRecord]) -> str:
    """The saved run that reads digits: the one chosen before, else the session's latest training, else the newest."""
    by_id = {record.run_id: record for record in records}
    latest = st.session_state.get(RUN_KEY)
    chosen = st.session_state.get(CHOSEN_RUN_KEY)
    if chosen not in by_id:
        chosen = latest if latest in by_id else records[0].run_id

    def describe(run_id: str) -> str:
        record = by_id[run_id]
        accuracy = record.result.test_accuracy
        accuracy_text = f"{accuracy:.2%}" if accuracy is not None else "not evaluated"
        mine = ", your latest" if run_id == latest else ""
        return f"{run_id}: test accuracy {accuracy_text} ({record.source}{mine})"

    run_ids = list(by_id)
    picked = st.selectbox("Model", run_ids, index=run_ids.index(chosen), format_func=describe, key="model_picker")
    st.session_state[CHOSEN_RUN_KEY] = picked
    services.mark_opened(picked)
    return picked


# ---- Corrupting a digit (Draw & predict) ----------------------------------------------------------------------


def corruption_ui(model, image: np.ndarray, probabilities: np.ndarray, key: str) -> None:
    """One of MNIST-C's corruptions on this digit at a chosen severity: the corrupted image and what the network
    reads in it, beside what it read before."""
    if image.shape != (28, 28):
        st.caption("The corruptions are MNIST's, for 28x28 digits: this model reads another size.")
        return
    name_column, severity_column = st.columns([2, 1])
    name = name_column.selectbox(
        "Corruption", list(CORRUPTIONS), format_func=lambda n: CORRUPTIONS[n].title, key=f"{key}-name"
    )
    corruption = CORRUPTIONS[name]
    severity = severity_column.slider(
        "Severity",
        1,
        5,
        corruption.paper_severity,
        key=f"{key}-severity-{name}",
        help="MNIST-C's: as the slider starts.",
    )
    corrupted = corrupt(image, name, severity, seed=0)
    after = image_probabilities(model, corrupted)
    image_column, answer_column = st.columns(2)
    show_chart(
        image_column, charts.image_heatmap(corrupted, f"{corruption.title}, severity {severity}"), key=f"{key}-image"
    )
    with answer_column:
        digit, before = int(np.argmax(after)), int(np.argmax(probabilities))
        st.metric("Corrupted, it reads", str(digit), f"{after[digit]:.1%} sure", delta_color="off", delta_arrow="off")
        show_chart(st, insight_charts.probabilities_before_after(probabilities, after), key=f"{key}-bars")
    change = "the same digit" if digit == before else f"a {digit} instead of a {before}"
    st.caption(f"{corruption.explanation} The network reads {change}.")
