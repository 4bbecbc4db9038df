"""Training: fit the configured network live, watch its curves, evaluate it, keep and compare runs."""

from __future__ import annotations

import contextlib
from urllib.parse import urlencode

import streamlit as st

from core import cache, charts, export
from core.config import FIELDS, ConfigError, ModelConfig, config_to_query
from core.data import Dataset
from core.export import TFLITE_SNIPPET
from core.jobs import JobError
from core.my_digits import repeats_for, training_share
from core.runs import Progress, RunResult, RunState
from core.stepper import StepModeError
from core.store import RunRecord, RunStore, is_run_id
from core.sweeps import MAX_RUNS, SweepError, best_index, grid, parse_value, starting_values, suggested_values
from core.tasks import check_model
from core.uploads import MAX_MULTIPLY_ADDS, in_words
from pages.widgets import (
    LATEST_DRAWING_KEY,
    RUN_KEY,
    browser_owner,
    ensure_frame,
    escape_markdown,
    hyperparameter_panel,
    load_selected_dataset,
    runs_for,
    show_chart,
    show_refusal,
    task_ui,
)

TRAIN_SIZES = {"all": None, "10,000": 10_000, "2,000": 2_000}
REFRESH_SECONDS = 1.0
NEW_NETWORK = "a new network (the sidebar's)"
UPLOADED_KEY = "saved_upload"  # the file id of the last upload sent, so a rerun does not send it twice
CHECK_KEY = "model_check"  # the uploaded model's check in progress (core.tasks.Task)
STEPPER_KEY = "stepper"  # (the step-mode network's handle on its worker, the config it was built from)
STEP_PROBLEM_KEY = "step_problem"  # why step mode could not start, shown once


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
    board = cache.run_board()
    progress = board.progress(run_id)
    mine = progress is not None and board.owner_of(run_id) == owner
    training_controls(config, dataset, progress, mine, owner)
    run_view(run_id, progress, mine, owner)
    live_runs_ui(owner)
    step_mode_ui(config, dataset, owner)
    sweep_ui(config, dataset, owner)
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


def training_controls(config: ModelConfig, dataset: Dataset, progress: Progress | None, mine: bool, owner: str) -> None:
    """What to train from (a new network, or a saved run to fine-tune), the slice, Train and Stop (Stop only
    for the browser that started the run, whichever server it reaches)."""
    base_run = base_run_picker(dataset)
    buildable = base_run is not None or _buildable(config, dataset, explain=True)
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
        disabled=(active and mine) or not buildable,
        width="stretch",
        key="train",
    ):
        try:
            follow(
                cache.start_training(
                    owner, config, dataset.name, TRAIN_SIZES[size or "all"], base_run, class_digits=with_class
                )
            )
        except JobError as error:
            show_refusal("Training could not start.", str(error))
    if stop_column.button("Stop", icon=":material/stop:", disabled=not (active and mine), width="stretch", key="stop"):
        cache.run_board().stop(progress.run_id, owner)


def class_digits_option(dataset: Dataset) -> bool:
    """ "Plus the class's digits": train on the labelled digits of everyone on this server too, but a fixed share."""
    train, back = training_share(cache.my_digits(dataset.image_format).load())
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
    st.query_params["run"] = run_id
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
    elif run_id and (record := cache.run_store().get(run_id)):
        st.caption(f"Run {record.run_id}, saved {record.created}")
        show_chart(
            st,
            charts.training_curves(
                {record.run_id: record.result.history}, record.result.epochs_done, record.result.held_out
            ),
        )
        st.caption(curves_summary(record.result.history))
        show_result(record.result)
    elif run_id:
        st.warning(f"Run {escape_markdown(run_id)} from the link is not on this server any more.")
        del st.session_state[RUN_KEY]
        del st.query_params["run"]


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
            follow(cache.run_board().continue_run(owner, progress.run_id))
        except JobError as error:
            show_refusal("The run could not be continued.", str(error))


