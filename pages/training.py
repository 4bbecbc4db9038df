"""Training: fit the configured network live, watch its curves, evaluate it, keep and compare runs."""

import streamlit as st

from core import cache, charts
from core.model import ModelBuildError
from core.store import UploadError, load_uploaded_model
from core.training import JobError, TrainingData
from pages.widgets import RUN_KEY, ensure_frame, hyperparameter_panel, load_selected_dataset, session_owner

ensure_frame()

TRAIN_SIZES = {"all": None, "10,000": 10_000, "2,000": 2_000}
REFRESH_SECONDS = 1.0

dataset = load_selected_dataset()
config = hyperparameter_panel()
board = cache.job_board()
store = cache.run_store()

# A reloaded tab finds its run again through the URL.
if RUN_KEY not in st.session_state and st.query_params.get("run"):
    st.session_state[RUN_KEY] = st.query_params["run"]
run_id = st.session_state.get(RUN_KEY)
if run_id:
    st.query_params["run"] = run_id
job = board.get(run_id)

st.title("Training")
st.caption(
    f"Fit the network from the sidebar on {dataset.title}: flattened (or kept 2-D for the CNN), scaled to [0, 1], "
    f"{config.epochs} epochs at batch {config.batch_size}. Training goes on while you visit other pages."
)

try:
    cache.model_description(config, dataset.image_shape)  # refuse what cannot be built before training it
    unbuildable = False
except ModelBuildError as error:
    st.error(f"**This configuration cannot be trained.** {error}", icon=":material/error:")
    unbuildable = True

size_column, train_column, stop_column = st.columns([2, 1, 1], vertical_alignment="bottom")
train_size = size_column.segmented_control(
    "Training images", list(TRAIN_SIZES), default="all", key="train_size",
    help="Fewer images train faster, for a quick look.",
)  # fmt: skip
active = job is not None and job.progress().active
start = train_column.button(
    "Train", type="primary", icon=":material/play_arrow:", disabled=active or unbuildable, width="stretch"
)
if start:
    data = TrainingData.from_dataset(dataset, config, limit=TRAIN_SIZES[train_size or "all"])
    try:
        job = board.start(session_owner(), config, data, dataset_name=dataset.name)
    except JobError as error:
        st.error(str(error))
    else:
        st.session_state[RUN_KEY] = job.run_id
        st.query_params["run"] = job.run_id
        st.rerun()
if stop_column.button("Stop", icon=":material/stop:", disabled=not active, width="stretch"):
    job.stop()


def show_result(test_accuracy: float | None, test_loss: float | None, train_accuracy: float | None, seconds: float):
    """Test metrics next to the last training accuracy, and what the gap means."""
    if test_accuracy is None or train_accuracy is None:
        return
    gap = train_accuracy - test_accuracy
    test, train, difference, time_taken = st.columns(4)
    test.metric("Test accuracy", f"{test_accuracy:.2%}", help=f"Test loss {test_loss:.4f}")
    train.metric("Training accuracy", f"{train_accuracy:.2%}", help="In the last epoch")
    difference.metric("Gap", f"{gap:+.2%}", delta_color="off", delta_arrow="off")
    time_taken.metric("Time", f"{seconds:.1f} s")
    if gap > 0.005:
        st.info(
            f"The model is {gap:.1%} better on images it trained on than on images it never saw: that gap is "
            "**overfitting**. It has begun to learn its training images, not just digits. Dropout, an L2 penalty, "
            "fewer epochs or more data narrow it; the validation curves show when it starts.",
            icon=":material/school:",
        )
    else:
        st.success("Test and training accuracy agree: no sign of overfitting yet.", icon=":material/check:")


ENDINGS = {"finished": "Finished", "stopped": "Stopped", "diverged": "Diverged", "failed": "Failed"}


