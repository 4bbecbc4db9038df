"""Widgets and helpers shared by several pages (not a page itself: app.py does not list it)."""

from __future__ import annotations

import binascii
import dataclasses
import hashlib
import json
import re
import string
import uuid

import numpy as np
import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from core import cache, charts, classroom, tasks
from core.adversarial import AttackError, Fooling, fool
from core.config import (
    FIELD_GROUPS,
    FIELDS,
    PRESETS,
    SEED,
    SEED_PRESET,
    ModelConfig,
    config_from_query,
    config_to_query,
    matching_preset,
    snap_to_panel,
)
from core.data import DATASET_NAMES, DATASET_TITLES, Dataset, DatasetError, image_format_of, uploaded_dataset_names
from core.insight import integrated_gradients
from core.lr_finder import LearningRateSweep
from core.names import MAX_NAME_CHARACTERS, NameRefused
from core.store import RunRecord
from core.tasks import TaskState

DATASET_KEY = "dataset"
PENDING_DATASET_KEY = "dataset_to_select"
RUN_KEY = "run_id"  # the session's latest training run (Training page, mirrored in the URL as ?run=)
XSRF_COOKIE = "_streamlit_xsrf"  # Streamlit's per-browser cookie; tests/test_streamlit_hooks.py checks it


def ensure_frame() -> None:
    """Rerun through app.py when Streamlit ran this page without it.

    On a server's very first script run, Streamlit sees the pages/ folder and runs a deep-linked page in its
    old folder mode (no app.py, no navigation of ours). The first st.navigation call ends that mode; until a
    run calls it, this resets the flag and reruns, so the user gets the real frame.
    tests/test_streamlit_hooks.py fails loudly if Streamlit renames the flag.
    """
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


# ---- Text from users, links and files ---------------------------------------------------------------------

MARKDOWN_SPECIALS = set(string.punctuation)
# GitHub-flavoured Markdown turns bare addresses into links after escapes are resolved: an invisible
# zero-width space after these breaks the pattern without changing what the reader sees.
AUTOLINK_STARTS = re.compile(r"(https?|ftp|mailto|www|@)", flags=re.IGNORECASE)


def escape_markdown(text: str, limit: int = 300) -> str:
    """Text that Streamlit's Markdown shows as it is: no links, images, colours or HTML, on one line."""
    text = AUTOLINK_STARTS.sub("\\1\u200b", " ".join(str(text)[:limit].split()))
    return "".join("\\" + char if char in MARKDOWN_SPECIALS else char for char in text)


def show_refusal(title: str, reason: str) -> None:
    """An error box: a bold title, then the reason; both may quote a file name or a link, so both are escaped."""
    st.error(f"**{escape_markdown(title)}** {escape_markdown(reason)}", icon=":material/block:")


# ---- Tasks on the cluster -------------------------------------------------------------------------------------

TASK_REFRESH_SECONDS = 0.5


def task_ui(key: str) -> TaskState | None:
    """This session's task under `key` (a core.tasks.Task): its progress bar and Cancel while it runs; its final
    state once, when it has ended (then it is forgotten); None while it runs or when there is none."""
    task = st.session_state.get(key)
    if task is None:
        return None
    state = task.state()
    if state.finished:
        del st.session_state[key]
        return state
    task_progress(key)
    return None


@st.fragment(run_every=TASK_REFRESH_SECONDS)
def task_progress(key: str) -> None:
    task = st.session_state.get(key)
    if task is None:
        return
    state = task.state()
    if state.finished:
        st.rerun()  # the whole page, once: it shows the result
    st.progress(state.fraction, text=f"{escape_markdown(task.label, limit=80)}: {escape_markdown(state.message)}")
    if st.button("Cancel", icon=":material/cancel:", key=f"{key}-cancel"):
        task.cancel()


# ---- Charts -----------------------------------------------------------------------------------------------------

