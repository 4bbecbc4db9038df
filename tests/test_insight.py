"""core.insight: weight pictures, every layer's answer, integrated gradients, the hidden map and epoch replay."""

import dataclasses

import keras
import numpy as np
import pytest

from core.config import PRESETS, SEED
from core.insight import EpochReplay, hidden_map, integrated_gradients, layer_outputs, unit_order, weight_images
from core.model import build_model, input_shape_for, predict_probabilities
from core.runs import LocalReporter, TrainingRequest
from core.store import RunStore, new_run_id
from core.training import run_training, train_model

SMALL = dataclasses.replace(SEED, units=64, epochs=2)


@pytest.fixture(scope="module")
def dense_model():
    return train_model(SMALL, "mnist", limit=3000)


@pytest.fixture(scope="module")
def seven(mnist) -> np.ndarray:
    return mnist.x_test[0] / 255.0  # the first test digit: a 7


def test_a_dense_weight_picture_is_its_units_kernel_column(dense_model):
    images = weight_images(dense_model)
    kernel = np.asarray(dense_model.layers[0].kernel)
    assert images.shape == (64, 28, 28)
    np.testing.assert_array_equal(images[5], kernel[:, 5].reshape(28, 28))
    assert weight_images(build_model(SEED, (64,))).shape == (512, 8, 8)


def test_a_conv_layer_gives_one_picture_per_filter():
    model = build_model(PRESETS["Small CNN"].config, (28, 28, 1))
    images = weight_images(model)
    kernel = np.asarray(model.layers[0].kernel)
    assert images.shape == (kernel.shape[-1], 3, 3)
    np.testing.assert_array_equal(images[3], kernel[:, :, 0, 3])


def test_units_are_ordered_by_weight_norm_or_by_response():
    images = np.zeros((3, 2, 2))
    images[1] += 5
    images[2] += 1
    assert unit_order(images).tolist() == [1, 2, 0]
    assert unit_order(images, responses=np.array([3.0, -1.0, 0.5])).tolist() == [0, 2, 1]


def test_every_layer_answers_in_order_and_the_last_answer_is_the_probabilities(dense_model, seven):
    outputs = layer_outputs(dense_model, seven)
    assert [name for name, _ in outputs] == [layer.name for layer in dense_model.layers]
    assert [value.shape for _, value in outputs] == [(64,), (10,)]
    np.testing.assert_allclose(outputs[-1][1], predict_probabilities(dense_model, seven.reshape(1, 784))[0], atol=1e-6)
    cnn = build_model(PRESETS["Small CNN"].config, (28, 28, 1))
    shapes = [value.shape for _, value in layer_outputs(cnn, seven)]
    assert shapes[0] == (28, 28, 16) and shapes[-1] == (10,)


@pytest.mark.parametrize("target", [None, 9])
def test_integrated_gradients_are_complete(dense_model, seven, target):
    attribution = integrated_gradients(dense_model, seven, target)
    assert attribution.shape == (28, 28)
    probabilities = predict_probabilities(dense_model, np.stack([seven.ravel(), np.zeros(784)]).astype(np.float32))
    cls = 7 if target is None else target
    assert abs(attribution.sum() - (probabilities[0, cls] - probabilities[1, cls])) < 0.03
    assert np.all(attribution[seven == 0] == 0)  # black pixels carry no evidence, measured from black


def test_integrated_gradients_on_a_cnn_and_on_8x8_digits(digits):
    cnn = build_model(PRESETS["Small CNN"].config, (28, 28, 1))
    image = np.random.default_rng(0).random((28, 28)).astype(np.float32)
    probabilities = predict_probabilities(cnn, np.stack([image, np.zeros((28, 28))])[..., None].astype(np.float32))
    target = int(probabilities[0].argmax())
    attribution = integrated_gradients(cnn, image)
    assert abs(attribution.sum() - (probabilities[0, target] - probabilities[1, target])) < 0.03
    assert integrated_gradients(build_model(SEED, (64,)), digits.x_test[0] / 16).shape == (8, 8)


def test_the_hidden_map_places_test_digits_and_a_new_one(dense_model, mnist, seven):
    projected = hidden_map(dense_model, mnist.x_test, mnist.y_test, count=500)
    assert projected.coordinates.shape == (500, 2) and projected.layer == dense_model.layers[-2].name
    np.testing.assert_array_equal(projected.labels, mnist.y_test[projected.indices])
    assert np.mean(projected.predicted == projected.labels) > 0.8
    hidden = dict(layer_outputs(dense_model, seven))[projected.layer]
    index = int(np.flatnonzero(projected.indices == 0)[0]) if 0 in projected.indices else None
    placed = projected.place(hidden)
    assert placed.shape == (2,)
    if index is not None:
        np.testing.assert_allclose(placed, projected.coordinates[index], atol=1e-3)


def test_snapshots_replay_the_digit_epoch_by_epoch(tmp_path, seven):
    run_id = new_run_id()
    config = dataclasses.replace(SMALL, epochs=3)
    run_training(TrainingRequest(run_id, config, "mnist", 2000, store_root=str(tmp_path)), LocalReporter())
    store = RunStore(tmp_path)
    replay = EpochReplay.of_run(store, run_id)
    curves = replay.probabilities(seven)
    assert curves.shape == (3, 10)
    np.testing.assert_allclose(curves.sum(axis=1), 1.0, atol=1e-5)
    final = predict_probabilities(store.load_model(run_id), seven.reshape(1, 784).astype(np.float32))[0]
    np.testing.assert_allclose(curves[-1], final, atol=1e-6)  # the last epoch is the saved model itself
    with replay.at(2) as model:  # an earlier one: its 8-bit snapshot reads the digit as the exact weights would
        assert model.get_weights()[0].dtype == np.float32
    with replay.at(1) as model:
        np.testing.assert_array_equal(weight_images(model)[0], store.epoch_weights(run_id, 1)[0][:, 0].reshape(28, 28))
    exact = sum(weight.nbytes for weight in replay.snapshots[-1].weights())
    assert replay.snapshots[0].nbytes < 0.3 * exact  # a cached replay holds its earlier epochs in 8 bits


def test_a_functional_upload_without_input_layer_in_layers_works():
    image = keras.Input((28, 28))
    flat = keras.layers.Flatten()(image)
    model = keras.Model(image, keras.layers.Dense(10, activation="softmax")(keras.layers.Dense(16)(flat)))
    assert weight_images(model).shape == (16, 28, 28)
    assert [value.shape for _, value in layer_outputs(model, np.zeros((28, 28)))][-1] == (10,)


@pytest.mark.parametrize("preset", ["seed", "Small CNN"])
def test_a_model_goes_when_its_last_user_lets_go_of_it(preset, seven):
    """What the pages make from a model (its graph, probe models, attack and gradient graphs, NumPy weights) dies
    with it: the web server loads each run's model for a while, and a table that kept models alive grew its memory
    by every run a page had opened."""
    import gc
    import weakref

    from core.adversarial import fgsm, pgd
    from core.model import ready_to_serve

    config = SEED if preset == "seed" else PRESETS[preset].config
    model = ready_to_serve(build_model(config, input_shape_for(config, (28, 28))))
    layer_outputs(model, seven)
    integrated_gradients(model, seven)
    fgsm(model, seven, 0.1)
    pgd(model, seven, 0.1)
    predict_probabilities(model, np.zeros((100, *model.inputs[0].shape[1:]), np.float32))
    gone = weakref.ref(model)
    del model
    gc.collect()
    assert gone() is None
