"""core.model: the seed network, the presets built, summary numbers and the layer graph."""

import dataclasses
import re

import keras
import numpy as np
import pytest

from core.config import PRESETS, SEED, ModelConfig
from core.model import (
    build_model,
    confusion_counts,
    describe_model,
    input_shape_for,
    layer_graph_dot,
    make_optimizer,
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
def test_each_preset_builds_for_both_image_sizes(preset, dataset):
    description = describe_model(PRESETS[preset].config, IMAGE_SHAPES[dataset])
    assert description.summary.total_parameters > 0
    assert description.summary.rows[-1].output_shape == "(None, 10)"


def test_the_small_cnn_is_two_conv_blocks_and_a_dense_head():
    model = build_model(PRESETS["Small CNN"].config, (28, 28, 1))
    assert [layer.name for layer in model.layers] == [
        "conv_1",
        "pool_1",
        "conv_2",
        "pool_2",
        "flatten",
        "hidden_1",
        "output",
    ]
    assert [layer.filters for layer in model.layers[:3:2]] == [16, 32] and model.count_params() == 206_922


def test_the_robust_cnn_augments_in_training_only_and_keeps_its_augmentation_when_saved(tmp_path):
    model = build_model(PRESETS["Robust CNN"].config, (28, 28, 1))
    augmentation = ["random_elastic", "random_shear", "random_rotation"]
    assert [layer.name for layer in model.layers[:3]] == augmentation
    image = np.zeros((1, 28, 28, 1), np.float32)
    image[0, 4:24, 13:15, 0] = 1.0
    augment = keras.Sequential(model.layers[:3])
    np.testing.assert_array_equal(augment(image, training=False), image)  # inference sees the image as it is
    assert not np.allclose(augment(np.repeat(image, 8, axis=0), training=True), image)
    path = tmp_path / "robust.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert [layer.name for layer in loaded.layers[:3]] == augmentation
    np.testing.assert_allclose(loaded(image, training=False), model(image, training=False), atol=1e-6)
    np.testing.assert_allclose(loaded.predict(image, verbose=0), model.predict(image, verbose=0), atol=1e-6)


def test_augmentation_on_a_dense_network_reshapes_to_an_image_and_back():
    config = dataclasses.replace(SEED, shift=0.1, zoom=0.1, stroke=0.5)
    model = build_model(config, (784,))
    names = [layer.name for layer in model.layers]
    assert names[:5] == ["as_image", "random_zoom", "random_shift", "random_stroke_width", "as_vector"]
    assert model.count_params() == 407_050  # augmentation adds no weights
    x = np.random.default_rng(0).random((2, 784)).astype(np.float32)
    np.testing.assert_allclose(model(x, training=False), keras.Sequential(model.layers[5:])(x), atol=1e-6)


def test_the_one_cycle_schedule_warms_up_to_the_rate_and_decays():
    config = dataclasses.replace(SEED, schedule="one-cycle", learning_rate=5e-3, epochs=2)
    schedule = make_optimizer(config, steps_per_epoch=100).learning_rate  # read at the optimizer's current step
    assert float(schedule) == pytest.approx(5e-4)  # step 0: a tenth of the peak
    rates = [float(make_optimizer(config, 100)._learning_rate(step)) for step in (30, 199)]
    assert rates[0] == pytest.approx(5e-3, rel=1e-3) and rates[1] < 1e-4  # the peak after 15% of the steps, then ~0


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
