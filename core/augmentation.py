"""Data augmentation inside the model: random rotation, shift, zoom, shear, elastic distortion and stroke width.

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

ELASTIC_SIGMA = 4.0  # pixels: Simard et al.'s smoothing for 28x28 digits
# The stroke-width range, in 3x3 steps (one step moves an edge by a pixel): up to two pixels thicker on each side,
# enough for a 40-pixel pen on a small digit (bench/handstyle.py's heaviest strokes, 5-6 pixels on 28x28).
STROKE_THIN, STROKE_THICKEN = 0.6, 2.0
STROKE_CLOSE = 0.5  # share of the thickened images thinned back (a closing): see RandomStrokeWidth


@keras.saving.register_keras_serializable(package="digitlab")
class RandomStrokeWidth(keras.layers.Layer):
    """Thickens (grey dilation) or thins (grey erosion) the strokes of a random share of the images.

    People draw with pens of every width; MNIST's strokes are about two pixels wide. Each image's amount is drawn
    from [-thin, thicken]: its whole part is how many 3x3 steps, its fraction blends in the last. A `close` share of
    the thickened images is then thinned back as much (a closing): the loops and gaps a thick pen filled stay filled
    at the usual width, as a thick digit looks once the preprocessing thinned it. Only while training.
    """

    def __init__(
        self,
        rate: float = 0.5,
        thin: float = 0.6,
        thicken: float = 1.0,
        seed: int | None = None,
        close: float = 0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.rate, self.thin, self.thicken, self.seed, self.close = rate, thin, thicken, seed, close
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _steps(self, images, sign, size):
        """`size` 3x3 steps of dilation (sign +1) or erosion (sign -1), per image."""
        changed, before = images, images
        for step in range(math.ceil(max(self.thin, self.thicken, 1.0))):  # one 3x3 step per pixel of each edge
            moved = sign * ops.max_pool(sign * before, 3, strides=1, padding="same")
            changed = changed + ops.clip(size - step, 0.0, 1.0) * (moved - before)
            before = moved
        return changed

    def call(self, images, training=False):
        if not training:
            return images
        shape = (ops.shape(images)[0], 1, 1, 1)
        amount = keras.random.uniform(shape, -self.thin, self.thicken, seed=self.seed_generator)
        chosen = keras.random.uniform(shape, seed=self.seed_generator) < self.rate
        amount = ops.where(chosen, amount, 0.0)
        sign = ops.where(amount < 0, -1.0, 1.0)  # +1: the 3x3 maximum (dilate), -1: the 3x3 minimum (erode)
        changed = self._steps(images, sign, ops.abs(amount))
        if self.close:
            closing = (amount > 0) & (keras.random.uniform(shape, seed=self.seed_generator) < self.close)
            changed = ops.where(closing, self._steps(changed, -1.0, ops.abs(amount)), changed)
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
            "close": self.close,
        }


@keras.saving.register_keras_serializable(package="digitlab")
class RandomElastic(keras.layers.Layer):
    """Elastic distortion (Simard, Steinkraus and Platt, 2003): every pixel moves by a random displacement field,
    uniform noise in [-1, 1] smoothed by a Gaussian of width `sigma` pixels and scaled by `alpha` pixels, as a hand
    wobbles. Their MNIST setting: sigma 4, alpha 34. Only while training; `alpha` 0 leaves images as they are."""

    def __init__(self, alpha: float = 34.0, sigma: float = 4.0, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.alpha, self.sigma, self.seed = float(alpha), float(sigma), seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        radius = max(1, math.ceil(2 * self.sigma))
        taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / max(self.sigma, 1e-3)) ** 2)
        self.taps = (taps / taps.sum()).astype(np.float32)

    def call(self, images, training=False):
        if not training or self.alpha == 0:
            return images
        shape = ops.shape(images)
        batch, height, width = shape[0], shape[1], shape[2]
        noise = keras.random.uniform((batch, height, width, 2), -1.0, 1.0, seed=self.seed_generator)
        taps = ops.convert_to_tensor(self.taps)
        down = ops.tile(ops.reshape(taps, (-1, 1, 1, 1)), (1, 1, 2, 1))  # one Gaussian per field: rows, then columns
        across = ops.tile(ops.reshape(taps, (1, -1, 1, 1)), (1, 1, 2, 1))
        field = ops.depthwise_conv(ops.depthwise_conv(noise, down, padding="same"), across, padding="same")
        rows = ops.reshape(ops.arange(height, dtype="float32"), (1, -1, 1)) + self.alpha * field[..., 0]
        cols = ops.reshape(ops.arange(width, dtype="float32"), (1, 1, -1)) + self.alpha * field[..., 1]
        moved = _bilinear(images, rows, cols)
        return ops.cast(moved, images.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "sigma": self.sigma, "seed": self.seed}


def _bilinear(images, rows, cols):
    """Each image (B, H, W, C) read at fractional (rows, cols) of shape (B, H, W), bilinear; black outside it."""
    shape = ops.shape(images)
    batch, height, width = shape[0], shape[1], shape[2]
    flat = ops.reshape(images, (-1, shape[3]))
    base = ops.reshape(ops.arange(batch) * height * width, (-1, 1, 1))
    row0, col0 = ops.floor(rows), ops.floor(cols)
    moved = 0.0
    for row, row_weight in ((row0, 1.0 - (rows - row0)), (row0 + 1.0, rows - row0)):
        for col, col_weight in ((col0, 1.0 - (cols - col0)), (col0 + 1.0, cols - col0)):
            inside = (
                (row >= 0)
                & (row <= ops.cast(height - 1, "float32"))
                & (col >= 0)
                & (col <= ops.cast(width - 1, "float32"))
            )
            r = ops.cast(ops.clip(row, 0, ops.cast(height - 1, "float32")), "int32")
            c = ops.cast(ops.clip(col, 0, ops.cast(width - 1, "float32")), "int32")
            weight = ops.where(inside, row_weight * col_weight, 0.0)
            moved = moved + ops.take(flat, base + r * width + c, axis=0) * ops.expand_dims(weight, -1)
    return moved


def augmentation_layers(config: ModelConfig, input_shape: tuple[int, ...]) -> list:
    """Keras preprocessing layers for the config's augmentation (active only while training); none when it is off.
    A dense network's flat input is shaped back into an image for them, then flattened again."""
    if not config.augmented:
        return []
    side = round(math.sqrt(math.prod(input_shape)))
    fill = {"fill_mode": "constant", "fill_value": 0.0}  # the background is black
    layers = [keras.layers.Reshape((side, side, 1), name="as_image")] if len(input_shape) == 1 else []
    if config.elastic:
        layers.append(RandomElastic(config.elastic, ELASTIC_SIGMA, seed=config.seed, name="random_elastic"))
    if config.shear:
        layers.append(
            keras.layers.RandomShear(x_factor=(0.0, config.shear), seed=config.seed, name="random_shear", **fill)
        )  # (0, s): a symmetric range that saves and loads
    if config.rotation:
        layers.append(
            keras.layers.RandomRotation(config.rotation / 360, seed=config.seed, name="random_rotation", **fill)
        )
    if config.zoom:
        layers.append(keras.layers.RandomZoom(config.zoom, seed=config.seed, name="random_zoom", **fill))
    if config.shift:
        layers.append(
            keras.layers.RandomTranslation(config.shift, config.shift, seed=config.seed, name="random_shift", **fill)
        )
    if config.stroke:
        layers.append(
            RandomStrokeWidth(
                config.stroke,
                STROKE_THIN,
                STROKE_THICKEN,
                seed=config.seed,
                close=STROKE_CLOSE,
                name="random_stroke_width",
            )
        )
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


def elastic_examples(image: np.ndarray, alpha: float, count: int = 8, seed: int | None = None) -> np.ndarray:
    """One (h, w) digit in [0, 1] under `count` elastic distortions of strength `alpha`: (count, h, w)."""
    batch = np.repeat(np.asarray(image, np.float32)[None, ..., None], count, axis=0)
    moved = RandomElastic(alpha, ELASTIC_SIGMA, seed=seed)(batch, training=True)
    return np.clip(np.asarray(moved)[..., 0], 0.0, 1.0)
