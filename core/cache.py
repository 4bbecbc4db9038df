"""The one Streamlit module in core: core functions wrapped in caches shared by all sessions.

`st.cache_resource` values are shared across sessions and threads: never mutate them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import streamlit as st

from core import data
from core.model import ModelConfig, ModelDescription, describe_model
from core.store import RunStore, default_store_root


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
