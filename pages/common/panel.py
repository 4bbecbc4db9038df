"""The hyperparameter panel in the sidebar (Model and Training pages), drawn from core.config.FIELDS, mirrored
in the link; and the learning-rate finder under its rate slider."""

from __future__ import annotations

import dataclasses
import json

import streamlit as st

from core import tasks, training_charts
from core.config import (
    FIELD_GROUPS,
    FIELDS,
    PRESETS,
    SEED,
    SEED_PRESET,
    ConfigError,
    ModelConfig,
    config_from_query,
    config_to_query,
    matching_preset,
    snap_to_panel,
)
from core.data import Dataset
from core.lesson import LessonControls
from core.lr_finder import LearningRateCurve
from core.state import CONFIG_KEY, FINDER_KEY, FOUND_KEY, OWN_CONFIG_KEY, PANEL_WIDGET_PREFIX
from pages.common import caches, lesson, services
from pages.common.sidebar import selected_dataset_name
from pages.common.text import escape_markdown, show_refusal
from pages.common.widgets import show_chart, task_ui

PRESET_KEY = PANEL_WIDGET_PREFIX + "preset"


def widget_key(field: str) -> str:
    return PANEL_WIDGET_PREFIX + field


def current_config() -> ModelConfig:
    """The session's configuration; on a first visit, the one in the link (or the seed)."""
    if CONFIG_KEY not in st.session_state:
        config, problems = config_from_query(st.query_params.to_dict())
        st.session_state[CONFIG_KEY] = snap_to_panel(config)
        for problem in problems:
            st.toast(escape_markdown(problem), icon=":material/link_off:")
    return st.session_state[CONFIG_KEY]


def _set_widgets(config: ModelConfig) -> None:
    for name in FIELDS:
        st.session_state[widget_key(name)] = getattr(config, name)


def _apply_preset() -> None:
    _set_widgets(PRESETS[st.session_state[PRESET_KEY]].config)


def _reset_to_seed() -> None:
    _set_widgets(SEED)
    st.session_state[PRESET_KEY] = SEED_PRESET


def hyperparameter_panel() -> ModelConfig:
    """The shared hyperparameters in the sidebar, drawn from core.config.FIELDS; returns the chosen config."""
    saved = current_config()
    for name in FIELDS:  # widget keys are dropped on page change: restore them
        st.session_state.setdefault(widget_key(name), getattr(saved, name))
    st.session_state.setdefault(PRESET_KEY, matching_preset(saved))
    # The widgets' values for this run are already in session state: the config they describe.
    config = ModelConfig(**{name: st.session_state[widget_key(name)] for name in FIELDS})
    if (pushed := lesson.take_push(config)) is not None:
        config = pushed
        st.session_state[PRESET_KEY] = matching_preset(pushed)
    rules = lesson.controls()
    config, notes = rules.apply(config)
    if pushed is not None or notes:
        _set_widgets(config)  # the teacher's push and bounds, drawn as they are

    with st.sidebar:
        st.header("Hyperparameters")
        lesson_notes(config, rules, notes)
        st.selectbox(
            "Preset", list(PRESETS), key=PRESET_KEY, on_change=_apply_preset, help="Sets every hyperparameter below."
        )
        preset = PRESETS[st.session_state[PRESET_KEY]]
        st.caption(preset.explanation + ("" if preset.config == config else " **Changed below.**"))
        st.button(
            "Reset to the seed notebook", on_click=_reset_to_seed, icon=":material/restart_alt:", key="reset_seed"
        )
        for group in FIELD_GROUPS:
            with st.expander(group, expanded=True):
                for name, spec in FIELDS.items():  # a CNN's fields only for a CNN (a faded label reads badly)
                    if spec.group == group and (config.family == "cnn" or not spec.cnn_only):
                        field_widget(name, rules)
                    if name == "learning_rate" and spec.group == group:
                        learning_rate_finder(config)

    st.session_state[CONFIG_KEY] = config
    mirror_in_url(config)
    return config