@st.fragment(run_every=REFRESH_SECONDS)
def live_view(run_id: str) -> None:
    """Redraws from the run's progress every second; the run itself trains in a worker process."""
    progress = cache.run_board().progress(run_id)
    if progress is None or progress.ended:
        st.rerun()  # the whole page, once: re-enables Train and lists the new run
    show_progress(progress)


def live_runs_ui(owner: str) -> None:
    """Every run training now on this model folder, from any server."""
    board = cache.run_board()
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


def step_mode_ui(config: ModelConfig, dataset: Dataset, owner: str) -> None:
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
    sessions = cache.step_sessions()
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
            disabled=not _buildable(config, dataset),
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


def _buildable(config: ModelConfig, dataset: Dataset, explain: bool = False) -> bool:
    """Whether the sidebar's network can be built (refused before anything trains); `explain` says why not."""
    try:
        cache.model_description(config, dataset.image_shape)
    except ConfigError as error:
        if explain:
            show_refusal("This configuration cannot be trained.", str(error))
        return False
    return True


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
        show_chart(st, charts.batch_curves(view.losses, view.accuracies), key="step-curves")
    weights_column, drawing_column = st.columns([2, 1])
    with weights_column:
        titles = [f"#{unit}" for unit in view.units]
        show_chart(st, charts.weight_grid(view.weights, titles), key="step-weights")
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
        curves = charts.training_curves(
            {progress.run_id: progress.result.history}, progress.epochs, progress.result.held_out
        )
        show_chart(st, curves, key="live")
        st.caption(curves_summary(progress.result.history))
    show_result(progress.result)


def curves_summary(history: dict[str, list[float]]) -> str:
    """The curves' key numbers in words (their text alternative)."""
    epochs, loss, accuracy = len(history["loss"]), history["loss"], history.get("accuracy", [])
    text = f"After epoch {epochs}: training loss {loss[-1]:.4f} (from {loss[0]:.4f})"
    text += f", training accuracy {accuracy[-1]:.2%}" if accuracy else ""
    if history.get("test_accuracy"):
        text += f", held-out accuracy {history['test_accuracy'][-1]:.2%} (loss {history['test_loss'][-1]:.4f})"
    if history.get("val_accuracy"):
        text += f", validation accuracy {history['val_accuracy'][-1]:.2%}"
    return text + "." + overfitting_note(history)


def overfitting_note(history: dict[str, list[float]]) -> str:
    """Where the held-out loss was lowest, and how far it has risen since: overfitting, as it grows."""
    held_out = history.get("test_loss") or []
    if len(held_out) < 2:
        return ""
    best = min(range(len(held_out)), key=held_out.__getitem__)
    if best == len(held_out) - 1:
        return f" The held-out loss is still falling: lowest now, after epoch {best + 1}."
    text = (
        f" The held-out loss was lowest after epoch {best + 1} ({held_out[best]:.4f}) and has risen by "
        f"{held_out[-1] - held_out[best]:.4f} since"
    )
    if history["loss"][-1] < history["loss"][best]:
        return text + " while the training loss kept falling: the model has begun to overfit."
    return text + "."


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


def saved_runs_ui(store: RunStore) -> None:
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
        show_chart(st, charts.training_curves(curves), key="compare")
        st.caption(" ".join(f"{run}: {curves_summary(history)}" for run, history in curves.items()))
    run_details_ui(store, by_id[st.selectbox("Run details", run_ids, key="detail_run")])


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
        cache.tflite_model(str(store.root), record.run_id)
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
    if (task := st.session_state.get(CHECK_KEY)) is not None and (ended := task_ui(CHECK_KEY)) is not None:
        if ended.error:
            show_refusal(f"{task.label} was refused.", ended.error)
        elif (record := store.get(ended.result)) is not None:
            st.success(
                f"{escape_markdown(task.label, limit=80)} reads {record.dataset} images: saved as run "
                f"{record.run_id}, test accuracy {record.result.test_accuracy:.2%}."
            )
            model_card_ui(record.card)
    already_sent = uploaded is not None and st.session_state.get(UPLOADED_KEY) == uploaded.file_id
    if uploaded is None or already_sent or CHECK_KEY in st.session_state:
        return
    st.session_state[UPLOADED_KEY] = uploaded.file_id
    try:
        st.session_state[CHECK_KEY] = cache.start_task(
            uploaded.name[:80], check_model, uploaded.getvalue(), uploaded.name, str(store.root.resolve())
        )
    except OSError as error:
        show_refusal(f"{uploaded.name[:80]} could not be checked now.", f"The cluster is not reachable: {error}")
        return
    st.rerun()


