"""Widgets shared by several pages (not a page itself: app.py does not list it)."""

from __future__ import annotations

import dataclasses
import math
import uuid

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from core import cache
from core.data import DATASET_NAMES, DATASET_TITLES, Dataset, DatasetError
from core.model import (
    ACTIVATIONS,
    BATCH_SIZES,
    L2_FACTORS,
    LEARNING_RATES,
    LIMITS,
    OPTIMIZERS,
    PRESETS,
    SEED,
    ModelConfig,
    config_from_query,
    config_to_query,
)

DATASET_KEY = "dataset"
RUN_KEY = "run_id"  # the session's latest training run (Training page, mirrored in the URL as ?run=)


def ensure_frame() -> None:
    """Rerun through app.py when Streamlit ran this page without it.

    On a server's very first script run, Streamlit sees the pages/ folder and runs a deep-linked page in its
    old folder mode (no app.py, no navigation of ours). The first st.navigation call ends that mode; until a
    run calls it, this resets the flag and reruns, so the user gets the real frame.
    """
    if getattr(PagesManager, "uses_pages_directory", False):  # a private flag: absent in some versions
        PagesManager.uses_pages_directory = False
        st.rerun()


def dataset_selector() -> None:
    """The sidebar's dataset choice, shared by every page."""
    st.sidebar.selectbox(
        "Dataset",
        DATASET_NAMES,
        format_func=DATASET_TITLES.get,
        key=DATASET_KEY,
        help="Every page works on this dataset.",
    )


def session_owner() -> str:
    """A random id for this browser session (who owns a training job)."""
    return st.session_state.setdefault("session_owner", uuid.uuid4().hex)


def selected_dataset_name() -> str:
    return st.session_state.get(DATASET_KEY, DATASET_NAMES[0])


def load_selected_dataset() -> Dataset:
    """The chosen dataset; a load failure is shown in the page, which then stops."""
    name = selected_dataset_name()
    try:
        return cache.dataset(name)
    except DatasetError as error:
        st.error(f"**The {name} dataset could not be loaded.** {error}")
        st.stop()


# ---- The hyperparameter panel (Model and Training pages) ----------------------------------

CONFIG_KEY = "model_config"  # the current ModelConfig; not a widget key, so it survives page changes
PRESET_KEY = "hp_preset"
WIDGET_PREFIX = "hp_"
FAMILY_LABELS = {"dense": "Dense (the notebook's)", "cnn": "Small CNN"}
OPTIMIZER_LABELS = {"rmsprop": "RMSprop", "adam": "Adam", "sgd": "SGD + momentum"}
FIELDS = dataclasses.fields(ModelConfig)


def current_config() -> ModelConfig:
    """The session's configuration; on a first visit, the one in the link (or the seed)."""
    if CONFIG_KEY not in st.session_state:
        config, problems = config_from_query(st.query_params.to_dict())
        st.session_state[CONFIG_KEY] = snap_to_panel(config)
        for problem in problems:
            st.toast(problem, icon=":material/link_off:")
    return st.session_state[CONFIG_KEY]


def snap_to_panel(config: ModelConfig) -> ModelConfig:
    """Move values from a link onto the nearest step the sliders offer."""
    return dataclasses.replace(
        config,
        learning_rate=nearest(LEARNING_RATES, config.learning_rate, log=True),
        l2=nearest(L2_FACTORS, config.l2),
        batch_size=nearest(BATCH_SIZES, config.batch_size, log=True),
        units=int(round(config.units / 16) * 16),
        dropout=round(config.dropout * 20) / 20,
        validation_split=round(config.validation_split * 20) / 20,
    )


def nearest(options, value, log: bool = False):
    """The option closest to `value` (on a log scale for rates and batch sizes)."""
    distance = (lambda option: abs(math.log(option) - math.log(value))) if log else (lambda option: abs(option - value))
    return min(options, key=distance)


def widget_key(field: str) -> str:
    return WIDGET_PREFIX + field


def _set_widgets(config: ModelConfig) -> None:
    for field in FIELDS:
        st.session_state[widget_key(field.name)] = getattr(config, field.name)


def _apply_preset() -> None:
    _set_widgets(PRESETS[st.session_state[PRESET_KEY]].config)


def _reset_to_seed() -> None:
    _set_widgets(SEED)
    st.session_state[PRESET_KEY] = "Seed notebook"


def hyperparameter_panel() -> ModelConfig:
    """The shared hyperparameters in the sidebar; returns the chosen config and mirrors it in the URL."""
    saved = current_config()
    for field in FIELDS:  # widget keys are dropped on page change: restore them
        st.session_state.setdefault(widget_key(field.name), getattr(saved, field.name))
    matching_preset = next((preset.name for preset in PRESETS.values() if preset.config == saved), "Seed notebook")
    st.session_state.setdefault(PRESET_KEY, matching_preset)
    # The widgets' values for this run are already in session state: the config they describe.
    config = ModelConfig(**{field.name: st.session_state[widget_key(field.name)] for field in FIELDS})

    with st.sidebar:
        st.subheader("Hyperparameters")
        st.selectbox("Preset", list(PRESETS), key=PRESET_KEY, on_change=_apply_preset,
                     help="Sets every hyperparameter below.")  # fmt: skip
        preset = PRESETS[st.session_state[PRESET_KEY]]
        st.caption(preset.explanation + ("" if preset.config == config else " **Changed below.**"))
        st.button("Reset to the seed notebook", on_click=_reset_to_seed, icon=":material/restart_alt:")
        with st.expander("Architecture", expanded=True):
            st.radio("Family", list(FAMILY_LABELS), format_func=FAMILY_LABELS.get, key=widget_key("family"))
            dense = config.family == "dense"
            st.slider("Hidden layers", *LIMITS["hidden_layers"], key=widget_key("hidden_layers"), disabled=not dense)
            st.slider("Units per hidden layer", 16, 1024, step=16, key=widget_key("units"), disabled=not dense)
            st.selectbox("Activation", ACTIVATIONS, key=widget_key("activation"))
            st.slider("Dropout", 0.0, 0.7, step=0.05, key=widget_key("dropout"))
            st.select_slider("L2 weight penalty", L2_FACTORS, key=widget_key("l2"), format_func=lambda v: f"{v:g}")
        with st.expander("Training", expanded=True):
            st.selectbox("Optimizer", OPTIMIZERS, format_func=OPTIMIZER_LABELS.get, key=widget_key("optimizer"))
            st.select_slider("Learning rate", LEARNING_RATES, key=widget_key("learning_rate"),
                             format_func=lambda v: f"{v:g}", help="Log scale. rmsprop's default is 0.001.")  # fmt: skip
            st.select_slider("Batch size", BATCH_SIZES, key=widget_key("batch_size"))
            st.slider("Epochs", *LIMITS["epochs"], key=widget_key("epochs"))
            st.slider("Validation split", 0.0, 0.3, step=0.05, key=widget_key("validation_split"),
                      help="Share of the training images held out to watch overfitting.")  # fmt: skip
            st.number_input("Random seed", *LIMITS["seed"], key=widget_key("seed"), step=1)

    st.session_state[CONFIG_KEY] = config
    mirror_in_url(config)
    return config


def mirror_in_url(config: ModelConfig) -> None:
    """Keep the URL's query parameters equal to the config, so a shared link opens the same one."""
    wanted = config_to_query(config)
    for field in FIELDS:
        if field.name in wanted:
            if st.query_params.get(field.name) != wanted[field.name]:
                st.query_params[field.name] = wanted[field.name]
        elif field.name in st.query_params:
            del st.query_params[field.name]
