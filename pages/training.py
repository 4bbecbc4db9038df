"""Training: fit the configured network live, watch its curves, evaluate it, keep and compare runs."""

from __future__ import annotations

import streamlit as st

from core import cache, charts
from core.config import ConfigError, ModelConfig
from core.data import Dataset
from core.jobs import JobError, TrainingJob
from core.runs import Progress, RunResult, RunState
from core.store import RunStore, StoreError, is_run_id
from core.uploads import UploadError, evaluate_upload, load_uploaded_model
from pages.widgets import (
    RUN_KEY,
    browser_owner,
    ensure_frame,
    escape_markdown,
    hyperparameter_panel,
    load_selected_dataset,
    show_refusal,
)

TRAIN_SIZES = {"all": None, "10,000": 10_000, "2,000": 2_000}
REFRESH_SECONDS = 1.0
UPLOADED_KEY = "saved_upload"  # the file id of the last upload kept, so a rerun does not keep it twice


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
    owner = browser_owner()
    run_id = linked_run_id()
    job = cache.job_board().get(run_id)
    training_controls(config, dataset, job, owner)
    run_view(run_id, job, owner)
    st.divider()
    saved_runs_ui(cache.run_store())


def linked_run_id() -> str | None:
    """The run this session shows: its latest, or the one in the link (?run=, only if it looks like a run id)."""
    linked = st.query_params.get("run", "")
    if RUN_KEY not in st.session_state and is_run_id(linked):
        st.session_state[RUN_KEY] = linked
    run_id = st.session_state.get(RUN_KEY)
    if run_id:
        st.query_params["run"] = run_id
    elif linked:
        st.warning("The run in the link is not a run id; it was ignored.")
        del st.query_params["run"]
    return run_id


def training_controls(config: ModelConfig, dataset: Dataset, job: TrainingJob | None, owner: str) -> None:
    """The slice choice, Train and Stop (Stop only for the browser that started the run)."""
    try:
        cache.model_description(config, dataset.image_shape)  # refuse what cannot be built before training it
        buildable = True
    except ConfigError as error:
        show_refusal("This configuration cannot be trained.", str(error))
        buildable = False
    active = job is not None and job.progress().active
    mine = job is not None and job.owned_by(owner)
    size_column, train_column, stop_column = st.columns([2, 1, 1], vertical_alignment="bottom")
    size = size_column.segmented_control(
        "Training images", list(TRAIN_SIZES), default="all", key="train_size",
        help="Fewer images train faster, for a quick look.",
    )  # fmt: skip
    if train_column.button("Train", type="primary", icon=":material/play_arrow:", disabled=(active and mine)
                           or not buildable, width="stretch", key="train"):  # fmt: skip
        try:
            job = cache.start_training(owner, config, dataset.name, TRAIN_SIZES[size or "all"])
        except JobError as error:
            show_refusal("Training could not start.", str(error))
        else:
            st.session_state[RUN_KEY] = job.run_id
            st.query_params["run"] = job.run_id
            st.rerun()
    if stop_column.button("Stop", icon=":material/stop:", disabled=not (active and mine), width="stretch", key="stop"):
        cache.job_board().stop(job.run_id, owner)


def run_view(run_id: str | None, job: TrainingJob | None, owner: str) -> None:
    """The run this session looks at: live while it trains, then its result; a saved run from the store."""
    if job is not None and not job.owned_by(owner):
        st.info("This run was started in another browser: you can watch it, not stop it.", icon=":material/visibility:")
    if job is not None and job.progress().active:
        live_view(job)
    elif job is not None:
        show_progress(job.progress())
    elif run_id and (record := cache.run_store().get(run_id)):
        st.caption(f"Run {record.run_id}, saved {record.created}")
        st.plotly_chart(charts.training_curves({record.run_id: record.result.history}, record.result.epochs_done))
        show_result(record.result)
    elif run_id:
        st.warning(f"Run {escape_markdown(run_id)} from the link is not on this server any more.")
        del st.session_state[RUN_KEY]
        del st.query_params["run"]


@st.fragment(run_every=REFRESH_SECONDS)
def live_view(job: TrainingJob) -> None:
    """Redraws from the job's progress every second; the run itself trains in a worker process."""
    progress = job.progress()
    show_progress(progress)
    if progress.ended:
        st.rerun()  # the whole page, once: re-enables Train and lists the new run


