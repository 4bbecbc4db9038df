"""Saved runs: upload a model, the table of runs, curves side by side, one run's card and downloads."""

from __future__ import annotations

import streamlit as st

from core import export, training_charts
from core.export import TFLITE_SNIPPET
from core.model_cost import in_words
from core.retention import NoRoom
from core.state import MODEL_CHECK_KEY, MODEL_UPLOAD_KEY
from core.store import RunRecord, RunStore
from core.tasks import check_model
from core.training_charts import curves_summary
from core.uploads import MAX_MULTIPLY_ADDS
from pages.common import caches, services
from pages.common.text import escape_markdown, show_refusal
from pages.common.widgets import show_chart, task_ui
from pages.training_views.robustness import robustness_ui


def saved_view(store: RunStore) -> None:
    """Upload a model; the table of saved runs; curves of chosen runs side by side; one run's details."""
    st.header("Saved runs")
    with st.expander("Upload a model (.keras, or a legacy .h5)", icon=":material/upload:"):
        upload_ui(store)
    records = store.records()
    if not records:
        st.caption(f"Finished and stopped runs are kept in {escape_markdown(store.root)}. None yet.")
        return
    st.dataframe(
        [
            {
                "run": r.run_id,
                "dataset": r.dataset,
                "source": r.source,
                "state": r.state.value,
                "test accuracy": r.result.test_accuracy,
                "train accuracy": r.result.train_accuracy,
                "epochs": r.result.epochs_done,
                "images": r.train_samples,
                "seconds": r.result.seconds,
                "config": str(r.config),
            }
            for r in records
        ],
        hide_index=True,
        column_config={
            "test accuracy": st.column_config.NumberColumn(format="percent"),
            "train accuracy": st.column_config.NumberColumn(format="percent"),
        },
    )
    run_ids = [record.run_id for record in records]
    by_id = {record.run_id: record for record in records}
    chosen = st.pills("Compare runs", run_ids, selection_mode="multi", default=run_ids[:2], key="compare_runs")
    curves = {run: by_id[run].result.history for run in chosen if by_id[run].result.history}
    if curves:
        show_chart(st, training_charts.training_curves(curves), key="compare")
        st.caption(" ".join(f"{run}: {curves_summary(history)}" for run, history in curves.items()))
    record = by_id[st.selectbox("Run details", run_ids, key="detail_run")]
    run_details_ui(store, record)
    robustness_ui(store, record)


def run_details_ui(store: RunStore, record: RunRecord) -> None:
    """One run: its card (for uploads), and everything it can be taken out as."""
    if record.card:
        model_card_ui(record.card)
    keras_column, lite_column, history_column = st.columns(3)
    keras_column.download_button(
        "Download digits.keras",
        data=store.model_path(record.run_id).read_bytes(),
        file_name="digits.keras",
        mime="application/zip",
        icon=":material/download:",
        key="download_keras",
    )
    if record.result.history:
        history_column.download_button(
            "History as CSV",
            export.history_csv(record.result.history),
            file_name=f"history-{record.run_id}.csv",
            mime="text/csv",
            icon=":material/table:",
            key="download_history",
        )
    flatbuffer = (
        caches.tflite_model(str(store.root), record.run_id)
        if lite_column.toggle("TensorFlow Lite, for phones", key="want_tflite")
        else None
    )
    if flatbuffer is not None:
        lite_column.download_button(
            f"Download digits.tflite ({len(flatbuffer) / 2**20:.2f} MB)",
            flatbuffer,
            file_name="digits.tflite",
            mime="application/octet-stream",
            icon=":material/smartphone:",
            key="download_tflite",
        )
        st.code(TFLITE_SNIPPET, language="python")
    logs = store.logs_path(record.run_id)
    if logs.is_dir():
        st.caption(f"TensorBoard: tensorboard --logdir {escape_markdown(store.root)} shows this run with the others.")
    else:
        st.caption("This run has no TensorBoard logs (uploaded models bring none).")


def model_card_ui(card: dict) -> None:
    """What an uploaded model expects and how it reads its dataset."""
    with st.container(border=True):
        st.markdown("**Model card**")
        shape, scale, parameters, cost, accuracy = st.columns(5)
        shape.metric("Input shape", str(tuple(card["input_shape"])))
        scale.metric("Pixels fed as", card["pixel_scale"])
        parameters.metric("Parameters", f"{card['parameters']:,}")
        if card.get("multiply_adds"):  # cards kept before the estimate existed have none
            cost.metric(
                "Multiply-adds per digit",
                in_words(card["multiply_adds"]),
                help="Estimated from its layers' shapes before it was built; the limit is "
                f"{in_words(MAX_MULTIPLY_ADDS)}.",
            )
        accuracy.metric("Accuracy on its test set", f"{card['test_accuracy']:.2%}")
        for note in card["notes"]:
            st.caption(escape_markdown(note))
        st.dataframe(card["layers"], hide_index=True)


def upload_ui(store: RunStore) -> None:
    """A model file in, checked before anything is built, fitted to Digit Lab, evaluated and kept as a run: all of
    it on the cluster, with a progress bar and Cancel here."""
    uploaded = st.file_uploader("A Keras model saved with model.save", type=["keras", "h5"], key="upload_model")
    if (task := st.session_state.get(MODEL_CHECK_KEY)) is not None and (ended := task_ui(MODEL_CHECK_KEY)) is not None:
        if ended.error:
            show_refusal(f"{task.label} was refused.", ended.error)
        elif (record := store.get(ended.result)) is not None:
            st.success(
                f"{escape_markdown(task.label, limit=80)} reads {record.dataset} images: saved as run "
                f"{record.run_id}, test accuracy {record.result.test_accuracy:.2%}."
            )
            model_card_ui(record.card)
    already_sent = uploaded is not None and st.session_state.get(MODEL_UPLOAD_KEY) == uploaded.file_id
    if uploaded is None or already_sent or MODEL_CHECK_KEY in st.session_state:
        return
    st.session_state[MODEL_UPLOAD_KEY] = uploaded.file_id
    try:
        st.session_state[MODEL_CHECK_KEY] = services.start_task(
            uploaded.name[:80], check_model, uploaded.getvalue(), uploaded.name, str(store.root.resolve())
        )
    except OSError as error:
        show_refusal(f"{uploaded.name[:80]} could not be checked now.", f"The cluster is not reachable: {error}")
        return
    except NoRoom as error:
        show_refusal(f"{uploaded.name[:80]} could not be checked now.", str(error))
        return
    st.rerun()