# Plotly's toolbar stays visible (not only on hover), so every chart can be downloaded as a PNG from its camera icon.
CHART_CONFIG = {"displayModeBar": True, "displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}


def show_chart(container, figure, **options):
    """A plotly chart in `container` (st, a column...), its toolbar with 'Download plot as PNG' always shown."""
    return container.plotly_chart(figure, config=CHART_CONFIG, **options)


def show_evidence(container, model, image: np.ndarray, digit: int, title: str, key: str) -> np.ndarray:
    """Integrated gradients for `digit`, drawn over the image in `container`; returns the attribution."""
    attribution = integrated_gradients(model, image, digit)
    show_chart(container, charts.attribution_overlay(image, attribution, title), key=key)
    return attribution


# ---- Fooling the network (Draw & predict, Inside the network) -------------------------------------------------

ANY_OTHER = "any other"
FOOL_METHODS = {"FGSM": "FGSM (one step)", "PGD": "PGD (10 small steps)"}


def fooling_ui(model, image: np.ndarray, key: str) -> Fooling | None:
    """Attack one digit: the target, epsilon and method, then the fooling image, the change scaled up until it
    shows, and the probabilities before and after. Widget keys start with `key`."""
    target_column, epsilon_column, method_column = st.columns(3)
    target = target_column.selectbox(
        "Make it read",
        [ANY_OTHER, *range(10)],
        key=f"{key}-target",
        format_func=lambda t: f"{t} digit" if t == ANY_OTHER else f"a {t}",
    )
    epsilon = epsilon_column.slider(
        "Epsilon: the most any pixel may change",
        0.01,
        0.3,
        0.1,
        step=0.01,
        key=f"{key}-epsilon",
        help="On the model's 0-to-1 scale of gray: 0.1 is 26 levels of 255.",
    )
    method = method_column.radio(
        "Method",
        list(FOOL_METHODS),
        format_func=FOOL_METHODS.get,
        horizontal=True,
        key=f"{key}-method",
        help="FGSM moves every pixel by epsilon at once, along the "
        "sign of the gradient. PGD takes 10 smaller steps, each kept within epsilon of "
        "the original: slower, and stronger.",
    )
    try:
        result = fool(model, image, method, epsilon, None if target == ANY_OTHER else int(target))
    except AttackError as error:
        show_refusal("This digit cannot be attacked.", str(error))
        return None
    if result.target == result.answer_before:
        st.info(f"The network already reads a {target}: pick another digit to aim for.", icon=":material/info:")
        return result
    fooled_column, change_column, bars_column = st.columns(3)
    show_chart(fooled_column, charts.image_heatmap(result.adversarial, "The fooling image"), key=f"{key}-image")
    scale = 1 / max(float(np.abs(result.change).max()), 1e-6)
    show_chart(
        change_column, charts.change_heatmap(result.change, f"The change, {scale:.0f}x stronger"), key=f"{key}-change"
    )
    with bars_column:
        after = result.answer_after
        st.metric(
            "After the attack it reads",
            str(after),
            f"{result.after[after]:.1%} sure",
            delta_color="off",
            delta_arrow="off",
        )
        show_chart(st, charts.probabilities_before_after(result.before, result.after), key=f"{key}-bars")
    before = result.answer_before
    if result.fooled:
        outcome = f"Fooled: the network now reads a {after} ({result.after[after]:.1%}), not a {before}."
    elif result.target is None:
        outcome = f"Not fooled at this epsilon: it still reads a {after}. Raise epsilon or try PGD."
    else:
        outcome = f"Not fooled into a {result.target}: it reads a {after}. Raise epsilon or try PGD."
    st.caption(
        f"{outcome} No pixel moved by more than {epsilon:g} ({round(epsilon * 255)} gray levels of 255): "
        "a person still reads the digit they read before. In the middle, ink the attack added is red and ink "
        "it took away blue."
    )
    return result


# ---- The class ---------------------------------------------------------------------------------------------------


def class_rows(challenge: classroom.Challenge) -> tuple[list[classroom.LeaderRow], dict[str, str]]:
    """Every saved and training run of the class as the leaderboard ranks it, and the version of the class's
    digits of each image format (a score read on another version is stale)."""
    store, live = cache.run_store(), cache.run_board().live()
    names = cache.name_book().all()
    versions = {
        image_format: classroom.digits_version(cache.my_digits(image_format)) for image_format in ("mnist", "digits")
    }
    records = [*store.records(), *store.live_records()]
    scores = classroom.read_scores(store.root)
    return classroom.leaderboard(records, live, names, scores, versions, challenge), versions


# ---- Who is this browser ------------------------------------------------------------------------------------

NAME_KEY = "learner_name"


def learner_name_ui() -> None:
    """The sidebar's "Your name": a generated one until the learner gives theirs, kept for this browser."""
    owner = browser_owner()
    book = cache.name_book()
    if NAME_KEY not in st.session_state:
        st.session_state[NAME_KEY] = book.name_of(owner)
    st.sidebar.text_input(
        "Your name",
        key=NAME_KEY,
        max_chars=MAX_NAME_CHARACTERS,
        on_change=_keep_name,
        args=(owner,),
        help="Shown beside your runs and digits on the leaderboard; remembered by this browser. No account, no e-mail.",
    )


def _keep_name(owner: str) -> None:
    try:
        st.session_state[NAME_KEY] = cache.name_book().set(owner, st.session_state[NAME_KEY])
    except NameRefused as error:
        st.session_state[NAME_KEY] = cache.name_book().name_of(owner)
        st.toast(escape_markdown(str(error)), icon=":material/badge:")


def browser_owner() -> str:
    """Who owns the runs this browser starts: the same across reloads and tabs, unguessable by anyone else.

    Streamlit's XSRF cookie carries a random per-browser token (masked anew on every response, so it is unmasked
    here); only its hash is kept. Without the cookie (AppTest, XSRF protection off) it is this session's own id.
    """
    token = xsrf_token(st.context.cookies.get(XSRF_COOKIE, ""))
    if token is not None:
        return hashlib.sha256(b"digit-lab-owner:" + token).hexdigest()
    return st.session_state.setdefault("session_owner", uuid.uuid4().hex)


def xsrf_token(cookie: str) -> bytes | None:
    """The token inside a version-2 XSRF cookie ("2|mask|masked token|timestamp"), or None."""
    parts = cookie.strip("\"'").split("|")
    if len(parts) != 4 or parts[0] != "2":
        return None
    try:
        mask, masked = binascii.a2b_hex(parts[1]), binascii.a2b_hex(parts[2])
    except (binascii.Error, ValueError):
        return None
    if len(mask) != 4 or len(masked) < 8:
        return None
    return bytes(byte ^ mask[index % 4] for index, byte in enumerate(masked))


# ---- The dataset -----------------------------------------------------------------------------------------------


def dataset_selector() -> None:
    """The sidebar's dataset choice, shared by every page: the built-in sets and the ones people uploaded."""
    names = [*DATASET_NAMES, *uploaded_dataset_names()]
    if PENDING_DATASET_KEY in st.session_state:
        st.session_state[DATASET_KEY] = st.session_state.pop(PENDING_DATASET_KEY)
    if st.session_state.get(DATASET_KEY) not in names:
        st.session_state[DATASET_KEY] = DATASET_NAMES[0]
    st.sidebar.selectbox(
        "Dataset", names, format_func=dataset_title, key=DATASET_KEY, help="Every page works on this dataset."
    )


def select_dataset(name: str) -> None:
    """Make `name` the sidebar's choice from the next script run on (the selector is already drawn in this one)."""
    st.session_state[PENDING_DATASET_KEY] = name


def dataset_title(name: str) -> str:
    if name in DATASET_TITLES:
        return DATASET_TITLES[name]
    try:
        return cache.dataset(name).title
    except DatasetError:
        return name


def selected_dataset_name() -> str:
    return st.session_state.get(DATASET_KEY, DATASET_NAMES[0])


def load_selected_dataset() -> Dataset:
    """The chosen dataset; a load failure is shown in the page, which then stops."""
    name = selected_dataset_name()
    try:
        return cache.dataset(name)
    except DatasetError as error:
        show_refusal(f"The {name} dataset could not be loaded.", str(error))
        st.stop()


# ---- The model that reads digits (Draw & predict, Inside the network) ----------------------------------------

CHOSEN_RUN_KEY = "chosen_run"  # not a widget key: the choice survives page changes
LATEST_DRAWING_KEY = "latest_drawing"  # {"image": (h, w) array, "run_id": ...}: the last digit drawn or uploaded


def runs_for(dataset: Dataset) -> list[RunRecord]:
    """The saved runs whose models read this dataset's images (28x28 or 8x8), newest first."""
    return [r for r in cache.run_store().records() if image_format_of(r.dataset) == dataset.image_format]


def model_picker(records: list[RunRecord]) -> str:
    """The saved run that reads digits: the one chosen before, else the session's latest training, else the newest."""
    by_id = {record.run_id: record for record in records}
    latest = st.session_state.get(RUN_KEY)
    chosen = st.session_state.get(CHOSEN_RUN_KEY)
    if chosen not in by_id:
        chosen = latest if latest in by_id else records[0].run_id

    def describe(run_id: str) -> str:
        record = by_id[run_id]
        accuracy = record.result.test_accuracy
        accuracy_text = f"{accuracy:.2%}" if accuracy is not None else "not evaluated"
        mine = ", your latest" if run_id == latest else ""
        return f"{run_id}: test accuracy {accuracy_text} ({record.source}{mine})"

    run_ids = list(by_id)
    picked = st.selectbox("Model", run_ids, index=run_ids.index(chosen), format_func=describe, key="model_picker")
    st.session_state[CHOSEN_RUN_KEY] = picked
    return picked


# ---- The hyperparameter panel (Model and Training pages) -----------------------------------------------------

CONFIG_KEY = "model_config"  # the current ModelConfig; not a widget key, so it survives page changes
PRESET_KEY = "hp_preset"
WIDGET_PREFIX = "hp_"


def widget_key(field: str) -> str:
    return WIDGET_PREFIX + field


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

    with st.sidebar:
        st.header("Hyperparameters")
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
                        field_widget(name)
                    if name == "learning_rate" and spec.group == group:
                        learning_rate_finder(config)

    st.session_state[CONFIG_KEY] = config
    mirror_in_url(config)
    return config


FINDER_KEY = "lr_finder"  # the finder's task on the cluster (core.tasks.Task)
FOUND_KEY = "lr_found"  # (the config it swept, its LearningRateSweep)


def learning_rate_finder(config: ModelConfig) -> None:
    """The finder's button under the slider: the sweep runs on the cluster; its curve, suggestion and "Use it"
    stay until the network changes."""
    button = st.container()  # drawn last: it is enabled again in the very run that shows the result
    if (ended := task_ui(FINDER_KEY)) is not None:
        if ended.error:
            show_refusal("The learning-rate finder failed.", ended.error)
        else:
            st.session_state[FOUND_KEY] = (config, LearningRateSweep.from_dict(json.loads(ended.result)))
    explained = (
        "Trains this network from fresh weights for up to 300 batches while the rate rises from 0.000001 "
        "to 10, and plots the loss (Smith, 2017; fastai's lr_find)."
    )
    running = FINDER_KEY in st.session_state
    if button.button(
        "Find a learning rate", icon=":material/search:", key="find_rate", disabled=running, help=explained
    ):
        try:
            st.session_state[FINDER_KEY] = cache.start_task(
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
    swept, sweep = found
    if _finder_relevant(swept) != _finder_relevant(config):
        st.caption("The network changed since the last search: find again for this one.")
        return
    show_chart(
        st,
        charts.learning_rate_sweep(sweep.learning_rates, sweep.losses, sweep.suggestion, sweep.lowest_rate),
        key="lr_sweep",
    )
    stop = "the loss exploded" if sweep.exploded else "the last batch"
    st.caption(
        f"{len(sweep.learning_rates)} batches in {sweep.seconds:.1f} s, until {stop}. Lowest loss at "
        f"{sweep.lowest_rate:.2g}; suggested: {sweep.suggestion:g} ({sweep.rule}, the slider's "
        "nearest)."
    )
    if sweep.suggestion != config.learning_rate:
        st.button(
            f"Use {sweep.suggestion:g}",
            icon=":material/check:",
            key="use_rate",
            on_click=_use_rate,
            args=(sweep.suggestion,),
        )


def _finder_relevant(config: ModelConfig) -> ModelConfig:
    """What the finder's answer depends on: everything but the rate, the schedule and how long training lasts."""
    return dataclasses.replace(config, learning_rate=SEED.learning_rate, schedule=SEED.schedule, epochs=SEED.epochs)


def _use_rate(rate: float) -> None:
    st.session_state[widget_key("learning_rate")] = rate


def field_widget(name: str) -> None:
    """One hyperparameter's widget, as its FieldSpec describes it."""
    spec = FIELDS[name]
    common = {"key": widget_key(name), "help": spec.help}
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
