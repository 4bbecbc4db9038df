"""A stroke on the canvas, answered: the canvas image -> the image the model sees -> its ten probabilities, timed.

Draw & predict answers every stroke through `answer_stroke`, and so do the benchmarks and the tests that speak
for it (bench/predict_latency.py, bench/class_load.py, tests/test_class_load.py): what they time and check is
the page's own path, its default options included.
"""

from __future__ import annotations

import base64
import io
import time
from dataclasses import dataclass

import numpy as np

from core.model import model_input_shape, predict_probabilities
from core.preprocess import MNIST_FORMAT, TOO_SMALL_FRACTION, CanvasReading, ImageFormat, read_canvas


@dataclass(frozen=True)
class StrokeOptions:
    """How a drawing is read; the defaults are the page's (chosen on bench/handstyle.py's tuning set)."""

    image_format: ImageFormat = MNIST_FORMAT
    deslant: bool = True  # stand a leaning digit upright
    normalize_width: bool = True  # bring the strokes' width into the training digits' range


@dataclass(frozen=True)
class StrokeAnswer:
    """What the page shows after a stroke."""

    reading: CanvasReading | None  # None before the first stroke
    probabilities: np.ndarray | None  # (10,); None when there is nothing to read (blank, or too small)
    read_ms: float = 0.0  # the canvas image read into the model's image
    model_ms: float = 0.0  # the model's answer

    @property
    def drawn(self) -> bool:
        return self.reading is not None and self.reading.image is not None

    @property
    def too_small(self) -> bool:
        """Ink, but too little of the canvas to be a digit: the page asks for a bigger one."""
        return self.drawn and self.reading.ink_fraction < TOO_SMALL_FRACTION

    @property
    def digit(self) -> int | None:
        return None if self.probabilities is None else int(np.argmax(self.probabilities))


def canvas_rgba(image: str | bytes) -> np.ndarray:
    """The canvas's (H, W, 4) array from its PNG or its data URL, decoded as streamlit-drawable-canvas decodes it
    for `image_data`."""
    from PIL import Image

    if isinstance(image, str):
        image = base64.b64decode(image.split(";base64,", 1)[1])
    return np.asarray(Image.open(io.BytesIO(image)))


def answer_stroke(rgba: np.ndarray | None, model, options: StrokeOptions = StrokeOptions()) -> StrokeAnswer:
    """Read the canvas (None before any stroke) and, when it holds a digit, the model's probabilities."""
    if rgba is None:
        return StrokeAnswer(None, None)
    started = time.perf_counter()
    reading = read_canvas(rgba, options.image_format, options.deslant, options.normalize_width)
    read = time.perf_counter()
    answer = StrokeAnswer(reading, None, (read - started) * 1000)
    if not answer.drawn or answer.too_small:
        return answer
    probabilities = image_probabilities(model, reading.image)
    return StrokeAnswer(reading, probabilities, answer.read_ms, (time.perf_counter() - read) * 1000)


def image_probabilities(model, image: np.ndarray) -> np.ndarray:
    """The model's ten probabilities for one prepared image (a drawing, or an uploaded picture)."""
    return predict_probabilities(model, image.reshape((1, *model_input_shape(model))))[0]
