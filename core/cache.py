"""The one Streamlit module in core: core functions wrapped in caches shared by all sessions.

`st.cache_resource` values are shared across sessions and threads: never mutate them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

from core import data
from core.model import (
    SEED,
    ModelConfig,
    ModelDescription,
    describe_model,
    model_input_shape,
    predict_probabilities,
    probabilities_on_test_set,
)
from core.store import RunStore, default_store_root

if TYPE_CHECKING:
    from core.training import JobBoard


def _keep_keras_state_between_script_runs() -> None:
    """Stop Streamlit from calling `keras.backend.clear_session()` after every script and fragment run.

    That call resets Keras' global state and TensorFlow's kernel cache under the training threads: with the
    live view refreshing each second, epochs ran about 50x slower (measured). Digit Lab names its layers
    itself and never relies on that reset. (Streamlit's hook also closes matplotlib figures; none are used.)
    """
    from streamlit.runtime.scriptrunner import script_runner

    script_runner._clean_problem_modules = lambda: None


_keep_keras_state_between_script_runs()


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
    pca: data.PcaMap


@st.cache_resource(show_spinner="Describing the dataset...")
def _dataset_stats(name: str, mnist_override: str) -> DatasetStats:
    loaded = _dataset(name, mnist_override)
    return DatasetStats(
        train_counts=data.class_counts(loaded.y_train),
        test_counts=data.class_counts(loaded.y_test),
        mean_images=data.mean_images(loaded.x_train, loaded.y_train),
        pixel_histogram=data.pixel_histogram(loaded.x_train, loaded.pixel_max),
        pca=data.pca_map(loaded.x_train, loaded.y_train),
    )


def dataset_stats(name: str) -> DatasetStats:
    """Class counts, mean images, pixel histogram and a PCA map, computed once per server."""
    return _dataset_stats(name, os.environ.get(data.MNIST_NPZ_ENV, ""))


@st.cache_resource
def run_store() -> RunStore:
    """The folder of saved runs (DIGITLAB_MODEL_DIR, default ./models)."""
    return RunStore(default_store_root())


@st.cache_data(show_spinner="Building the model...", max_entries=64)
def model_description(config: ModelConfig, image_shape: tuple[int, int]) -> ModelDescription:
    """The summary and layer graph of a configuration, built once per configuration."""
    return describe_model(config, image_shape)


@st.cache_resource
def job_board() -> JobBoard:
    """Every training job of this server; each finished or stopped run is saved in the store."""
    from core.training import JobBoard  # imports TensorFlow: only pages that train pay for it

    return JobBoard(on_end=run_store().save_job)


@st.cache_resource(max_entries=8, show_spinner="Loading the model...")
def saved_model(store_root: str, run_id: str):
    """A saved run's model, loaded once and warmed up (call it, never mutate it)."""
    model = RunStore(store_root).load_model(run_id)
    predict_probabilities(model, np.zeros((1, *model_input_shape(model)), np.float32))  # trace it once, now
    return model


@st.cache_resource(show_spinner=False)
def starter_job(dataset_name: str):
    """On a fresh install: train the notebook's network once, for every session to share, and save it."""
    from core.training import TrainingData, TrainingJob

    loaded = dataset(dataset_name)
    data = TrainingData.from_dataset(loaded, SEED)
    return TrainingJob(SEED, data, on_end=run_store().save_job, dataset_name=dataset_name).start()


@st.cache_resource(max_entries=4, show_spinner="Classifying the test set...")
def test_probabilities(store_root: str, run_id: str, dataset_name: str) -> np.ndarray:
    """A saved model's probabilities for every test image of its dataset."""
    return probabilities_on_test_set(saved_model(store_root, run_id), dataset(dataset_name))
