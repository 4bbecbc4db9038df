"""A saved dense network read in NumPy (core.model.serve_in_numpy) gives TensorFlow's probabilities."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from core.config import SEED
from core.model import build_model, predict_probabilities, serve_in_numpy

IMAGES = np.random.default_rng(0).random((5, 784)).astype(np.float32)


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "elu", "gelu"])
def test_a_dense_network_in_numpy_matches_tensorflow(activation):
    config = dataclasses.replace(
        SEED, activation=activation, hidden_layers=2, units=64, dropout=0.2, shift=0.1, stroke=0.5
    )  # dropout and augmentation: identity when reading
    model = build_model(config, (784,))
    expected = predict_probabilities(model, IMAGES)
    assert serve_in_numpy(model)
    np.testing.assert_allclose(predict_probabilities(model, IMAGES), expected, atol=2e-6)
    np.testing.assert_allclose(predict_probabilities(model, IMAGES[:1]), expected[:1], atol=2e-6)


def test_a_cnn_stays_with_tensorflow():
    model = build_model(dataclasses.replace(SEED, family="cnn", filters=8, units=16), (28, 28, 1))
    assert not serve_in_numpy(model)
