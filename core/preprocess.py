"""Drawn canvases and uploaded pictures -> the image an MNIST model sees, processed as MNIST's digits were.

MNIST's recipe (LeCun et al.): fit the digit into a 20x20 box keeping its aspect ratio, anti-aliased, then place it
in a 28x28 field so that its centre of mass sits at the field's centre. Measured on the bundled MNIST test set, that
centre is (14.0, 14.0) in array-index coordinates (pixel centres at 0..27), and the ink's longer side is 20 pixels.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps
from scipy import ndimage


@dataclass(frozen=True)
class ImageFormat:
    """Where and how big a model expects its digit."""

    size: int  # side of the square output image
    box: int  # the digit's longer side after scaling
    centre: float  # where its centre of mass lands, in array-index coordinates (row and column)
    stroke_range: tuple[float, float] | None = None  # the training digits' usual stroke widths, output pixels


# MNIST: 20x20 box in a 28x28 field; its centres of mass average (14.0, 14.0), the "size / 2" convention.
# Its strokes (`stroke_width`, 5,000 training digits): 10th-90th percentile 1.3-2.95 px. `normalize_width` brings a
# digit whose width lies outside MNIST_STROKE_RANGE to its nearer end: only hairlines (under 1 px) are thickened;
# 3 px for thick strokes was chosen on bench/handstyle.py's tuning set (seed network and Small CNN: 2.5 and 3.5
# read fewer there, measured before the edge padding in normalize_stroke_width).
MNIST_STROKE_RANGE = (1.0, 3.0)
MNIST_FORMAT = ImageFormat(size=28, box=20, centre=14.0, stroke_range=MNIST_STROKE_RANGE)
# scikit-learn's 8x8 digits: every digit's ink fills all 8 rows (usually cols 1-6), so the box is the whole field;
# their centres of mass average (3.5, 3.6), the "(size - 1) / 2" convention.
DIGITS_FORMAT = ImageFormat(size=8, box=8, centre=3.5)
FORMATS = {"mnist": MNIST_FORMAT, "digits": DIGITS_FORMAT}

INK_THRESHOLD = 0.1  # gray level (0..1) below which a pixel counts as background noise, not ink
TOO_SMALL_FRACTION = 0.15  # CanvasReading.ink_fraction below this: the page hints "draw bigger"
MIN_CONTRAST = 0.1  # an upload whose ink differs from its background by less than this is blank
MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_IMAGE_PIXELS = 40_000_000  # refuse larger pictures before decoding them (decompression bombs)
WORK_SIDE = 1024  # uploads are shrunk to fit this square first; the digit ends up 20 pixels anyway
RESAMPLE = Image.Resampling.LANCZOS  # anti-aliased in both directions; its small overshoot is clipped
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601, as Pillow's "L" mode
WIDTH_ZOOM = 4  # stroke widths are measured and changed with the digit fitted into a box this many times the model's


class ImageError(Exception):
    """An image could not be used; the message is meant for the user."""


@dataclass(frozen=True)
class CanvasReading:
    """One canvas frame read once: what the model gets, how big the ink is, how far it leans."""

    image: np.ndarray | None  # (size, size) float32 in [0, 1]; None when nothing is drawn
    ink_fraction: float  # the ink box's longer side over the canvas's longer side; 0.0 when blank
    lean_degrees: float  # see `slant_degrees`
    stroke_width: float = 0.0  # the drawing's stroke width on the model's image, pixels (`stroke_width`)
    stroke_width_read: float = 0.0  # the width the model reads: changed only with `normalize_width`


def read_canvas(
    rgba: np.ndarray, image_format: ImageFormat = MNIST_FORMAT, deslant: bool = False, normalize_width: bool = False
) -> CanvasReading:
    """(H, W, 4) canvas, light ink on black -> its CanvasReading (gray, ink box and lean computed once a stroke)."""
    gray = _to_gray(rgba)
    box = _ink_box(gray)
    if box is None:
        return CanvasReading(None, 0.0, 0.0)
    digit = _ink(gray[box])
    lean = _degrees(slant(digit))
    image, found, read = _read_digit(digit, image_format, deslant, normalize_width)
    return CanvasReading(image, max(digit.shape) / max(gray.shape), lean, found, read)


def grayscale_to_mnist(
    gray: np.ndarray, image_format: ImageFormat = MNIST_FORMAT, deslant: bool = False, normalize_width: bool = False
) -> np.ndarray | None:
    """(H, W) light-on-dark gray image (uint8, or float in [0, 1]) -> the model's image; None when blank.
    `deslant` first stands a leaning digit upright (see `straighten`); `normalize_width` brings its stroke width
    into the training digits' range (see `normalize_stroke_width`)."""
    gray = _to_unit(gray)
    box = _ink_box(gray)
    return None if box is None else _digit_to_image(_ink(gray[box]), image_format, deslant, normalize_width)


