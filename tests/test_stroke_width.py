"""core.preprocess: a digit's stroke width measured on synthetic strokes of known width, and brought into MNIST's
range (thinned, thickened, or left alone) with the width found reported."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from core.preprocess import (
    DIGITS_FORMAT,
    MNIST_FORMAT,
    grayscale_to_mnist,
    normalize_stroke_width,
    read_canvas,
    stroke_width,
)

LOW, HIGH = MNIST_FORMAT.stroke_range


def strokes(width: int, shape: str = "bar", height: int = 200) -> np.ndarray:
    """A light-on-dark uint8 canvas: a stroke `width` pixels wide drawn `height` pixels tall (a bar, a ring or
    an X), cropped to its ink."""
    image = Image.new("L", (280, 280), 0)
    draw = ImageDraw.Draw(image)
    top, bottom = 140 - height // 2, 140 + height // 2
    if shape == "bar":
        draw.rectangle((140 - width // 2, top, 140 - width // 2 + width - 1, bottom - 1), fill=255)
    elif shape == "ring":
        draw.ellipse((140 - height // 2, top, 140 + height // 2, bottom), outline=255, width=width)
    else:
        draw.line([(140 - height // 3, top), (140 + height // 3, bottom)], fill=255, width=width)
        draw.line([(140 - height // 3, bottom), (140 + height // 3, top)], fill=255, width=width)
    gray = np.asarray(image)
    rows, cols = np.flatnonzero(gray.any(axis=1)), np.flatnonzero(gray.any(axis=0))
    return gray[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].astype(np.float32) / 255


@pytest.mark.parametrize("shape", ["bar", "ring", "x"])
@pytest.mark.parametrize("width", [10, 20, 30, 40])
def test_known_widths_are_measured_on_the_model_s_scale(shape, width):
    digit = strokes(width, shape)
    expected = width * MNIST_FORMAT.box / max(digit.shape)  # the digit's longer side becomes 20 pixels
    assert stroke_width(digit) == pytest.approx(expected, abs=0.45)


def test_a_blank_digit_has_no_width():
    assert stroke_width(np.zeros((30, 30), np.float32)) == 0.0


def test_a_thick_digit_is_thinned_into_mnist_s_range():
    digit = strokes(40, "x", height=120)  # a 40-pixel pen on a small digit: about 6.7 px on the 28x28 image
    changed, found, now = normalize_stroke_width(digit)
    assert found > HIGH + 2
    assert now == pytest.approx(HIGH, abs=0.5)
    assert stroke_width(changed) == pytest.approx(now, abs=0.3)


def test_a_hairline_is_thickened():
    digit = strokes(2, "ring", height=250)  # 0.16 px on the 28x28 image
    changed, found, now = normalize_stroke_width(digit)
    assert found < LOW and now >= LOW - 0.3


def test_a_digit_in_range_is_left_exactly_as_it_was():
    digit = strokes(20, "x")
    assert LOW <= stroke_width(digit) <= HIGH
    changed, found, now = normalize_stroke_width(digit)
    assert changed is digit or np.array_equal(changed, digit)
    assert found == now
    np.testing.assert_array_equal(grayscale_to_mnist(digit, normalize_width=True), grayscale_to_mnist(digit))


def test_read_canvas_reports_the_width_found_and_read():
    canvas = np.zeros((280, 280), np.uint8)
    canvas[60:220, 120:160] = 255  # a 1 drawn with a 40-pixel pen: 5 px on the 28x28 image
    plain = read_canvas(canvas)
    assert plain.stroke_width == 0.0  # measured only when asked
    reading = read_canvas(canvas, normalize_width=True)
    assert reading.stroke_width == pytest.approx(5.0, abs=0.4)
    assert reading.stroke_width_read <= HIGH + 0.3
    assert (reading.image > 0.5).sum() < (plain.image > 0.5).sum()  # less ink: thinner
    assert reading.image.shape == (28, 28) and reading.image.max() == pytest.approx(1.0)


def test_formats_without_a_known_range_are_left_alone():
    canvas = np.zeros((280, 280), np.uint8)
    canvas[60:220, 120:160] = 255
    np.testing.assert_array_equal(
        read_canvas(canvas, DIGITS_FORMAT, normalize_width=True).image, read_canvas(canvas, DIGITS_FORMAT).image
    )
