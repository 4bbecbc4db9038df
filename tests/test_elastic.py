"""core.augmentation: the elastic distortion layer (Simard et al. 2003) and the wider stroke-width range."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest

from core.augmentation import RandomElastic, RandomStrokeWidth, augmentation_layers, elastic_examples
from core.config import SEED, ModelConfig, check_config, config_from_query, config_to_query


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    batch = np.zeros((4, 28, 28, 1), np.float32)
    batch[:, 6:22, 12:16] = 1.0  # a 1
    batch[1, 6:10, 8:20] = 0.6  # a 7's bar, grey
    return batch


def test_shape_and_range(digits):
    moved = np.asarray(RandomElastic(34.0, seed=1)(digits, training=True))
    assert moved.shape == digits.shape and moved.dtype == np.float32
    assert moved.min() >= 0.0 and moved.max() <= 1.0
    assert not np.array_equal(moved, digits)
    assert abs(moved.sum() - digits.sum()) / digits.sum() < 0.25  # ink moves, it is not made or lost wholesale


def test_zero_strength_and_inference_are_the_identity(digits):
    assert np.array_equal(np.asarray(RandomElastic(0.0, seed=1)(digits, training=True)), digits)
    assert np.array_equal(np.asarray(RandomElastic(34.0, seed=1)(digits, training=False)), digits)


def test_the_same_seed_gives_the_same_distortion(digits):
    first = np.asarray(RandomElastic(34.0, seed=7)(digits, training=True))
    again = np.asarray(RandomElastic(34.0, seed=7)(digits, training=True))
    other = np.asarray(RandomElastic(34.0, seed=8)(digits, training=True))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_it_saves_and_loads_with_its_settings():
    layer = RandomElastic(20.0, 3.0, seed=5, name="random_elastic")
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert (again.alpha, again.sigma, again.seed) == (20.0, 3.0, 5)


def test_the_config_field_adds_the_layer_and_defaults_off():
    assert SEED.elastic == 0.0 and not SEED.augmented and config_to_query(SEED) == {}
    config = dataclasses.replace(SEED, elastic=34.0)
    check_config(config)
    assert config.augmented
    assert [layer.name for layer in augmentation_layers(config, (784,))] == ["as_image", "random_elastic", "as_vector"]
    assert config_from_query(config_to_query(config)) == (config, [])
    assert config_from_query({"elastic": "1000"})[1]  # out of the slider's range: refused with a note


def test_preview_examples(digits):
    examples = elastic_examples(digits[0, ..., 0], 34.0, count=5, seed=3)
    assert examples.shape == (5, 28, 28) and examples.min() >= 0 and examples.max() <= 1
    assert len({example.tobytes() for example in examples}) == 5


def test_strokes_can_thicken_by_two_pixels_a_side():
    bar = np.zeros((1, 28, 28, 1), np.float32)
    bar[0, 4:24, 13:15] = 1.0  # 2 pixels wide
    widest = RandomStrokeWidth(rate=1.0, thin=0.0, thicken=2.0, seed=0)
    widths = []
    for _ in range(30):
        out = np.asarray(widest(bar, training=True))[0, 14, :, 0]
        widths.append(float(out.sum()))
    assert max(widths) > 4.5  # more than one 3x3 step: past the old limit of 4 pixels
    assert min(widths) >= 2.0 - 1e-5
    assert ModelConfig(stroke=0.5).augmented


def test_a_closing_fills_a_small_loop_and_keeps_the_stroke_s_width():
    ring = np.zeros((1, 28, 28, 1), np.float32)
    ring[0, 8:20, 10:18] = 1.0
    ring[0, 11:17, 13:15] = 0.0  # a loop with a 2-pixel-wide hole
    closed = np.asarray(
        RandomStrokeWidth(rate=1.0, thin=0.0, thicken=2.0, seed=1, close=1.0)(
            np.repeat(ring, 16, axis=0), training=True
        )
    )[..., 0]
    filled = closed[:, 11:17, 13:15].mean(axis=(1, 2))
    assert filled.max() > 0.99  # a thick enough pen fills the hole, and it stays filled
    assert (closed[:, :6].max() < 1e-6) and (closed[:, 22:].max() < 1e-6)  # thinned back: no wider than before
    assert "close" in RandomStrokeWidth(close=0.5).get_config()