def learning_rate_finder(config: ModelConfig) -> None:
    """The finder's button under the slider: the search runs on the cluster; its curve, suggestion and "Use it"
    stay until the network changes."""
    button = st.container()  # drawn last: it is enabled again in the very run that shows the result
    if (ended := task_ui(FINDER_KEY)) is not None:
        if ended.error:
            show_refusal("The learning-rate finder failed.", ended.error)
        else:
            st.session_state[FOUND_KEY] = (config, LearningRateCurve.from_dict(json.loads(ended.result)))
    explained = (
        "Trains this network from fresh weights for up to 300 batches while the rate rises from 0.000001 "
        "to 10, and plots the loss (Smith, 2017; fastai's lr_find)."
    )
    running = FINDER_KEY in st.session_state
    if button.button(
        "Find a learning rate", icon=":material/search:", key="find_rate", disabled=running, help=explained
    ):
        try:
            st.session_state[FINDER_KEY] = services.start_task(
                "Learning-rate finder",
                tasks.find_learning_rate,
                None,
                dataclasses.asdict(config),
                selected_dataset_name(),
            )
            st.rerun()  # its progress bar, under the button
        except OSError as error:
            show_refusal("The learning-rate finder could not start.", f"The cluster is not reachable: {error}")
    found = st.session_state.get(FOUND_KEY)
    if found is None:
        return
    searched, curve = found
    if _finder_relevant(searched) != _finder_relevant(config):
        st.caption("The network changed since the last search: find again for this one.")
        return
    show_chart(
        st,
        training_charts.learning_rate_curve(curve.learning_rates, curve.losses, curve.suggestion, curve.lowest_rate),
        key="lr_curve",
    )
    stop = "the loss exploded" if curve.exploded else "the last batch"
    st.caption(
        f"{len(curve.learning_rates)} batches in {curve.seconds:.1f} s, until {stop}. Lowest loss at "
        f"{curve.lowest_rate:.2g}; suggested: {curve.suggestion:g} ({curve.rule}, the slider's "
        "nearest)."
    )
    if curve.suggestion != config.learning_rate:
        st.button(
            f"Use {curve.suggestion:g}",
            icon=":material/check:",
            key="use_rate",
            on_click=_use_rate,
            args=(curve.suggestion,),
        )


def _finder_relevant(config: ModelConfig) -> ModelConfig:
    """What the finder's answer depends on: everything but the rate, the schedule and how long training lasts."""
    return dataclasses.replace(config, learning_rate=SEED.learning_rate, schedule=SEED.schedule, epochs=SEED.epochs)


def _use_rate(rate: float) -> None:
    st.session_state[widget_key("learning_rate")] = rate


def lesson_notes(config: ModelConfig, rules: LessonControls, notes: list[str]) -> None:
    """What the teacher changed in this sidebar, and the way back to the learner's own settings after a push."""
    for note in notes:
        st.toast(escape_markdown(note), icon=":material/school:")
    if rules.fixed:
        fixed = ", ".join(
            f"{FIELDS[name].label.lower()} {FIELDS[name].text(value)}" for name, value in rules.fixed.items()
        )
        st.caption(f"Fixed by your teacher for this lesson: {escape_markdown(fixed)}.")
    if rules.max_epochs is not None:
        st.caption(f"Your teacher allows at most {rules.max_epochs} epochs in this lesson.")
    pushed = rules.pushed_config()
    if OWN_CONFIG_KEY not in st.session_state or pushed is None:
        return
    st.info(
        f"Your teacher set the network to {matching_preset(pushed)}"
        f"{'' if pushed == config else ' (then changed here)'}; your own settings are one click away.",
        icon=":material/school:",
    )
    st.button("Back to my settings", on_click=_back_to_own, icon=":material/undo:", key="own_settings")


def _back_to_own() -> None:
    _set_widgets(st.session_state.pop(OWN_CONFIG_KEY))


def field_widget(name: str, rules: LessonControls | None = None, key: str | None = None) -> None:
    """One hyperparameter's widget, as its FieldSpec describes it; locked or bounded as the lesson says."""
    spec = FIELDS[name]
    common = {"key": key or widget_key(name), "help": spec.help}
    if rules is not None and name in rules.fixed:
        common.update(disabled=True, help=lesson.FIXED_HELP)
    if rules is not None and name == "epochs" and rules.max_epochs is not None:
        spec = dataclasses.replace(spec, high=max(rules.max_epochs, spec.low + spec.step))
    if spec.widget == "radio":
        st.radio(spec.label, spec.choices, format_func=spec.text, **common)
    elif spec.widget == "selectbox":
        st.selectbox(spec.label, spec.choices, format_func=spec.text, **common)
    elif spec.widget == "select_slider":
        st.select_slider(spec.label, spec.choices, format_func=spec.text, **common)
    elif spec.widget == "slider":
        st.slider(spec.label, spec.low, spec.high, step=spec.step, **common)
    else:
        st.number_input(spec.label, spec.low, spec.high, step=spec.step, **common)


def mirror_in_url(config: ModelConfig) -> None:
    """Keep the URL's query parameters equal to the config, so a shared link opens the same one."""
    wanted = config_to_query(config)
    for field in dataclasses.fields(ModelConfig):
        if field.name in wanted:
            if st.query_params.get(field.name) != wanted[field.name]:
                st.query_params[field.name] = wanted[field.name]
        elif field.name in st.query_params:
            del st.query_params[field.name]


def buildable(config: ModelConfig, dataset: Dataset, explain: bool = False) -> bool:
    """Whether the sidebar's network can be built (refused before anything trains); `explain` says why not."""
    try:
        caches.model_description(config, dataset.image_shape)
    except ConfigError as error:
        if explain:
            show_refusal("This configuration cannot be trained.", str(error))
        return False
    return True