def show_progress(progress: Progress) -> None:
    """Where a run stands: waiting, a progress bar while it trains, or how it ended; its curves; its result."""
    if progress.state is RunState.WAITING:
        st.info(progress.message or "Waiting to start...", icon=":material/hourglass:")
    elif progress.active:
        done = progress.batch / max(progress.batches_per_epoch, 1)
        left = f", about {progress.seconds_left:.0f} s left" if progress.seconds_left is not None else ""
        status = progress.message or (
            f"Epoch {min(progress.epoch + 1, progress.epochs)} of {progress.epochs}: batch {progress.batch} of "
            f"{progress.batches_per_epoch}, {progress.samples_per_second:,.0f} samples/s{left}"
        )
        st.progress(min(done, 1.0), text=status)
    else:
        text = f"{progress.state.value.capitalize()} after {progress.epoch} of {progress.epochs} epochs."
        (st.error if progress.state.failed else st.success)(f"{text} {escape_markdown(progress.message)}".strip())
    worker = f", worker {progress.worker}" if progress.worker else ""
    st.caption(f"Run {progress.run_id} ({progress.compile_mode or 'starting'}{worker})")
    if progress.result.history:
        curves = charts.training_curves({progress.run_id: progress.result.history}, progress.epochs)
        st.plotly_chart(curves, key="live")
    show_result(progress.result)


def show_result(result: RunResult) -> None:
    """Test metrics next to the last training accuracy, and what the gap means."""
    if result.test_accuracy is None or result.train_accuracy is None:
        return
    gap = result.train_accuracy - result.test_accuracy
    test, train, difference, time_taken = st.columns(4)
    test.metric("Test accuracy", f"{result.test_accuracy:.2%}", help=f"Test loss {result.test_loss:.4f}")
    train.metric("Training accuracy", f"{result.train_accuracy:.2%}", help="In the last epoch")
    difference.metric("Gap", f"{gap:+.2%}", delta_color="off", delta_arrow="off")
    time_taken.metric("Time", f"{result.seconds:.1f} s")
    if gap > 0.005:
        st.info(
            f"The model is {gap:.1%} better on images it trained on than on images it never saw: that gap is "
            "**overfitting**. It has begun to learn its training images, not just digits. Dropout, an L2 penalty, "
            "fewer epochs or more data narrow it; the validation curves show when it starts.",
            icon=":material/school:",
        )
    else:
        st.success("Test and training accuracy agree: no sign of overfitting yet.", icon=":material/check:")


def saved_runs_ui(store: RunStore) -> None:
    """Upload a model; the table of saved runs; curves of chosen runs side by side; downloads."""
    st.subheader("Saved runs")
    with st.expander("Upload a .keras model", icon=":material/upload:"):
        upload_ui(store)
    records = store.records()
    if not records:
        st.caption(f"Finished and stopped runs are kept in {escape_markdown(store.root)}. None yet.")
        return
    st.dataframe(
        [
            {"run": r.run_id, "dataset": r.dataset, "source": r.source, "state": r.state.value,
             "test accuracy": r.result.test_accuracy, "train accuracy": r.result.train_accuracy,
             "epochs": r.result.epochs_done, "images": r.train_samples, "seconds": r.result.seconds,
             "config": str(r.config)}
            for r in records
        ],
        hide_index=True,
        column_config={
            "test accuracy": st.column_config.NumberColumn(format="percent"),
            "train accuracy": st.column_config.NumberColumn(format="percent"),
        },
    )  # fmt: skip
    run_ids = [record.run_id for record in records]
    chosen = st.multiselect("Compare runs", run_ids, default=run_ids[:2], key="compare_runs")
    by_id = {record.run_id: record for record in records}
    curves = {run: by_id[run].result.history for run in chosen if by_id[run].result.history}
    if curves:
        st.plotly_chart(charts.training_curves(curves), key="compare")
    with st.columns(2)[0]:
        to_download = st.selectbox("Model to download", run_ids, key="download_run")
        st.download_button(
            "Download digits.keras", data=store.model_path(to_download).read_bytes(), file_name="digits.keras",
            mime="application/zip", icon=":material/download:", key="download_keras",
        )  # fmt: skip


def upload_ui(store: RunStore) -> None:
    """A .keras file in, checked before anything is built, evaluated, and kept as a run."""
    uploaded = st.file_uploader("A Keras model saved as .keras", type=["keras"], key="upload_model")
    if uploaded is None or st.session_state.get(UPLOADED_KEY) == uploaded.file_id:
        return
    name = escape_markdown(uploaded.name, limit=80)
    try:
        checked = load_uploaded_model(uploaded.getvalue())
        loss, accuracy = evaluate_upload(checked, cache.dataset(checked.dataset))
        record = store.save_upload(checked.model, checked.dataset, loss, accuracy, uploaded.name)
    except (UploadError, StoreError) as error:
        show_refusal(f"{uploaded.name[:80]} was refused.", str(error))
        return
    st.session_state[UPLOADED_KEY] = uploaded.file_id
    st.success(f"{name} reads {checked.dataset} images: saved as run {record.run_id}, test accuracy "
               f"{record.result.test_accuracy:.2%}.")  # fmt: skip


main()