# ---- Sweeps (issue 22, part 3) --------------------------------------------------------------------------------

SWEEP_SIZES = {"10,000 images": 10_000, "2,000 images": 2_000, "all images": None}  # not the Train button's labels
SWEEP_FIELDS_KEY = "sweep_fields"
SWEEP_DEFAULT_FIELDS = ["units", "learning_rate"]


def sweep_ui(config: ModelConfig, dataset: Dataset, owner: str) -> None:
    """Sweep: a small grid of the sidebar's network sent to the cluster at once, then the learner's latest sweep."""
    st.header("Sweep")
    st.caption(
        "Choose 2 or 3 hyperparameters and 2 to 4 values of each: every combination trains as a run of its "
        f"own (at most {MAX_RUNS}), side by side as the cluster's workers allow, the rest from the sidebar. "
        "Someone else's single run goes ahead of a sweep's waiting runs, so a sweep never holds up the "
        "class."
    )
    board = cache.run_board()
    sweep = board.latest_sweep(owner)
    sweep_form(config, dataset, owner)
    if sweep is not None:
        progress = board.sweep_progress(sweep)
        if any(p is not None and p.active for p in progress):
            live_sweep(sweep.sweep_id, owner)
        else:
            show_sweep(sweep, progress, owner)


def sweep_form(config: ModelConfig, dataset: Dataset, owner: str) -> None:
    """The hyperparameters, their values, the slice and Start sweep; every value goes through core.sweeps.grid."""
    # Pills, not multiselects: a multiselect's white-on-primary tags cannot reach 4.5:1 in the dark theme.
    fields = st.pills(
        "Hyperparameters to sweep",
        list(FIELDS),
        default=SWEEP_DEFAULT_FIELDS,
        selection_mode="multi",
        format_func=lambda name: FIELDS[name].label,
        key=SWEEP_FIELDS_KEY,
    )
    values: dict[str, list] = {}
    problem = None
    for column, name in zip(st.columns(max(len(fields), 1)), fields, strict=False):
        spec, current = FIELDS[name], getattr(config, name)
        chosen = list(
            column.pills(
                spec.label,
                suggested_values(name, current),
                selection_mode="multi",
                default=starting_values(name, current),
                format_func=spec.text,
                key=f"sweep_values_{name}",
            )
        )
        if not spec.choices:
            typed = column.text_input(
                f"Other values of {spec.label.lower()}",
                key=f"sweep_typed_{name}",
                max_chars=80,
                placeholder="e.g. 96, 200",
                help="Values the pills do not offer, separated by commas.",
            )
            try:
                chosen += [parse_value(name, text) for text in typed.split(",") if text.strip()]
            except SweepError as error:
                problem = problem or str(error)
        values[name] = list(dict.fromkeys(chosen))
    configs = []
    if problem is None:
        try:
            configs = grid(config, values)
        except SweepError as error:
            problem = str(error)
    size_column, start_column = st.columns([2, 1], vertical_alignment="bottom")
    size = size_column.segmented_control(
        "Training images per run",
        list(SWEEP_SIZES),
        default="10,000 images",
        key="sweep_size",
        help="Fewer images train faster.",
    )
    label = f"Start sweep ({len(configs)} runs)" if configs else "Start sweep"
    if start_column.button(
        label, icon=":material/grid_view:", disabled=not configs, width="stretch", key="start_sweep"
    ):
        start_sweep(config, values, configs, dataset, SWEEP_SIZES[size or "10,000 images"], owner)
    if problem is not None:
        st.caption(f"Not a sweep yet: {escape_markdown(problem)}")


