"""core.model: the seed network, presets, summary numbers, layer graph and shared links."""

import dataclasses
import re

import pytest

from core.model import (
    PRESETS,
    SEED,
    ModelBuildError,
    ModelConfig,
    build_model,
    config_from_query,
    config_to_query,
    describe_model,
    input_shape_for,
    layer_graph_dot,
    summarize,
)

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
        with pytest.raises(ModelBuildError, match="cannot read 8x8 images"):
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


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"units": 5000}, "units"),
        ({"activation": "swish"}, "activation"),
        ({"learning_rate": float("nan")}, "learning_rate"),
    ],
)
def test_out_of_range_values_are_refused(change, field):
    with pytest.raises(ModelBuildError, match=field):
        build_model(dataclasses.replace(SEED, **change), (784,))


def test_layer_graph_has_one_node_per_layer_and_edges_in_order():
    model = build_model(ModelConfig(hidden_layers=2, dropout=0.1), (784,))
    dot = layer_graph_dot(model)
    nodes = re.findall(r'^\s*"([^"]+)" \[label=', dot, flags=re.M)
    edges = re.findall(r'^\s*"([^"]+)" -> "([^"]+)";', dot, flags=re.M)
    names = [layer.name for layer in model.layers]
    assert nodes == ["image", *names]
    assert edges == list(zip(["image", *names[:-1]], names, strict=True))
    assert "401,920 params" in dot and "Dense (relu)" in dot and "(None, 784)" in dot


def test_query_parameters_round_trip():
    config = ModelConfig(hidden_layers=2, units=256, dropout=0.25, optimizer="sgd", learning_rate=0.03, batch_size=64,
                         epochs=12, validation_split=0.1, seed=7, activation="tanh", l2=1e-4)  # fmt: skip
    params = config_to_query(config)
    assert config_from_query(params) == (config, [])
    assert config_to_query(SEED) == {}


def test_bad_query_values_are_ignored_with_a_note():
    config, problems = config_from_query({"units": "lots", "epochs": "99", "optimizer": "adam"})
    assert config == dataclasses.replace(SEED, optimizer="adam")
    assert len(problems) == 2 and "units" in problems[0] and "epochs" in problems[1]