def show_job(progress) -> None:
    """Where a job stands: waiting, a progress bar while it runs, or how it ended; its curves; its result."""
    if progress.state == "waiting":
        st.info(progress.message or "Waiting to start...", icon=":material/hourglass:")
    elif progress.active:
        done = progress.batch / max(progress.batches_per_epoch, 1)
        left = f", about {progress.seconds_left:.0f} s left" if progress.seconds_left is not None else ""
        st.progress(
            min(done, 1.0),
            text=f"Epoch {min(progress.epoch + 1, progress.epochs)} of {progress.epochs}: batch {progress.batch} "
            f"of {progress.batches_per_epoch}, {progress.samples_per_second:,.0f} samples/s{left}",
        )
    else:
        text = f"{ENDINGS[progress.state]} after {progress.epoch} of {progress.epochs} epochs. {progress.message}"
        (st.error if progress.state in ("diverged", "failed") else st.success)(text.strip())
    st.caption(f"Run {progress.run_id} ({progress.compile_mode or 'starting'})")
    if progress.history:
        st.plotly_chart(charts.training_curves({progress.run_id: progress.history}, progress.epochs), key="live")
    show_result(progress.test_accuracy, progress.test_loss, progress.train_accuracy, progress.elapsed)


@st.fragment(run_every=REFRESH_SECONDS)
def live_view() -> None:
    """Redraws from the job's progress every second; the job itself trains in its own thread."""
    progress = job.progress()
    show_job(progress)
    if progress.ended:
        st.rerun()  # the whole page, once: re-enables Train and lists the new run


if job is not None and job.progress().active:
    live_view()
elif job is not None:
    show_job(job.progress())
elif run_id and (record := store.get(run_id)):
    st.caption(f"Run {record.run_id}, saved {record.created}")
    st.plotly_chart(charts.training_curves({record.run_id: record.history}, record.epochs_done))
    show_result(record.test_accuracy, record.test_loss, record.train_accuracy, record.duration_s)
elif run_id:
    st.warning(f"Run {run_id} from the link is not on this server any more.")
    del st.session_state[RUN_KEY]
    del st.query_params["run"]

# ---- Saved runs ------------------------------------------------------------------------------

st.divider()
st.subheader("Saved runs")
with st.expander("Upload a .keras model", icon=":material/upload:"):
    uploaded = st.file_uploader("A Keras model saved as .keras", type=["keras"], key="upload_model")
    if uploaded is not None and st.session_state.get("saved_upload") != uploaded.file_id:
        try:
            model, dataset_name = load_uploaded_model(uploaded.getvalue())
        except UploadError as error:
            st.error(f"**{uploaded.name} was refused.** {error}")
        else:
            record = store.save_upload(model, cache.dataset(dataset_name), uploaded.name)
            st.session_state["saved_upload"] = uploaded.file_id
            st.success(f"{uploaded.name} reads {dataset_name} images: saved as run {record.run_id}, "
                       f"test accuracy {record.test_accuracy:.2%}.")  # fmt: skip

records = store.records()
if not records:
    st.caption(f"Finished and stopped runs are kept in `{store.root}`. None yet.")
else:
    st.dataframe(
        [
            {"run": r.run_id, "dataset": r.dataset, "source": r.source, "state": r.state,
             "test accuracy": r.test_accuracy, "train accuracy": r.train_accuracy, "epochs": r.epochs_done,
             "images": r.train_samples, "seconds": r.duration_s, "config": str(r.config)}
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
    if chosen:
        by_id = {record.run_id: record for record in records}
        curves = {run: by_id[run].history for run in chosen if by_id[run].history}
        if curves:
            st.plotly_chart(charts.training_curves(curves), key="compare")
    with st.columns(2)[0]:
        to_download = st.selectbox("Model to download", run_ids, key="download_run")
        st.download_button(
            "Download digits.keras", data=store.model_path(to_download).read_bytes(), file_name="digits.keras",
            mime="application/zip", icon=":material/download:",
        )  # fmt: skip