def start_sweep(
    config: ModelConfig, values: dict, configs: list[ModelConfig], dataset: Dataset, limit: int | None, owner: str
) -> None:
    """Refuse a grid with a network that cannot be built before sending any of it; then send it and show it."""
    for built in configs:
        try:
            cache.model_description(built, dataset.image_shape)
        except ConfigError as error:
            swept = ", ".join(
                f"{FIELDS[name].label.lower()} {FIELDS[name].text(getattr(built, name))}" for name in values
            )
            show_refusal("The sweep could not start.", f"The network with {swept} cannot be built: {error}")
            return
    try:
        cache.run_board().start_sweep(owner, config, values, dataset.name, limit, name=cache.name_book().name_of(owner))
    except (SweepError, JobError) as error:
        show_refusal("The sweep could not start.", str(error))
        return
    st.rerun()


@st.fragment(run_every=REFRESH_SECONDS)
def live_sweep(sweep_id: str, owner: str) -> None:
    """Redraws the sweep's table and chart every second while any of its runs waits or trains."""
    board = cache.run_board()
    sweep = board.sweep(sweep_id)
    progress = board.sweep_progress(sweep) if sweep is not None else []
    if not any(p is not None and p.active for p in progress):
        st.rerun()  # the whole page, once: Start sweep and Train enabled again, the runs listed
    show_sweep(sweep, progress, owner)


def show_sweep(sweep, progress: list[Progress | None], owner: str) -> None:
    """A sweep's runs: a table (each with links to open it and to train its settings yourself), parallel
    coordinates from its hyperparameters to test accuracy, the best run marked; Stop sweep for its owner."""
    accuracies = [p.result.test_accuracy if p is not None and p.ended else None for p in progress]
    best = best_index(accuracies)
    states = [p.state.value if p is not None else "removed" for p in progress]
    counts = ", ".join(f"{states.count(state)} {state}" for state in dict.fromkeys(states))
    images = f"{sweep.limit:,}" if sweep.limit else "all the"
    st.subheader(f"Your sweep {sweep.sweep_id}")
    st.caption(f"{len(sweep.run_ids)} runs on {images} {escape_markdown(sweep.dataset)} images: {counts}.")
    if any(p is not None and p.active for p in progress):
        st.button(
            "Stop sweep",
            icon=":material/stop:",
            key="stop_sweep",
            on_click=_stop_sweep,
            args=(sweep.sweep_id, owner),
            help="Stops every run of it; finished runs are kept.",
        )
    rows = []
    for index, (run_id, config, run) in enumerate(zip(sweep.run_ids, sweep.configs, progress, strict=True)):
        row = {"": "★" if index == best else ""}
        row.update({FIELDS[name].label: FIELDS[name].text(getattr(config, name)) for name in sweep.fields})
        row["state"] = states[index]
        row["epoch"] = f"{run.epoch} of {run.epochs}" if run is not None else ""
        row["test accuracy"] = f"{accuracies[index]:.2%}" if accuracies[index] is not None else ""
        row["run"] = f"?run={run_id}"
        row["train this yourself"] = "?" + urlencode(config_to_query(config))
        rows.append(row)
    st.dataframe(
        rows,
        hide_index=True,
        column_config={
            "run": st.column_config.LinkColumn(display_text="open"),
            "train this yourself": st.column_config.LinkColumn(
                display_text="train this yourself", help="Opens the Training page with this run's hyperparameters."
            ),
        },
    )
    figure = charts.sweep_coordinates(list(sweep.fields), list(sweep.configs), accuracies, best)
    show_chart(st, figure, key="sweep_chart")
    if best is not None:
        settings = ", ".join(
            f"{FIELDS[name].label.lower()} {FIELDS[name].text(getattr(sweep.configs[best], name))}"
            for name in sweep.fields
        )
        st.caption(
            f"Best so far (★, the red line): {escape_markdown(settings)}, {accuracies[best]:.2%} test "
            "accuracy. Drag along an axis to pick out the runs in a range."
        )


def _stop_sweep(sweep_id: str, owner: str) -> None:
    cache.run_board().stop_sweep(sweep_id, owner)


main()
