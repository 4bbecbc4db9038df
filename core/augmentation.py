"""Data augmentation inside the model: random rotation, shift, zoom, shear and stroke width.

Keras preprocessing layers in front of the network act only while it trains and are saved with it, so a
downloaded model carries them. (Called directly, Keras 3's random layers default to training mode: Digit Lab
always calls models with training=False outside `fit`.)
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from core.config import ModelConfig


@keras.saving.register_keras_serializable(package="digitlab")
class RandomStrokeWidth(keras.layers.Layer):
    """Thickens (grey dilation) or thins (grey erosion) the strokes of a random share of the images.

    People draw with pens of every width; MNIST's strokes are about two pixels wide. Only while training."""

    def __init__(self, rate: float = 0.5, thin: float = 0.6, thicken: float = 1.0, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.rate, self.thin, self.thicken, self.seed = rate, thin, thicken, seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=False):
        if not training:
            return images
        shape = (ops.shape(images)[0], 1, 1, 1)
        amount = keras.random.uniform(shape, -self.thin, self.thicken, seed=self.seed_generator)
        chosen = keras.random.uniform(shape, seed=self.seed_generator) < self.rate
        amount = ops.where(chosen, amount, 0.0)
        sign = ops.where(amount < 0, -1.0, 1.0)  # +1: the 3x3 maximum (dilate), -1: the 3x3 minimum (erode)
        moved = sign * ops.max_pool(sign * images, 3, strides=1, padding="same")
        changed = images + ops.abs(amount) * (moved - images)
        peak = ops.max(changed, axis=(1, 2, 3), keepdims=True)
        return changed / ops.maximum(peak, 1e-3)  # the brightest ink back at 1, as the preprocessing leaves it

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "rate": self.rate,
            "thin": self.thin,
            "thicken": self.thicken,
            "seed": self.seed,
        }


def augmentation_layers(config: ModelConfig, input_shape: tuple[int, ...]) -> list:
    """Keras preprocessing layers for the config's augmentation (active only while training); none when it is off.
    A dense network's flat input is shaped back into an image for them, then flattened again."""
    if not config.augmented:
        return []
    side = round(math.sqrt(math.prod(input_shape)))
    fill = {"fill_mode": "constant", "fill_value": 0.0}  # the background is black
    layers = [keras.layers.Reshape((side, side, 1), name="as_image")] if len(input_shape) == 1 else []
    if config.shear:
        layers.append(keras.layers.RandomShear(x_factor=(0.0, config.shear), seed=config.seed, name="random_shear",
                                               **fill))  # fmt: skip  # (0, s): a symmetric range that saves and loads
    if config.rotation:
        layers.append(keras.layers.RandomRotation(config.rotation / 360, seed=config.seed, name="random_rotation",
                                                  **fill))  # fmt: skip
    if config.zoom:
        layers.append(keras.layers.RandomZoom(config.zoom, seed=config.seed, name="random_zoom", **fill))
    if config.shift:
        layers.append(keras.layers.RandomTranslation(config.shift, config.shift, seed=config.seed,
                                                     name="random_shift", **fill))  # fmt: skip
    if config.stroke:
        layers.append(RandomStrokeWidth(config.stroke, seed=config.seed, name="random_stroke_width"))
    if len(input_shape) == 1:
        layers.append(keras.layers.Flatten(name="as_vector"))
    return layers


def augmented_examples(config: ModelConfig, image: np.ndarray, count: int = 16) -> np.ndarray:
    """One (h, w) digit in [0, 1] as the training would see it `count` times: (count, h, w)."""
    layers = augmentation_layers(config, image.shape + (1,))
    batch = np.repeat(np.asarray(image, np.float32)[None, ..., None], count, axis=0)
    for layer in layers:
        batch = layer(batch, training=True)
    return np.clip(np.asarray(batch)[..., 0], 0.0, 1.0)
