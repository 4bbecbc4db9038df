"""core.model: the seed network, the presets built, summary numbers and the layer graph."""

import dataclasses
import re

import numpy as np
import pytest

from core.config import PRESETS, SEED, ConfigError, ModelConfig
from core.model import build_model, confusion_counts, describe_model, input_shape_for, layer_graph_dot, summarize

IMAGE_SHAPES = {"mnist": (28, 28), "digits": (8, 8)}


def test_seed_is_the_notebooks_network():
    model = build_model(SEED, input_shape_for(SEED, (28, 28)))
    assert [type(layer).__name__ for layer in model.layers] == ["Dense", "Dense"]
    assert [layer.units for layer in model.layers] == [512, 10]
    assert [layer.activation.__name__ for layer in model.layers] == ["relu", "softmax"]
    assert model.count_params() == 407_050
    assert type(model.optimizer).__name__ == "RMSprop"
    assert model.loss == "sparse_categorical_crossentropy"
    assert tuple(model.inputs[0].shape) == (None, 784)


def test_summary_matches_keras():
    model = build_model(SEED, (784,))
    summary = summarize(model)
    assert summary.total_parameters == summary.trainable_parameters == 407_050
    assert [row.parameters for row in summary.rows] == [401_920, 5_130]
    assert [row.output_shape for row in summary.rows] == ["(None, 512)", "(None, 10)"]
    assert summary.weight_bytes == 407_050 * 4
    assert "Total params: 407,050" in summary.text and "401,920" in summary.text


@pytest.mark.parametrize("preset", list(PRESETS))
@pytest.mark.parametrize("dataset", list(IMAGE_SHAPES))
def test_each_preset_builds_or_is_refused_clearly(preset, dataset):
    config = PRESETS[preset].config
    if config.family == "cnn" and dataset == "digits":
        with pytest.raises(ConfigError, match="cannot read 8x8 images"):
            describe_model(config, IMAGE_SHAPES[dataset])
        return
    description = describe_model(config, IMAGE_SHAPES[dataset])
    assert description.summary.total_parameters > 0
    assert description.summary.rows[-1].output_shape == "(None, 10)"


def test_input_shape_follows_the_dataset_and_family():
    cnn = dataclasses.replace(SEED, family="cnn")
    assert input_shape_for(SEED, (28, 28)) == (784,) and input_shape_for(SEED, (8, 8)) == (64,)
    assert input_shape_for(cnn, (28, 28)) == (28, 28, 1) and input_shape_for(cnn, (8, 8)) == (8, 8, 1)


def test_hidden_layers_dropout_and_l2():
    config = ModelConfig(hidden_layers=3, units=64, dropout=0.2, l2=1e-4, activation="gelu")
    model = build_model(config, (64,))
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Dense", "Dropout"] * 3 + ["Dense"]
    assert model.count_params() == (64 * 64 + 64) * 3 + 64 * 10 + 10
    assert model.layers[0].kernel_regularizer is not None


def test_zero_hidden_layers_is_logistic_regression():
    model = build_model(ModelConfig(hidden_layers=0), (784,))
    assert model.count_params() == 7_850


def test_layer_graph_has_one_node_per_layer_and_edges_in_order():
    model = build_model(ModelConfig(hidden_layers=2, dropout=0.1), (784,))
    dot = layer_graph_dot(model)
    nodes = re.findall(r'^\s*"([^"]+)" \[label=', dot, flags=re.M)
    edges = re.findall(r'^\s*"([^"]+)" -> "([^"]+)";', dot, flags=re.M)
    names = [layer.name for layer in model.layers]
    assert nodes == ["image", *names]
    assert edges == list(zip(["image", *names[:-1]], names, strict=True))
    assert "401,920 params" in dot and "Dense (relu)" in dot and "(None, 784)" in dot


def test_confusion_counts_put_true_digits_in_rows():
    matrix = confusion_counts(np.array([1, 1, 2, 3]), np.array([1, 7, 2, 3]))
    assert matrix.shape == (10, 10) and matrix.sum() == 4
    assert matrix[1, 1] == 1 and matrix[1, 7] == 1 and matrix[7, 1] == 0
