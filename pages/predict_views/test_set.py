"""The test set, as in the notebook: the first digits and their probabilities, accuracy, confusions, mistakes."""

from __future__ import annotations

import numpy as np
import streamlit as st

from core import charts
from core.data import Dataset
from core.state import CLICKED_CELL_KEY
from core.store import RunStore
from pages.common import caches
from pages.common.widgets import show_chart, show_evidence

GALLERY_SIZE = 40
ANY = "any"


def test_set_ui(store: RunStore, run_id: str, dataset: Dataset) -> None:
    """The notebook's test-set views: the first digits, one probability vector, accuracy, confusions, mistakes."""
    st.header("The test set, as in the notebook")
    views = caches.test_set_views(str(store.root), run_id, dataset.name)
    wrong = views.predicted != dataset.y_test
    mistakes = f"{wrong.sum():,} of {len(wrong):,} wrong"
    accuracy_column, download_column = st.columns([3, 1], vertical_alignment="bottom")
    accuracy_column.metric("Test accuracy", f"{1 - wrong.mean():.2%}", mistakes, delta_color="off", delta_arrow="off")
    download_column.download_button(
        "Predictions as CSV",
        views.predictions_csv,
        file_name=f"predictions-{run_id}.csv",
        mime="text/csv",
        icon=":material/download:",
        key="download_predictions",
    )
    show_chart(st, views.first_digits, key="first_ten")
    first = slice(0, 10)
    st.caption(
        f"The first ten test digits. Read as: {' '.join(map(str, views.predicted[first]))}; labels: "
        f"{' '.join(map(str, dataset.y_test[first]))}."
    )
    vector_column, text_column = st.columns([2, 1])
    show_chart(vector_column, views.first_probabilities, key="first_probabilities")
    first, answer = views.probabilities[0], views.predicted[0]
    text_column.markdown(
        f"**The first test digit.** Its highest probability is at index **{answer}** ({first[answer]:.4f}); "
        f"its label is **{dataset.y_test[0]}**.\n\n"
        + "\n".join(f"- {digit}: {value:.6f}" for digit, value in enumerate(first))
    )
    matrix_column, accuracy_column = st.columns([2, 1])
    with matrix_column:
        event = show_chart(st, views.confusion_figure, on_select="rerun", selection_mode="points", key="confusion")
        off_diagonal = views.confusion - np.diag(np.diag(views.confusion))
        true_digit, read_as = np.unravel_index(off_diagonal.argmax(), off_diagonal.shape)
        commonest = (
            f"The commonest mistake: {true_digit} read as {read_as}, {off_diagonal.max()} times. "
            if off_diagonal.max()
            else "No mistakes. "
        )
        st.caption(commonest + "Click a cell off the diagonal to see those mistakes below.")
    with accuracy_column:
        totals = views.confusion.sum(axis=1)
        accuracy = [
            f"{right / total:.1%}" if total else "no test images"
            for right, total in zip(views.confusion.diagonal(), totals, strict=True)
        ]
        st.table({"digit": list(range(10)), "accuracy": accuracy}, hide_index=True)
    follow_clicked_cell(event)
    mistakes_ui(caches.saved_model(str(store.root), run_id), dataset, views.probabilities, views.predicted, wrong)


def follow_clicked_cell(event) -> None:
    """A click on a confusion cell sets the mistakes filters below (once per new click)."""
    points = event.selection.points if event and event.selection else []
    if points and st.session_state.get(CLICKED_CELL_KEY) != points[0]:
        st.session_state[CLICKED_CELL_KEY] = points[0]
        st.session_state["mistake_true"] = int(points[0]["y"])
        st.session_state["mistake_predicted"] = int(points[0]["x"])


def mistakes_ui(model, dataset: Dataset, probabilities: np.ndarray, predicted: np.ndarray, wrong: np.ndarray):
    """The misread test images of the chosen kind; clicking one shows why, for its answer and for the truth."""
    st.header("Mistakes")
    true_column, predicted_column = st.columns(2)
    true_digit = true_column.selectbox("True digit", [ANY, *range(10)], key="mistake_true")
    predicted_digit = predicted_column.selectbox("Predicted as", [ANY, *range(10)], key="mistake_predicted")
    selected = wrong.copy()
    if true_digit != ANY:
        selected &= dataset.y_test == true_digit
    if predicted_digit != ANY:
        selected &= predicted == predicted_digit
    indices = np.flatnonzero(selected)
    if len(indices) == 0:
        st.caption("No mistakes of that kind.")
        return
    shown = indices[:GALLERY_SIZE]
    labels = [f"{predicted[i]}, true {dataset.y_test[i]} ({probabilities[i, predicted[i]]:.0%})" for i in shown]
    event = show_chart(
        st,
        charts.image_grid(dataset.x_test[shown], labels, clickable=True),
        key="mistakes",
        on_select="rerun",
        selection_mode="points",
    )
    st.caption(
        f"{len(indices):,} such mistakes; the first {len(shown)} shown with the model's confidence. "
        "Click one to see why it was misread."
    )
    points = event.selection.points if event and event.selection else []
    clicked = points[0].get("point_index", points[0].get("point_number")) if points else None
    if clicked is not None:
        index = int(shown[clicked])
        why_chain(model, dataset.x_test[index] / dataset.pixel_max, int(predicted[index]), int(dataset.y_test[index]))


def why_chain(model, image: np.ndarray, answer: int, truth: int) -> None:
    """One misread test image: the evidence the model saw for its answer beside the evidence for the truth."""
    answer_column, truth_column = st.columns(2)
    for column, digit, role in ((answer_column, answer, "its answer"), (truth_column, truth, "the truth")):
        show_evidence(column, model, image, digit, f"Evidence for {digit} ({role})", key=f"why-mistake-{role}")
    st.caption(
        f"Red pixels pushed the model towards the digit above them, blue ones away. Where the {answer} "
        f"found more red than the {truth}, the model read a {answer}."
    )
