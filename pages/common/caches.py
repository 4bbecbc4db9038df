"""Core objects and computed views in Streamlit's caches, shared by all sessions of a server.

`st.cache_resource` values are shared across sessions and threads: never mutate them.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from core import charts, data
from core.config import ModelConfig
from core.dataset_stats import PcaMap, class_counts, mean_images, pca_map, pixel_histogram
from core.export import predictions_csv
from core.insight import EpochReplay, HiddenMap, hidden_map
from core.model import ModelDescription, confusion_counts, describe_model, probabilities_on_test_set, ready_to_serve
from core.my_digits import MyDigitsStore
from core.state import MODEL_FILE
from core.store import RunStore, default_store_root

if TYPE_CHECKING:
    from core.names import NameBook
    from core.run_board import RunBoard
    from core.stepper import StepSessions


@st.cache_resource(show_spinner="Loading the dataset...")
def _dataset(name: str, mnist_override: str) -> data.Dataset:
    return data.load_dataset(name)


def dataset(name: str) -> data.Dataset:
    """The dataset, loaded once per server (reloaded if the MNIST override changes)."""
    return _dataset(name, os.environ.get(data.MNIST_NPZ_ENV, ""))


@dataclass(frozen=True)
class DatasetStats:
    train_counts: np.ndarray
    test_counts: np.ndarray
    mean_images: np.ndarray
    pixel_histogram: np.ndarray
    pca: PcaMap
    figures: dict[str, go.Figure]  # the charts that do not depend on a widget, built once


@st.cache_resource(show_spinner="Describing the dataset...")
def _dataset_stats(name: str, mnist_override: str) -> DatasetStats:
    loaded = _dataset(name, mnist_override)
    train_counts, test_counts = class_counts(loaded.y_train), class_counts(loaded.y_test)
    means = mean_images(loaded.x_train, loaded.y_train)
    histogram = pixel_histogram(loaded.x_train, loaded.pixel_max)
    pca = pca_map(loaded.x_train, loaded.y_train)
    figures = {
        "class_distribution": charts.class_distribution(train_counts, test_counts),
        "mean_images": charts.mean_images(means),
        "pixel_histogram": charts.pixel_histogram(histogram),
        "pca": charts.pca_scatter(pca.coordinates, pca.labels, pca.explained_variance),
    }
    return DatasetStats(train_counts, test_counts, means, histogram, pca, figures)


def dataset_stats(name: str) -> DatasetStats:
    """Class counts, mean images, pixel histogram and a PCA map, computed once per server."""
    return _dataset_stats(name, os.environ.get(data.MNIST_NPZ_ENV, ""))


@st.cache_resource
def _run_store(root: str) -> RunStore:
    store = RunStore(root)
    store.clean_up()  # what a killed save left behind (logged)
    return store


def run_store() -> RunStore:
    """The folder of saved runs (DIGITLAB_MODEL_DIR, default ./models), swept once per server."""
    return _run_store(str(default_store_root()))


def my_digits(image_format: str) -> MyDigitsStore:
    """The digits users labelled in this image format ("mnist" 28x28 or "digits" 8x8), beside the saved runs."""
    return MyDigitsStore(run_store().root, image_format)


@st.cache_data(show_spinner="Building the model...", max_entries=64)
def model_description(config: ModelConfig, image_shape: tuple[int, int]) -> ModelDescription:
    """The summary and layer graph of a configuration, built once per configuration."""
    return describe_model(config, image_shape)


@st.cache_resource
def _run_board(root: str) -> RunBoard:
    from core.run_board import RunBoard

    return RunBoard(_run_store(root))


def run_board() -> RunBoard:
    """Every run of this model folder, live or saved: started here, on a replica, or before a restart."""
    return _run_board(str(default_store_root()))


@st.cache_resource(show_spinner=False)
def _step_sessions(root: str, idle_seconds: float) -> StepSessions:
    from core.stepper import StepSessions

    return StepSessions(_run_board(root).cluster, idle_seconds)


def step_sessions() -> StepSessions:
    """Step-mode networks on the cluster, one per browser and per worker (core.stepper), each closed after
    DIGITLAB_STEP_IDLE_SECONDS without a click."""
    from core.stepper import idle_limit

    return _step_sessions(str(default_store_root()), idle_limit())


def name_book() -> NameBook:
    """Learners' display names (core.names), in the model folder every server shares."""
    from core.names import NameBook

    return NameBook(default_store_root())


def model_version(store_root: str, run_id: str) -> int:
    """Changes whenever a run's model file does (a continued run): part of every cache key of a run's model."""
    try:
        return (Path(store_root) / run_id / MODEL_FILE).stat().st_mtime_ns
    except OSError:
        return 0


def saved_model(store_root: str, run_id: str, epoch: int | None = None):
    """A saved run's model (after `epoch`, or final), loaded once and warmed up: call it, never mutate it."""
    return _saved_model(store_root, run_id, epoch, model_version(store_root, run_id))


