"""Train: what to train from, Train and Stop, the run live with its curves, its result, every run training now."""

from __future__ import annotations

import streamlit as st

from core import training_charts
from core.config import ModelConfig
from core.data import Dataset
from core.my_digits import repeats_for, training_share
from core.run_board import JobError
from core.runs import Progress, RunResult, RunState
from core.state import RUN_KEY, RUN_PARAMETER
from core.store import is_run_id
from core.training_charts import curves_summary
from pages.common import caches, services
from pages.common.panel import buildable
from pages.common.text import escape_markdown, show_refusal
from pages.common.widgets import runs_for, show_chart

TRAIN_SIZES = {"all": None, "10,000": 10_000, "2,000": 2_000}
REFRESH_SECONDS = 1.0
NEW_NETWORK = "a new network (the sidebar's)"


def train_view(config: ModelConfig, dataset: Dataset, owner: str) -> None:
    """Train and Stop, the run this tab follows (live, or its result), every run training now."""
    run_id = linked_run_id()
    if run_id:
        services.mark_opened(run_id)
    board = caches.run_board()
    progress = board.progress(run_id)
    mine = progress is not None and board.owner_of(run_id) == owner
    training_controls(config, dataset, progress, mine, owner)
    run_view(run_id, progress, mine, owner)
    live_runs_ui(owner)


def linked_run_id() -> str | None:
    """The run this session shows: its latest, or the one in the link (?run=, only if it looks like a run id)."""
    linked = st.query_params.get(RUN_PARAMETER, "")
    if RUN_KEY not in st.session_state and is_run_id(linked):
        st.session_state[RUN_KEY] = linked
    run_id = st.session_state.get(RUN_KEY)
    if run_id:
        st.query_params[RUN_PARAMETER] = run_id
    elif linked:
        st.warning("The run in the link is not a run id; it was ignored.")
        del st.query_params[RUN_PARAMETER]
    return run_id


def training_controls(config: ModelConfig, dataset: Dataset, progress: Progress | None, mine: bool, owner: str) -> None:
    """What to train from (a new network, or a saved run to fine-tune), the slice, Train and Stop (Stop only
    for the browser that started the run, whichever server it reaches)."""
    base_run = base_run_picker(dataset)
    can_build = base_run is not None or buildable(config, dataset, explain=True)
    with_class = class_digits_option(dataset)
    active = progress is not None and progress.active
    size_column, train_column, stop_column = st.columns([2, 1, 1], vertical_alignment="bottom")
    size = size_column.segmented_control(
        "Training images",
        list(TRAIN_SIZES),
        default="all",
        key="train_size",
        help="Fewer images train faster, for a quick look.",
    )
    emphasis = "secondary" if st.context.theme.type == "dark" else "primary"  # white on the dark theme's blue: 2.7:1
    if train_column.button(
        "Train",
        type=emphasis,
        icon=":material/play_arrow:",
        disabled=(active and mine) or not can_build,
        width="stretch",
        key="train",
    ):
        try:
            follow(
                services.start_training(
                    owner, config, dataset.name, TRAIN_SIZES[size or "all"], base_run, class_digits=with_class
                )
            )
        except JobError as error:
            show_refusal("Training could not start.", str(error))
    if stop_column.button("Stop", icon=":material/stop:", disabled=not (active and mine), width="stretch", key="stop"):
        caches.run_board().stop(progress.run_id, owner)


def class_digits_option(dataset: Dataset) -> bool:
    """ "Plus the class's digits": train on the labelled digits of everyone on this server too, but a fixed share."""
    train, back = training_share(caches.my_digits(dataset.image_format).load())
    chosen = st.toggle(
        "Also train on the class's labelled digits",
        key="class_digits",
        disabled=not len(train),
        help="The digits labelled on Draw & predict, everyone's on this server. One in five is kept "
        "back, never trained on, to show what this did.",
    )
    if not len(train):
        st.caption("No labelled digits to train on yet: label some on Draw & predict (This is a...).")
        return False
    repeats = repeats_for(len(train))
    st.caption(
        f"{len(train)} of the class's digits to train on, each repeated {repeats} times (about "
        f"{len(train) * repeats:,} images beside the dataset's, varied by any augmentation); {len(back)} kept "
        "back: Draw & predict, Your handwriting shows how each run reads them."
    )
    return chosen


