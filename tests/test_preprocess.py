"""Canvas and upload preprocessing: MNIST's size, centring, polarity and the errors users see."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from core import preprocess
from core.preprocess import (
    DIGITS_FORMAT,
    FORMATS,
    MNIST_FORMAT,
    TOO_SMALL_FRACTION,
    ImageError,
    grayscale_to_mnist,
    image_bytes_to_mnist,
    is_dark_on_light,
    read_canvas,
)

CANVAS = 280
INK = 0.05  # output pixels above this count as ink when measuring the digit


def blank_canvas() -> np.ndarray:
    """A black, fully opaque RGBA canvas like the drawing widget's."""
    canvas = np.zeros((CANVAS, CANVAS, 4), dtype=np.uint8)
    canvas[..., 3] = 255
    return canvas


def draw_seven(canvas: np.ndarray, top: int, left: int, height: int, stroke: int = 8) -> np.ndarray:
    """Draw a white "7" (a top bar and a slanted leg) of the given height onto the canvas."""
    width = height * 3 // 5
    canvas[top : top + stroke, left : left + width, :3] = 255
    for row in range(top, top + height):
        col = left + width - stroke - (row - top) * (width - stroke) // (2 * height)
        canvas[row, col : col + stroke, :3] = 255
    return canvas


def ink_extent(image: np.ndarray) -> tuple[int, int]:
    """Height and width of the bounding box of the pixels above INK."""
    rows = np.flatnonzero((image > INK).any(axis=1))
    cols = np.flatnonzero((image > INK).any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def png_bytes(image: Image.Image) -> bytes:
    """Encode a Pillow image as PNG in memory."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def seven_gray(dark_on_light: bool) -> np.ndarray:
    """A 7 on a 200x300 uint8 page, either black on white or white on black."""
    gray = draw_seven(blank_canvas(), top=25, left=100, height=150, stroke=12)[:200, :, 0]
    gray = np.pad(gray, ((0, 0), (0, 300 - gray.shape[1])))
    return 255 - gray if dark_on_light else gray


def test_small_digit_in_a_corner_is_scaled_to_20_and_centred():
    canvas = draw_seven(blank_canvas(), top=5, left=5, height=50, stroke=4)
    image = read_canvas(canvas).image
    assert image.shape == (28, 28)
    height, width = ink_extent(image)
    assert 19 <= height <= 20
    assert width < height
    centre_row, centre_col = ndimage.center_of_mass(image)
    assert abs(centre_row - MNIST_FORMAT.centre) <= 0.5 + 1e-6  # whole-pixel shifts: within half a pixel
    assert abs(centre_col - MNIST_FORMAT.centre) <= 0.5 + 1e-6


def test_same_digit_anywhere_on_the_canvas_gives_the_same_image():
    corner = read_canvas(draw_seven(blank_canvas(), top=5, left=5, height=100)).image
    middle = read_canvas(draw_seven(blank_canvas(), top=120, left=150, height=100)).image
    np.testing.assert_allclose(corner, middle, atol=1e-6)


def test_output_is_float32_in_unit_range_with_max_one():
    image = read_canvas(draw_seven(blank_canvas(), top=40, left=60, height=180, stroke=14)).image
    assert image.dtype == np.float32
    assert image.shape == (28, 28)
    assert image.min() >= 0.0
    assert image.max() == 1.0


def test_wide_bar_keeps_its_aspect_ratio():
    canvas = blank_canvas()
    canvas[100:120, 30:230, :3] = 255  # 200 wide, 20 tall
    image = read_canvas(canvas).image
    height, width = ink_extent(image)
    assert width == 20
    assert 1 <= height <= 3
    assert abs(ndimage.center_of_mass(image)[0] - MNIST_FORMAT.centre) <= 0.5 + 1e-6


def test_tall_thin_bar_stays_thin():
    canvas = blank_canvas()
    canvas[20:260, 100:112, :3] = 255
    height, width = ink_extent(read_canvas(canvas).image)
    assert height == 20
    assert width <= 2


def test_blank_canvas_gives_none():
    assert read_canvas(blank_canvas()).image is None
    assert grayscale_to_mnist(np.zeros((50, 50), dtype=np.float32)) is None


def test_faint_noise_only_gives_none():
    canvas = blank_canvas()
    rng = np.random.default_rng(0)
    canvas[..., :3] = rng.integers(0, 20, size=(CANVAS, CANVAS, 1), dtype=np.uint8)
    assert read_canvas(canvas).image is None


def test_faint_noise_does_not_move_the_digit():
    clean = draw_seven(blank_canvas(), top=60, left=80, height=160, stroke=12)
    noisy = clean.copy()
    rng = np.random.default_rng(1)
    noise = rng.integers(0, 20, size=(CANVAS, CANVAS, 1), dtype=np.uint8)
    noisy[..., :3] = np.maximum(noisy[..., :3], noise)
    np.testing.assert_allclose(read_canvas(noisy).image, read_canvas(clean).image, atol=1e-6)


def test_digits_format_is_8x8_filling_the_rows():
    image = read_canvas(draw_seven(blank_canvas(), top=30, left=40, height=200, stroke=20), DIGITS_FORMAT).image
    assert image.shape == (8, 8)
    assert image.dtype == np.float32
    assert image.max() == 1.0 and image.min() >= 0.0
    assert ink_extent(image)[0] == 8
    assert FORMATS == {"mnist": MNIST_FORMAT, "digits": DIGITS_FORMAT}


def test_grayscale_accepts_uint8_and_float_alike():
    gray = seven_gray(dark_on_light=False)
    np.testing.assert_allclose(grayscale_to_mnist(gray), grayscale_to_mnist(gray / 255.0), atol=1e-5)


def test_ink_fraction():
    assert read_canvas(blank_canvas()).ink_fraction == 0.0
    small = draw_seven(blank_canvas(), top=10, left=10, height=28)
    assert read_canvas(small).ink_fraction == pytest.approx(28 / CANVAS)
    assert read_canvas(small).ink_fraction < TOO_SMALL_FRACTION
    assert read_canvas(draw_seven(blank_canvas(), top=10, left=10, height=200)).ink_fraction > TOO_SMALL_FRACTION
    assert read_canvas(small[..., 0]).ink_fraction == read_canvas(small).ink_fraction  # gray input too


def test_polarity_detection():
    assert is_dark_on_light(seven_gray(dark_on_light=True))
    assert not is_dark_on_light(seven_gray(dark_on_light=False))


def test_dark_on_light_upload_is_inverted_and_matches_light_on_dark():
    dark_on_light = image_bytes_to_mnist(png_bytes(Image.fromarray(seven_gray(dark_on_light=True))))
    light_on_dark = image_bytes_to_mnist(png_bytes(Image.fromarray(seven_gray(dark_on_light=False))))
    expected = grayscale_to_mnist(seven_gray(dark_on_light=False))
    for image in (dark_on_light, light_on_dark):
        assert image.shape == (28, 28) and image.dtype == np.float32
        assert image[0].max() < 0.01 and image[:, 0].max() < 0.01  # background ~0, not inverted into ink
        assert image.max() == 1.0
        assert np.abs(image - expected).max() < 0.05
    assert np.abs(dark_on_light - light_on_dark).max() < 0.05


def test_rgb_jpeg_of_grey_paper_works():
    page = (seven_gray(dark_on_light=True) * 0.6 + 60).astype(np.uint8)  # ink 60, paper 213
    buffer = io.BytesIO()
    Image.fromarray(page).convert("RGB").save(buffer, format="JPEG", quality=85)
    image = image_bytes_to_mnist(buffer.getvalue())
    expected = grayscale_to_mnist(seven_gray(dark_on_light=False))
    assert np.abs(image - expected).mean() < 0.03
    assert image[0].max() < 0.05


def test_transparent_png_with_dark_ink_works():
    ink = seven_gray(dark_on_light=False)  # 255 where the 7 is
    rgba = np.zeros((*ink.shape, 4), dtype=np.uint8)  # black everywhere...
    rgba[..., 3] = ink  # ...but only the 7 is opaque
    image = image_bytes_to_mnist(png_bytes(Image.fromarray(rgba, mode="RGBA")))
    expected = grayscale_to_mnist(ink)
    assert np.abs(image - expected).max() < 0.05


def test_transparent_png_with_light_ink_works():
    ink = seven_gray(dark_on_light=False)
    rgba = np.full((*ink.shape, 4), 255, dtype=np.uint8)  # white everywhere...
    rgba[..., 3] = ink  # ...but only the 7 is opaque
    image = image_bytes_to_mnist(png_bytes(Image.fromarray(rgba, mode="RGBA")))
    assert np.abs(image - grayscale_to_mnist(ink)).max() < 0.05


def test_large_upload_gives_the_same_digit():
    big = np.kron(seven_gray(dark_on_light=True), np.ones((8, 8), dtype=np.uint8))  # 1600x2400
    image = image_bytes_to_mnist(png_bytes(Image.fromarray(big)))
    assert np.abs(image - grayscale_to_mnist(seven_gray(dark_on_light=False))).mean() < 0.02


def test_empty_upload_is_refused():
    with pytest.raises(ImageError, match="empty"):
        image_bytes_to_mnist(b"")


def test_non_image_upload_is_refused():
    with pytest.raises(ImageError, match="not an image"):
        image_bytes_to_mnist(b"not an image")


def test_truncated_png_is_refused():
    data = png_bytes(Image.fromarray(seven_gray(dark_on_light=True)))
    with pytest.raises(ImageError, match="not an image"):
        image_bytes_to_mnist(data[: len(data) // 2])


def test_too_large_upload_is_refused():
    data = png_bytes(Image.fromarray(seven_gray(dark_on_light=True)))
    with pytest.raises(ImageError, match="too large"):
        image_bytes_to_mnist(data, max_bytes=100)


def test_too_many_pixels_is_refused(monkeypatch):
    monkeypatch.setattr(preprocess, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(ImageError, match="too large"):
        image_bytes_to_mnist(png_bytes(Image.new("L", (100, 100), 255)))


def test_decompression_bomb_is_refused(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow refuses images over twice this
    with pytest.raises(ImageError, match="too large"):
        image_bytes_to_mnist(png_bytes(Image.new("L", (100, 100), 255)))


@pytest.mark.parametrize("value", [0, 255, 128])
def test_blank_upload_is_refused(value):
    with pytest.raises(ImageError, match="blank"):
        image_bytes_to_mnist(png_bytes(Image.new("L", (300, 200), value)))


def test_fully_transparent_upload_is_refused():
    with pytest.raises(ImageError, match="blank"):
        image_bytes_to_mnist(png_bytes(Image.new("RGBA", (64, 64), (0, 0, 0, 0))))


def leaning_bar(lean: float) -> np.ndarray:
    """A 200-pixel stroke on a 280x280 canvas whose top leans right by `lean` pixels per row."""
    gray = np.zeros((CANVAS, CANVAS), np.float32)
    for row in range(40, 240):
        col = int(140 + lean * (140 - row))
        gray[row, col - 8 : col + 8] = 1.0
    return gray


def test_the_slant_of_a_stroke_is_measured_in_degrees_both_ways():
    assert preprocess.slant_degrees(leaning_bar(0.0)) == pytest.approx(0.0, abs=0.5)
    assert preprocess.slant_degrees(leaning_bar(0.3)) == pytest.approx(np.degrees(np.arctan(0.3)), abs=1.0)
    assert preprocess.slant_degrees(leaning_bar(-0.3)) == pytest.approx(-np.degrees(np.arctan(0.3)), abs=1.0)


def test_deslanting_stands_a_leaning_digit_upright_and_leaves_an_upright_one():
    upright = grayscale_to_mnist(leaning_bar(0.0), deslant=True)
    np.testing.assert_allclose(upright, grayscale_to_mnist(leaning_bar(0.0)), atol=1e-6)
    straightened = grayscale_to_mnist(leaning_bar(0.4), deslant=True)
    assert (
        abs(preprocess.slant_degrees(straightened))
        < 3
        < abs(preprocess.slant_degrees(grayscale_to_mnist(leaning_bar(0.4))))
    )
    height, width = ink_extent(straightened)
    assert height == 20 and width < 6  # a bar again, scaled like MNIST


def test_reading_a_canvas_once_gives_what_the_separate_steps_give():
    rgba = blank_canvas()
    rgba[..., :3] = (np.stack([leaning_bar(0.3)] * 3, axis=-1) * 255).astype(np.uint8)
    reading = read_canvas(rgba, MNIST_FORMAT, deslant=True)
    np.testing.assert_allclose(reading.image, grayscale_to_mnist(leaning_bar(0.3), deslant=True), atol=1e-5)
    assert reading.ink_fraction == read_canvas(rgba).ink_fraction == pytest.approx(200 / CANVAS, abs=0.01)
    assert reading.lean_degrees == pytest.approx(preprocess.slant_degrees(leaning_bar(0.3)), abs=1e-3)
    assert reading.lean_degrees == pytest.approx(np.degrees(np.arctan(0.3)), abs=1.0)
    blank = read_canvas(blank_canvas())
    assert blank.image is None and blank.ink_fraction == 0.0