def _digit_to_image(
    digit: np.ndarray, image_format: ImageFormat, deslant: bool, normalize_width: bool = False
) -> np.ndarray | None:
    """The ink's bounding box -> the model's image (MNIST's recipe); None when scaling leaves no ink."""
    return _read_digit(digit, image_format, deslant, normalize_width)[0]


def _read_digit(
    digit: np.ndarray, image_format: ImageFormat, deslant: bool, normalize_width: bool
) -> tuple[np.ndarray | None, float, float]:
    """The ink's bounding box -> (the model's image or None, stroke width found, stroke width read)."""
    if deslant:
        digit = straighten(digit)
    found = read = 0.0
    if normalize_width and image_format.stroke_range is not None:
        digit, found, read = normalize_stroke_width(digit, image_format)
    digit = _fit_box(digit, image_format.box)
    if digit.max() <= 0.0:
        return None, found, read
    image = _place_centred(digit, image_format)
    return (image / image.max()).astype(np.float32), found, read


# ---- Stroke width -------------------------------------------------------------------------------------------


def stroke_width(digit: np.ndarray, box: int = MNIST_FORMAT.box) -> float:
    """How wide a digit's strokes are once it is fitted into a `box`-pixel box, as MNIST's are: twice the median
    depth of the ink's ridge (the pixels deepest across the stroke: local maxima of the distance to the
    background), less one pixel, measured at WIDTH_ZOOM times that size. 0.0 without ink."""
    work = _fit_box(np.asarray(digit, np.float32), box * WIDTH_ZOOM)
    return _ridge_width(_binary(work)) / WIDTH_ZOOM