def follow(run_id: str) -> None:
    """Show this run from now on (and in the link), from the top of the page."""
    st.session_state[RUN_KEY] = run_id
    st.query_params[RUN_PARAMETER] = run_id
    st.rerun()


def base_run_picker(dataset: Dataset) -> str | None:
    """None for a new network from the sidebar, or a saved run of this image format to fine-tune."""
    run_ids = [record.run_id for record in runs_for(dataset)]
    base = st.selectbox(
        "Start from",
        [NEW_NETWORK, *run_ids],
        key="start_from",
        help="Fine-tuning keeps a saved run's layers and weights and trains them further.",
    )
    if base == NEW_NETWORK:
        return None
    st.caption(
        f"Fine-tunes run {base} on {escape_markdown(dataset.title)}: its own layers and weights, with the "
        "optimizer, learning rate, batch size and epochs from the sidebar."
    )
    return base


def run_view(run_id: str | None, progress: Progress | None, mine: bool, owner: str) -> None:
    """The run this session looks at: live while it trains, then its result; Continue for one that ended early."""
    if progress is not None and not mine:
        st.info("This run was started in another browser: you can watch it, not stop it.", icon=":material/visibility:")
    if progress is not None and progress.active:
        live_view(progress.run_id)
    elif progress is not None:
        show_progress(progress)
        continue_ui(progress, mine, owner)
    elif run_id and (record := caches.run_store().get(run_id)):
        st.caption(f"Run {record.run_id}, saved {record.created}")
        show_chart(
            st,
            training_charts.training_curves(
                {record.run_id: record.result.history}, record.result.epochs_done, record.result.held_out
            ),
        )
        st.caption(curves_summary(record.result.history))
        show_result(record.result)
    elif run_id:
        st.warning(f"Run {escape_markdown(run_id)} from the link is not on this server any more.")
        del st.session_state[RUN_KEY]
        del st.query_params[RUN_PARAMETER]


def continue_ui(progress: Progress, mine: bool, owner: str) -> None:
    """Continue a stopped or interrupted run from its last epoch, for the browser that started it."""
    if not (mine and progress.state.continuable and 0 < progress.epoch < progress.epochs):
        return
    if st.button(
        f"Continue from epoch {progress.epoch}",
        icon=":material/resume:",
        key="continue",
        help="Trains on to the planned epochs exactly as if it had never stopped: the same weights, "
        "optimizer state and order of batches.",
    ):
        try:
            follow(caches.run_board().continue_run(owner, progress.run_id))
        except JobError as error:
            show_refusal("The run could not be continued.", str(error))


@st.fragment(run_every=REFRESH_SECONDS)
def live_view(run_id: str) -> None:
    """Redraws from the run's progress every second; the run itself trains in a worker process."""
    progress = caches.run_board().progress(run_id)
    if progress is None or progress.ended:
        st.rerun()  # the whole page, once: re-enables Train and lists the new run
    show_progress(progress)


def live_runs_ui(owner: str) -> None:
    """Every run training now on this model folder, from any server."""
    board = caches.run_board()
    live = board.live()
    if not live:
        return
    with st.expander(f"Training now: {len(live)} run{'s' if len(live) != 1 else ''}", icon=":material/model_training:"):
        st.dataframe(
            [
                {
                    "run": p.run_id,
                    "state": p.state.value,
                    "epoch": f"{p.epoch} of {p.epochs}",
                    "whose": "yours" if board.owner_of(p.run_id) == owner else "another browser's",
                    "link": f"?run={p.run_id}",
                }
                for p in live
            ],
            hide_index=True,
            column_config={"link": st.column_config.LinkColumn(display_text="open")},
        )


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
        curves = training_charts.training_curves(
            {progress.run_id: progress.result.history}, progress.epochs, progress.result.held_out
        )
        show_chart(st, curves, key="live")
        st.caption(curves_summary(progress.result.history))
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
            "fewer epochs or more data narrow it; the dashed held-out curve shows when it starts.",
            icon=":material/school:",
        )
    else:
        st.success("Test and training accuracy agree: no sign of overfitting yet.", icon=":material/check:")
