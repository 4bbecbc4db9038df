"""Your handwriting: the learner's labelled digits as a test set for every model, and the digits kept back from
training on the class's."""

from __future__ import annotations

import numpy as np
import streamlit as st

from core import charts
from core.data import Dataset
from core.my_digits import CLASS_DIGITS_SOURCE, KEPT_BACK_EVERY, LabelledDigits, read_digits, training_share
from core.store import RunRecord, RunStore
from pages.common import caches
from pages.common.identity import browser_owner
from pages.common.widgets import show_chart

HANDWRITING_RUNS = 8  # the newest runs compared on the user's digits
MISREAD_SHOWN = 40


def handwriting_ui(store: RunStore, records: list[RunRecord], run_id: str, dataset: Dataset) -> None:
    """The user's labelled digits as a test set: every saved model on them beside MNIST, and what it misread."""
    owner = browser_owner()
    digits_store = caches.my_digits(dataset.image_format)
    everyone = digits_store.load()
    whose = st.radio("Whose digits", ["mine", "everyone's on this server"], horizontal=True, key="whose_digits")
    digits = everyone.of(owner if whose == "mine" else None)
    if not len(digits):
        st.info(
            'No labelled digits yet. On the Draw tab, draw a digit, pick what it is ("This is a...") and '
            "keep it: your digits collect here, and every saved model is tested on them.",
            icon=":material/draw:",
        )
        return
    st.caption(f"{len(digits)} labelled digits; models read them exactly as the canvas sends them.")
    rows = []
    picked_first = sorted(records, key=lambda record: record.run_id != run_id)  # the run chosen above, then the newest
    for record in picked_first[:HANDWRITING_RUNS]:
        report = read_digits(caches.saved_model(str(store.root), record.run_id), digits)
        rows.append(
            {
                "run": record.run_id,
                "source": record.source,
                "MNIST test accuracy": record.result.test_accuracy,
                "accuracy on these digits": report.accuracy,
            }
        )
    st.dataframe(
        rows,
        hide_index=True,
        column_config={
            "MNIST test accuracy": st.column_config.NumberColumn(format="percent"),
            "accuracy on these digits": st.column_config.NumberColumn(format="percent"),
        },
    )
    if any(CLASS_DIGITS_SOURCE in record.source for record in records[:HANDWRITING_RUNS]):
        st.caption(
            "A run trained with the class's digits has seen most of these: compare runs on the digits kept "
            "back from it, below."
        )
    report = read_digits(caches.saved_model(str(store.root), run_id), digits)
    show_chart(st, charts.accuracy_by_digit(report.per_digit, report.counts), key="handwriting-per-digit")
    drawn = report.counts > 0
    st.caption(
        f"The chosen model reads {report.accuracy:.0%} of these digits right; by digit from "
        f"{np.nanmin(report.per_digit[drawn]):.0%} to {np.nanmax(report.per_digit[drawn]):.0%}."
    )
    misread = np.flatnonzero(report.predicted != digits.labels)[:MISREAD_SHOWN]
    if len(misread):
        titles = [f"{report.predicted[i]}, true {digits.labels[i]} ({report.confidence[i]:.0%})" for i in misread]
        show_chart(st, charts.image_grid(digits.images[misread] * 255, titles), key="handwriting-misread")
        st.caption(f"The {len(misread)} digits the chosen model misread, as it saw them.")
    kept_back_ui(store, records, everyone)
    download_column, clear_column = st.columns(2)
    download_column.download_button(
        "Download as .npz",
        digits_store.download(owner if whose == "mine" else None),
        file_name=f"my-digits-{dataset.image_format}.npz",
        mime="application/octet-stream",
        icon=":material/download:",
        key="download_my_digits",
    )
    if clear_column.button("Forget my digits", icon=":material/delete:", key="clear_my_digits"):
        digits_store.clear(owner)
        st.rerun()


def kept_back_ui(store: RunStore, records: list[RunRecord], everyone: LabelledDigits) -> None:
    """What training on the class's digits did: every recent run on the class's digits that no run trains on."""
    st.subheader("Trained on the class's digits: the digits kept back")
    _, back = training_share(everyone)
    if not len(back):
        st.caption(
            f"One in {KEPT_BACK_EVERY} of the class's labelled digits (chosen by its pixels) is kept "
            "back from training on them; none is yet. Label more digits to see what training on them "
            "does."
        )
        return
    rows = []
    for record in records[:HANDWRITING_RUNS]:
        report = read_digits(caches.saved_model(str(store.root), record.run_id), back)
        rows.append(
            {
                "run": record.run_id,
                "trained on the class's digits": CLASS_DIGITS_SOURCE in record.source,
                "MNIST test accuracy": record.result.test_accuracy,
                "on the kept-back digits": report.accuracy,
            }
        )
    st.dataframe(
        rows,
        hide_index=True,
        column_config={
            "MNIST test accuracy": st.column_config.NumberColumn(format="percent"),
            "on the kept-back digits": st.column_config.NumberColumn(format="percent"),
        },
    )
    best = {
        with_them: max(
            (row["on the kept-back digits"] for row in rows if row["trained on the class's digits"] == with_them),
            default=None,
        )
        for with_them in (True, False)
    }
    summary = (
        f"{len(back)} of the class's {len(everyone)} digits are kept back (one in {KEPT_BACK_EVERY}, by its pixels)"
    )
    if best[True] is not None and best[False] is not None:
        summary += (
            f": the best run trained with the class's other digits reads {best[True]:.0%} of them, the best "
            f"without {best[False]:.0%}."
        )
    else:
        summary += (
            ": no run trained with the class's digits is among these yet (Training: Also train on the class's "
            "labelled digits)."
            if best[True] is None
            else ": every run here trained with the class's digits."
        )
    st.caption(summary)