def normalize_stroke_width(digit: np.ndarray, image_format: ImageFormat = MNIST_FORMAT):
    """Thin a thick digit or thicken a hairline one until its stroke width (`stroke_width`) lies in the format's
    `stroke_range`: (the digit at WIDTH_ZOOM x its box, or unchanged when already in range; the width found; the
    width now). The ink is moved by the signed distance to its edge, anti-aliased: ends shorten as strokes thin,
    and a stroke never thins below one pixel of the model's image."""
    digit = np.asarray(digit, np.float32)
    low, high = image_format.stroke_range or (0.0, np.inf)
    work = _fit_box(digit, image_format.box * WIDTH_ZOOM)
    ink = _binary(work)
    found = _ridge_width(ink) / WIDTH_ZOOM
    target = min(max(found, low), high)
    if found <= 0.0 or target == found:
        return digit, found, found
    ink = np.pad(ink, image_format.box * WIDTH_ZOOM // 4)  # room to thicken; the array's edge is no ink's edge
    inside = ndimage.distance_transform_edt(ink) - 0.5
    outside = ndimage.distance_transform_edt(~ink) - 0.5
    signed = np.where(ink, inside, -outside)  # > 0 inside the ink, 0 on its edge
    # > 0 thins, < 0 thickens, in work pixels; thinning also shortens the digit by the same amount at each end, and
    # the shorter digit is scaled back up to the box: (w - 2s) * side / (side - 2s) = target, solved for s
    side, wide, goal = image_format.box * WIDTH_ZOOM, found * WIDTH_ZOOM, target * WIDTH_ZOOM
    shift = (wide - goal) / (2 * (1 - goal / side))
    ridge_depth = (found * WIDTH_ZOOM + 1) / 2  # a stroke's deepest point lies this far inside
    shift = min(shift, ridge_depth - WIDTH_ZOOM / 2)  # never thinner than one output pixel
    changed = np.clip(signed - shift + 0.5, 0.0, 1.0).astype(np.float32)
    box = _ink_box(changed)
    if box is None:
        return digit, found, found
    changed = changed[box]
    return changed, found, stroke_width(changed, image_format.box)


def _binary(gray: np.ndarray) -> np.ndarray:
    """Ink where the gray level is at least half the brightest."""
    peak = float(gray.max()) if gray.size else 0.0
    return gray >= 0.5 * peak if peak > 0 else np.zeros(gray.shape, bool)


def _ridge_width(ink: np.ndarray) -> float:
    """A binary stroke's width in pixels: 2 x the median distance-to-background of its ridge pixels, less 1
    (a stroke n pixels wide has its centre (n + 1) / 2 pixels from the background)."""
    if not ink.any():
        return 0.0
    depth = ndimage.distance_transform_edt(np.pad(ink, 1))[1:-1, 1:-1]
    ridge = ink & (depth >= ndimage.maximum_filter(depth, size=3))
    return float(max(2.0 * np.median(depth[ridge]) - 1.0, 1.0))


def slant(digit: np.ndarray) -> float:
    """How far the ink leans: the horizontal shift per row that the second-order moments mu11 / mu02 give
    (positive: the top leans right). 0 for an upright digit."""
    return _centre_row_and_lean(digit)[1]


def _centre_row_and_lean(digit: np.ndarray) -> tuple[float, float]:
    """The ink's centre-of-mass row and its lean (see `slant`). Moments in float64 as matrix-vector products:
    ~10x faster than index grids on a full-size canvas crop."""
    ink = np.asarray(digit, np.float64)
    row_mass, col_mass = ink.sum(axis=1), ink.sum(axis=0)
    mass = float(row_mass.sum())
    if mass <= 0:
        return 0.0, 0.0
    rows, cols = np.arange(ink.shape[0], dtype=np.float64), np.arange(ink.shape[1], dtype=np.float64)
    row0 = float(row_mass @ rows / mass)
    rows, cols = rows - row0, cols - col_mass @ cols / mass
    spread = float(row_mass @ rows**2)
    return row0, 0.0 if spread <= 0 else float(-(rows @ (ink @ cols)) / spread)


def slant_degrees(gray_or_rgba: np.ndarray) -> float:
    """The lean of a drawing, in degrees from upright (positive: leaning right)."""
    return _degrees(slant(_ink(_to_gray(gray_or_rgba))))


def straighten(digit: np.ndarray) -> np.ndarray:
    """Shear the rows sideways until the ink's mu11 moment is zero: upright, as in the classic MNIST papers
    (measured in bench/handwriting.py: slanted hand-style digits read 2 to 9 points better)."""
    row0, lean = _centre_row_and_lean(digit)
    if abs(lean) < 1e-3:
        return digit
    pad = int(np.ceil(abs(lean) * digit.shape[0])) + 1  # the widest sideways shift, so no ink is cut off
    # the output pixel (r, c) reads the input at (r, c - pad - lean * (r - row0))
    sheared = ndimage.affine_transform(
        digit,
        np.array([[1.0, 0.0], [-lean, 1.0]]),
        offset=(0.0, -pad + lean * row0),
        output_shape=(digit.shape[0], digit.shape[1] + 2 * pad),
        order=1,
    )
    box = _ink_box(sheared)
    return sheared[box].astype(np.float32) if box is not None else digit


def is_dark_on_light(gray: np.ndarray) -> bool:
    """True when the background (the border's median) is brighter than the image's mean: dark ink on light."""
    gray = _to_unit(gray)
    return bool(np.median(_border(gray)) > gray.mean())


def image_bytes_to_mnist(
    data: bytes,
    image_format: ImageFormat = MNIST_FORMAT,
    max_bytes: int = MAX_IMAGE_BYTES,
    deslant: bool = False,
    normalize_width: bool = False,
) -> np.ndarray:
    """An uploaded PNG/JPEG/... of any size and polarity -> the model's image; ImageError when it can't be used."""
    if not data:
        raise ImageError("The file is empty.")
    if len(data) > max_bytes:
        raise ImageError(f"The file is too large ({_size_text(len(data))}); the limit is {_size_text(max_bytes)}.")
    gray = _flatten_alpha(_decode_rgba(data))
    if is_dark_on_light(gray):
        gray = 1.0 - gray
    gray = _stretch_contrast(gray)
    image = None if gray is None else grayscale_to_mnist(gray, image_format, deslant, normalize_width)
    if image is None:
        raise ImageError("The image looks blank: no digit found.")
    return image


def _decode_rgba(data: bytes) -> np.ndarray:
    """Image file bytes -> (H, W, 4) float32 RGBA in [0, 1], upright and at most WORK_SIDE pixels a side."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise ImageError(
                    f"The picture is too large ({image.width}x{image.height} pixels); "
                    f"the limit is {MAX_IMAGE_PIXELS // 1_000_000} megapixels."
                )
            image = ImageOps.exif_transpose(image).convert("RGBA")
            image.thumbnail((WORK_SIDE, WORK_SIDE), RESAMPLE)
            return np.asarray(image, dtype=np.float32) / 255.0
    except ImageError:
        raise
    except Image.DecompressionBombError as error:
        raise ImageError("The picture is too large to open safely.") from error
    except Exception as error:  # Pillow's decoders raise many types (OSError, ValueError, SyntaxError, ...)
        raise ImageError("The file is not an image that can be read (try a PNG or JPEG).") from error


def _flatten_alpha(rgba: np.ndarray) -> np.ndarray:
    """RGBA in [0, 1] -> gray, transparent parts filled with white behind dark ink, black behind light ink."""
    luma = rgba[..., :3] @ LUMA_WEIGHTS
    alpha = rgba[..., 3]
    if alpha.min() >= 1.0:
        return luma
    ink_luma = float((luma * alpha).sum() / max(float(alpha.sum()), 1e-6))
    background = 1.0 if ink_luma < 0.5 else 0.0
    return luma * alpha + background * (1.0 - alpha)


def _stretch_contrast(gray: np.ndarray) -> np.ndarray | None:
    """Light-on-dark gray -> background at 0 and brightest ink at 1; None when there is no contrast."""
    background = float(np.median(_border(gray)))
    top = float(gray.max())
    if top - background < MIN_CONTRAST:
        return None
    return np.clip((gray - background) / (top - background), 0.0, 1.0).astype(np.float32)


def _to_gray(rgba_or_gray: np.ndarray) -> np.ndarray:
    """(H, W), (H, W, 3) or (H, W, 4) image -> (H, W) float32 gray in [0, 1]; alpha is ignored."""
    image = np.asarray(rgba_or_gray)
    if image.ndim == 2:
        return _to_unit(image)
    if image.ndim == 3 and image.shape[2] in (3, 4):
        if image.dtype == np.uint8:  # a canvas: scale inside the weights, one pass per channel (~0.3 ms, not 1.4)
            weights = LUMA_WEIGHTS / np.float32(255)
            return weights[0] * image[..., 0] + weights[1] * image[..., 1] + weights[2] * image[..., 2]
        red, green, blue = (_to_unit(image[..., channel]) for channel in range(3))
        return LUMA_WEIGHTS[0] * red + LUMA_WEIGHTS[1] * green + LUMA_WEIGHTS[2] * blue
    raise ValueError(f"expected an (H, W), (H, W, 3) or (H, W, 4) image, got shape {image.shape}")


def _to_unit(image: np.ndarray) -> np.ndarray:
    """uint8 0..255 -> float32 0..1; floats are taken as 0..1 and clipped."""
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    return np.clip(image.astype(np.float32), 0.0, 1.0)


def _ink_box(gray: np.ndarray) -> tuple[slice, slice] | None:
    """Row and column slices of the pixels brighter than INK_THRESHOLD; None when there are none."""
    ink = gray > INK_THRESHOLD
    rows = np.flatnonzero(ink.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(ink.any(axis=0))
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def _ink(gray: np.ndarray) -> np.ndarray:
    """Gray levels at or below INK_THRESHOLD (background noise) set to 0, as float32."""
    return np.where(gray > INK_THRESHOLD, gray, 0.0).astype(np.float32)


def _degrees(lean: float) -> float:
    """A horizontal shift per row (see `slant`) as an angle from upright."""
    return float(np.degrees(np.arctan(lean)))


def _fit_box(digit: np.ndarray, box: int) -> np.ndarray:
    """Scale so the longer side is `box` pixels, keeping the aspect ratio, anti-aliased."""
    height, width = digit.shape
    scale = box / max(height, width)
    new_size = (max(1, round(width * scale)), max(1, round(height * scale)))  # Pillow wants (width, height)
    scaled = Image.fromarray(digit).resize(new_size, RESAMPLE)  # float32 -> Pillow's "F" mode
    return np.clip(np.asarray(scaled, dtype=np.float32), 0.0, None)


def _place_centred(digit: np.ndarray, image_format: ImageFormat) -> np.ndarray:
    """Paste the digit into an empty field, shifted by whole pixels to put its centre of mass at the centre."""
    size = image_format.size
    height, width = digit.shape
    centre_row, centre_col = ndimage.center_of_mass(digit)
    top = min(max(round(image_format.centre - centre_row), 0), size - height)  # clamped: the ink stays inside
    left = min(max(round(image_format.centre - centre_col), 0), size - width)
    field = np.zeros((size, size), dtype=np.float32)
    field[top : top + height, left : left + width] = digit
    return field


def _border(gray: np.ndarray) -> np.ndarray:
    """The outermost ring of pixels, flattened."""
    return np.concatenate([gray[0], gray[-1], gray[1:-1, 0], gray[1:-1, -1]])


def _size_text(num_bytes: int) -> str:
    """A byte count for people: '512 bytes', '2.5 MB'."""
    if num_bytes < 1024:
        return f"{num_bytes} bytes"
    if num_bytes < 1024 * 1024:
        return f"{num_bytes / 1024:.0f} KB"
    return f"{num_bytes / (1024 * 1024):.1f} MB"