@st.cache_resource(max_entries=8, show_spinner="Loading the model...")
def _saved_model(store_root: str, run_id: str, epoch: int | None, version: int):
    return ready_to_serve(RunStore(store_root).load_model(run_id, epoch))  # never mutated: see ready_to_serve


@dataclass(frozen=True)
class TestSetViews:
    """What Draw & predict shows of a model on its test set, built once per model (never per stroke)."""

    probabilities: np.ndarray  # (n, 10)
    predicted: np.ndarray  # (n,)
    confusion: np.ndarray  # (10, 10): true digit by predicted digit
    first_digits: go.Figure
    first_probabilities: go.Figure
    confusion_figure: go.Figure
    predictions_csv: str  # index, label, predicted, p0..p9 for every test image


FIRST_TEST_DIGITS = 10


def test_set_views(store_root: str, run_id: str, dataset_name: str) -> TestSetViews:
    """A saved model's answers on every test image of its dataset, and the figures made of them."""
    return _test_set_views(store_root, run_id, dataset_name, model_version(store_root, run_id))


@st.cache_resource(max_entries=4, show_spinner="Classifying the test set...")
def _test_set_views(store_root: str, run_id: str, dataset_name: str, version: int) -> TestSetViews:
    loaded = dataset(dataset_name)
    probabilities = probabilities_on_test_set(saved_model(store_root, run_id), loaded)
    predicted = probabilities.argmax(axis=1)
    first = slice(0, FIRST_TEST_DIGITS)
    titles = [f"{p} (true {t})" for p, t in zip(predicted[first], loaded.y_test[first], strict=True)]
    confusion = confusion_counts(loaded.y_test, predicted)
    return TestSetViews(
        probabilities=probabilities,
        predicted=predicted,
        confusion=confusion,
        first_digits=charts.image_grid(loaded.x_test[first], titles, columns=FIRST_TEST_DIGITS),
        first_probabilities=charts.probability_bars(probabilities[0]),
        confusion_figure=charts.confusion_heatmap(confusion),
        predictions_csv=predictions_csv(loaded.y_test, probabilities),
    )


# ---- Inside the network -------------------------------------------------------------------------------------


def epoch_replay(store_root: str, run_id: str) -> EpochReplay | None:
    """A private copy of a run's model with its weights after every epoch (None when none were kept)."""
    return _epoch_replay(store_root, run_id, model_version(store_root, run_id))


@st.cache_resource(max_entries=2, show_spinner="Loading the run's epochs...")
def _epoch_replay(store_root: str, run_id: str, version: int) -> EpochReplay | None:
    return EpochReplay.of_run(RunStore(store_root), run_id)


@contextlib.contextmanager
def model_after(store_root: str, run_id: str, epoch: int | None):
    """The run's model after `epoch` for the `with` block (the final model for None or the last epoch)."""
    replay = epoch_replay(store_root, run_id) if epoch else None
    if replay is None or epoch >= replay.epochs:
        yield saved_model(store_root, run_id)
        return
    with replay.at(epoch) as model:
        yield model


def hidden_layer_map(store_root: str, run_id: str, epoch: int | None, dataset_name: str) -> HiddenMap:
    """The last hidden layer's answers for 2,000 test images, projected to 2-D, after `epoch`."""
    return _hidden_layer_map(store_root, run_id, epoch, dataset_name, model_version(store_root, run_id))


@st.cache_resource(max_entries=8, show_spinner="Mapping the hidden layer...")
def _hidden_layer_map(store_root: str, run_id: str, epoch: int | None, dataset_name: str, version: int) -> HiddenMap:
    loaded = dataset(dataset_name)
    with model_after(store_root, run_id, epoch) as model:
        return hidden_map(model, loaded.x_test, loaded.y_test)


def tflite_model(store_root: str, run_id: str) -> bytes:
    """A saved run's model as TensorFlow Lite, converted once."""
    return _tflite_model(store_root, run_id, model_version(store_root, run_id))


@st.cache_data(max_entries=4, show_spinner="Converting to TensorFlow Lite...")
def _tflite_model(store_root: str, run_id: str, version: int) -> bytes:
    from core.export import to_tflite

    return to_tflite(saved_model(store_root, run_id))


@st.cache_resource(show_spinner=False)
def corrupted_examples(index: int = 0) -> tuple[np.ndarray, list[str]]:
    """One MNIST test digit, clean and under each of MNIST-C's corruptions (0-255), with titles: made once (~8 ms)."""
    from core.corruptions import CORRUPTIONS, corrupt

    digit = dataset("mnist").x_test[index] / 255.0
    images = [digit] + [corrupt(digit, name, seed=index) for name in CORRUPTIONS]
    return np.stack(images) * 255, ["clean"] + [corruption.title for corruption in CORRUPTIONS.values()]
