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


def ensure_frame() -> None:
    """Rerun through app.py when Streamlit ran this page without it.

    On a server's very first script run, Streamlit sees the pages/ folder and runs a deep-linked page in its
    old folder mode (no app.py, no navigation of ours). The first st.navigation call ends that mode; until a
    run calls it, this resets the flag and reruns, so the user gets the real frame.
    """
    if PagesManager.uses_pages_directory:
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
    distance = (lambda option: abs(math.log(option) - math.log(value))) if log else (lambda option: abs(option - value))
    return min(options, key=distance)


def _set_widgets(config: ModelConfig) -> None:
    for field in dataclasses.fields(config):
        st.session_state[WIDGET_PREFIX + field.name] = getattr(config, field.name)


def _apply_preset() -> None:
    _set_widgets(PRESETS[st.session_state[PRESET_KEY]].config)


def _reset_to_seed() -> None:
    _set_widgets(SEED)
    st.session_state[PRESET_KEY] = "Seed notebook"


def hyperparameter_panel() -> ModelConfig:
    """The shared hyperparameters in the sidebar; returns the chosen config and mirrors it in the URL."""
    config = current_config()
    for field in dataclasses.fields(config):  # widget keys are dropped on page change: restore them
        st.session_state.setdefault(WIDGET_PREFIX + field.name, getattr(config, field.name))
    st.session_state.setdefault(
        PRESET_KEY, next((p.name for p in PRESETS.values() if p.config == config), "Seed notebook")
    )

    def key(name: str) -> str:
        return WIDGET_PREFIX + name

    with st.sidebar:
        st.subheader("Hyperparameters")
        st.selectbox("Preset", list(PRESETS), key=PRESET_KEY, on_change=_apply_preset,
                     help="Sets every hyperparameter below.")  # fmt: skip
        st.caption(PRESETS[st.session_state[PRESET_KEY]].explanation)
        st.button("Reset to the seed notebook", on_click=_reset_to_seed, icon=":material/restart_alt:")
        with st.expander("Architecture", expanded=True):
            family = st.radio("Family", list(FAMILY_LABELS), format_func=FAMILY_LABELS.get, key=key("family"))
            dense = family == "dense"
            st.slider("Hidden layers", *LIMITS["hidden_layers"], key=key("hidden_layers"), disabled=not dense)
            st.slider("Units per hidden layer", 16, 1024, step=16, key=key("units"), disabled=not dense)
            st.selectbox("Activation", ACTIVATIONS, key=key("activation"))
            st.slider("Dropout", 0.0, 0.7, step=0.05, key=key("dropout"))
            st.select_slider("L2 weight penalty", L2_FACTORS, key=key("l2"), format_func=lambda v: f"{v:g}")
        with st.expander("Training", expanded=True):
            st.selectbox("Optimizer", OPTIMIZERS, format_func=OPTIMIZER_LABELS.get, key=key("optimizer"))
            st.select_slider("Learning rate", LEARNING_RATES, key=key("learning_rate"), format_func=lambda v: f"{v:g}",
                             help="Log scale. rmsprop's default is 0.001.")  # fmt: skip
            st.select_slider("Batch size", BATCH_SIZES, key=key("batch_size"))
            st.slider("Epochs", *LIMITS["epochs"], key=key("epochs"))
            st.slider("Validation split", 0.0, 0.3, step=0.05, key=key("validation_split"),
                      help="Share of the training images held out to watch overfitting.")  # fmt: skip
            st.number_input("Random seed", *LIMITS["seed"], key=key("seed"), step=1)

    config = ModelConfig(**{field.name: st.session_state[key(field.name)] for field in dataclasses.fields(ModelConfig)})
    st.session_state[CONFIG_KEY] = config
    mirror_in_url(config)
    return config


def mirror_in_url(config: ModelConfig) -> None:
    """Keep the URL's query parameters equal to the config, so a shared link opens the same one."""
    wanted = config_to_query(config)
    for field in dataclasses.fields(ModelConfig):
        if field.name in wanted:
            if st.query_params.get(field.name) != wanted[field.name]:
                st.query_params[field.name] = wanted[field.name]
        elif field.name in st.query_params:
            del st.query_params[field.name]
