"""Data augmentation inside the model: random rotation, shift, zoom, shear and stroke width.

Keras preprocessing layers in front of the network act only while it trains (`training=True`) and are saved
with it, so a downloaded model carries them and inference sees the image unchanged.
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="digitlab")
class RandomStrokeWidth(keras.layers.Layer):
    """Thickens (dilates) or thins (erodes) the strokes of a random share of the images, by one pixel.

    People draw with pens of every width; MNIST's strokes are about two pixels wide. Only while training."""

    def __init__(self, rate: float = 0.5, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate
        self.seed = seed
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training or self.rate <= 0:
            return inputs
        thicker = ops.max_pool(inputs, pool_size=3, strides=1, padding="same")
        thinner = -ops.max_pool(-inputs, pool_size=3, strides=1, padding="same")
        batch = ops.shape(inputs)[0]
        draw = keras.random.uniform((batch, 1, 1, 1), seed=self.generator)
        changed = ops.where(draw < self.rate / 2, thicker, ops.where(draw < self.rate, thinner, inputs))
        return changed

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}
