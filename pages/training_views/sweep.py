"""Sweeps: a small grid of the sidebar's network sent to the cluster at once, and the learner's latest sweep."""

from __future__ import annotations

from urllib.parse import urlencode

import streamlit as st

from core import training_charts
from core.config import FIELDS, ConfigError, ModelConfig, config_to_query
from core.data import Dataset
from core.run_board import JobError
from core.runs import Progress
from core.sweeps import MAX_RUNS, SweepError, best_index, grid, parse_value, starting_values, suggested_values
from pages.common import caches, lesson
from pages.common.text import escape_markdown, show_refusal
from pages.common.widgets import show_chart

REFRESH_SECONDS = 1.0
SWEEP_SIZES = {"10,000 images": 10_000, "2,000 images": 2_000, "all images": None}  # not the Train button's labels
SWEEP_FIELDS_KEY = "sweep_fields"
SWEEP_DEFAULT_FIELDS = ["units", "learning_rate"]


CLOSED = "Your teacher has closed sweeps for this lesson."


def sweep_view(config: ModelConfig, dataset: Dataset, owner: str) -> None:
    """Sweep: a small grid of the sidebar's network sent to the cluster at once, then the learner's latest sweep."""
    st.header("Sweep")
    st.caption(
        "Choose 2 or 3 hyperparameters and 2 to 4 values of each: every combination trains as a run of its "
        f"own (at most {MAX_RUNS}), side by side as the cluster's workers allow, the rest from the sidebar. "
        "Someone else's single run goes ahead of a sweep's waiting runs, so a sweep never holds up the "
        "class."
    )
    board = caches.run_board()
    sweep = board.sweeps.latest(owner)
    if lesson.controls().sweeps:
        sweep_form(config, dataset, owner)
    else:
        st.info(CLOSED, icon=":material/school:")
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
    """Refuse a grid with a network that cannot be built, or one the teacher's lesson does not allow, before
    sending any of it; then send it and show it."""
    rules = lesson.controls()
    if not rules.sweeps:
        show_refusal("The sweep could not start.", CLOSED)
        return
    if notes := [note for built in configs for note in rules.apply(built)[1]]:
        show_refusal("The sweep could not start.", f"It goes beyond this lesson's limits. {notes[0]}")
        return
    for built in configs:
        try:
            caches.model_description(built, dataset.image_shape)
        except ConfigError as error:
            swept = ", ".join(
                f"{FIELDS[name].label.lower()} {FIELDS[name].text(getattr(built, name))}" for name in values
            )
            show_refusal("The sweep could not start.", f"The network with {swept} cannot be built: {error}")
            return
    try:
        caches.run_board().start_sweep(
            owner, config, values, dataset.name, limit, name=caches.name_book().name_of(owner)
        )
    except (SweepError, JobError) as error:
        show_refusal("The sweep could not start.", str(error))
        return
    st.rerun()


@st.fragment(run_every=REFRESH_SECONDS)
def live_sweep(sweep_id: str, owner: str) -> None:
    """Redraws the sweep's table and chart every second while any of its runs waits or trains."""
    board = caches.run_board()
    sweep = board.sweeps.get(sweep_id)
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
    figure = training_charts.sweep_coordinates(list(sweep.fields), list(sweep.configs), accuracies, best)
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
    caches.run_board().stop_sweep(sweep_id, owner)
