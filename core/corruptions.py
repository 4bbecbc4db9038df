"""Everyday damage to a digit: the fifteen corruptions of MNIST-C (Mu and Gilmer, 2019), written here from the
paper's descriptions, since the data set itself cannot be downloaded here.

Each corruption is a pure function of an image ((h, w) in [0, 1]), a severity from 1 to 5 and a NumPy random
generator; with the same seed it returns the same image. `PAPER_SEVERITY` is the one severity MNIST-C used for each
(for the four it gives no scale to, the level that draws what the paper draws). `corrupted_test_set` builds the
fixed set the robustness report reads: the first test digits, each corrupted once by every corruption, at the
paper's severity, with a seed per image so that any slice of it is the same as the whole set's.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

SEVERITIES = (1, 2, 3, 4, 5)
REPORT_DIGITS = 2_000  # the first test digits the robustness report reads under each corruption
REPORT_SEED = 0
CENTER = 13.5  # the middle of a 28x28 image, which shear, scale and rotate keep in place


@dataclass(frozen=True)
class Corruption:
    name: str
    title: str
    explanation: str  # what it does, for the page
    function: Callable[[np.ndarray, int, np.random.Generator], np.ndarray]
    paper_severity: int


def _level(values: tuple, severity: int):
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be 1 to 5, not {severity!r}")
    return values[severity - 1]


def shot_noise(image, severity, rng):
    """Photon counting: each pixel's brightness times c becomes a Poisson count, divided by c again."""
    c = _level((60, 25, 12, 5, 3), severity)
    return rng.poisson(image * c) / c


def impulse_noise(image, severity, rng):
    """Salt and pepper: a share of the pixels turned fully white or fully black, half and half."""
    amount = _level((0.03, 0.06, 0.09, 0.17, 0.27), severity)
    hit = rng.random(image.shape) < amount
    salt = rng.random(image.shape) < 0.5
    return np.where(hit, salt.astype(image.dtype), image)


def glass_blur(image, severity, rng):
    """Frosted glass: blurred, each pixel swapped with a near neighbour, blurred again."""
    sigma, delta, rounds = _level(((0.7, 1, 2), (0.9, 2, 1), (1.0, 2, 3), (1.1, 3, 2), (1.5, 4, 2)), severity)
    blurred = ndimage.gaussian_filter(image, sigma)
    height, width = blurred.shape
    for _ in range(rounds):
        for row in range(height - delta - 1, delta, -1):
            for col in range(width - delta - 1, delta, -1):
                if rng.random() < 0.5:
                    d_row, d_col = rng.integers(-delta, delta, size=2)
                    other = row + d_row, col + d_col
                    blurred[row, col], blurred[other] = blurred[other], blurred[row, col]
    return ndimage.gaussian_filter(blurred, sigma)


def motion_blur(image, severity, rng):
    """A shaken camera: each pixel smeared along one direction (within 45 degrees of horizontal), fading with a
    Gaussian of the distance, as ImageMagick's motion blur does."""
    radius, sigma = _level(((10, 3), (15, 5), (15, 8), (15, 12), (20, 15)), severity)
    angle = np.deg2rad(rng.uniform(-45, 45))
    size = 2 * radius + 1
    kernel = np.zeros((size, size))
    for step in np.arange(0, radius + 1, 0.5):
        weight = np.exp(-(step**2) / (2 * sigma**2))
        row, col = radius + step * np.sin(angle), radius + step * np.cos(angle)
        r0, c0 = int(np.floor(row)), int(np.floor(col))
        fr, fc = row - r0, col - c0
        for dr, dc, share in (
            (0, 0, (1 - fr) * (1 - fc)),
            (1, 0, fr * (1 - fc)),
            (0, 1, (1 - fr) * fc),
            (1, 1, fr * fc),
        ):
            if r0 + dr < size and c0 + dc < size:
                kernel[r0 + dr, c0 + dc] += weight * share
    return ndimage.convolve(image, kernel / kernel.sum(), mode="constant")


def _warp(image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """The image seen through `matrix`, which maps an output pixel's (row, col), about the centre, to where it is
    read from in the input (bilinear, black outside)."""
    center = np.array([CENTER, CENTER]) * np.array(image.shape) / 28
    return ndimage.affine_transform(image, matrix, offset=center - matrix @ center, order=1, mode="constant")


def shear(image, severity, rng):
    """Slanted: rows slide sideways in proportion to their height, leaning either way."""
    factor = _level((0.2, 0.4, 0.6, 0.8, 1.0), severity) * rng.choice((-1, 1))
    return _warp(image, np.array([[1.0, 0.0], [factor, 1.0]]))


def scale(image, severity, rng):
    """Smaller: the digit shrunk about the centre to 90% ... 50% of its size."""
    size = _level((0.9, 0.8, 0.7, 0.6, 0.5), severity)
    return _warp(image, np.eye(2) / size)


def rotate(image, severity, rng):
    """Turned about the centre by 0.2 ... 1 radian (11 ... 57 degrees), either way."""
    angle = _level((0.2, 0.4, 0.6, 0.8, 1.0), severity) * rng.choice((-1, 1))
    cos, sin = np.cos(angle), np.sin(angle)
    return _warp(image, np.array([[cos, -sin], [sin, cos]]))


def brightness(image, severity, rng):
    """A brighter picture: every pixel, the background too, raised by 0.1 ... 0.5 (a grey image's HSV value)."""
    return image + _level((0.1, 0.2, 0.3, 0.4, 0.5), severity)


def translate(image, severity, rng):
    """Moved off centre by 1 ... 5 pixels across and 1 ... 5 down or up, in a random diagonal direction."""
    distance = _level((1, 2, 3, 4, 5), severity)
    d_row, d_col = distance * rng.choice((-1, 1), size=2)
    moved = np.zeros_like(image)
    height, width = image.shape
    moved[max(d_row, 0) : height + min(d_row, 0), max(d_col, 0) : width + min(d_col, 0)] = image[
        max(-d_row, 0) : height + min(-d_row, 0), max(-d_col, 0) : width + min(-d_col, 0)
    ]
    return moved


def stripe(image, severity, rng):
    """Inverted bands: the left and right columns turned negative (7 columns each side at severity 3)."""
    columns = _level((3, 5, 7, 9, 11), severity)
    striped = image.copy()
    striped[:, :columns] = 1 - striped[:, :columns]
    striped[:, -columns:] = 1 - striped[:, -columns:]
    return striped


def _plasma(size: int, decay: float, rng: np.random.Generator) -> np.ndarray:
    """A cloud: random values on ever finer grids, each finer one weaker by `decay`, smoothed up and summed;
    in [0, 1]."""
    cloud, amplitude, cells = np.zeros((size, size)), 1.0, 2
    while cells <= size:
        coarse = rng.uniform(-1, 1, (cells + 1, cells + 1))
        cloud += amplitude * ndimage.zoom(coarse, size / (cells + 1), order=1)[:size, :size]
        amplitude, cells = amplitude / decay, cells * 2
    cloud -= cloud.min()
    return cloud / max(cloud.max(), 1e-12)


def fog(image, severity, rng):
    """A fog bank: a cloud added over the whole picture, then everything dimmed back to the digit's brightest."""
    thickness, decay = _level(((1.5, 2.0), (2.0, 2.0), (2.5, 1.7), (2.5, 1.5), (3.0, 1.4)), severity)
    brightest = image.max()
    fogged = image + thickness * _plasma(32, decay, rng)[: image.shape[0], : image.shape[1]]
    return fogged * brightest / (brightest + thickness)


def spatter(image, severity, rng):
    """Mud splashes: blobs of dark grey (63 of 255) that hide what lies under them."""
    mean, spread, blur, threshold, edge = _level(
        (
            (0.65, 0.3, 4, 0.69, 0.6),
            (0.65, 0.3, 3, 0.68, 0.6),
            (0.65, 0.3, 2, 0.68, 0.5),
            (0.65, 0.3, 1, 0.65, 1.5),
            (0.67, 0.4, 1, 0.65, 1.5),
        ),
        severity,
    )
    liquid = ndimage.gaussian_filter(rng.normal(mean, spread, image.shape), blur)
    mud = ndimage.gaussian_filter((liquid > threshold).astype(float), edge)
    mud[mud < 0.8] = 0
    return image * (1 - mud) + 63 / 255 * mud


def _line(shape: tuple[int, int], start: tuple[float, float], end: tuple[float, float]) -> np.ndarray:
    """A stroke between two (row, col) points, about two pixels wide, full in its middle and fading at its sides."""
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]].astype(float)
    (r0, c0), (r1, c1) = start, end
    length = max(np.hypot(r1 - r0, c1 - c0), 1e-9)
    along = ((rows - r0) * (r1 - r0) + (cols - c0) * (c1 - c0)) / length
    across = np.abs((rows - r0) * (c1 - c0) - (cols - c0) * (r1 - r0)) / length
    ink = np.clip(np.log(np.maximum(1 - across / 2.3, 1e-9)) + 1, 0, 1)
    return np.where((along >= -0.5) & (along <= length + 0.5), ink, 0.0)


def dotted_line(image, severity, rng):
    """Dotted lines drawn from the left edge to the right one, two pixels on, two off (the paper draws one: 1)."""
    lined = image.copy()
    width = image.shape[1]
    dots = (np.arange(width) // 2) % 2 == 1
    for _ in range(_level(SEVERITIES, severity)):
        r0, r1 = rng.integers(0, image.shape[0] - 1, size=2)
        lined = np.maximum(lined, _line(image.shape, (r0, 0), (r1, width - 1)) * dots)
    return lined


def zigzag(image, severity, rng):
    """Zigzag lines across the digit, teeth two pixels long and two high (the paper draws one: 1)."""
    lined = image.copy()
    for _ in range(_level(SEVERITIES, severity)):
        r0 = rng.integers(0, image.shape[0] - 1)
        r1 = r0 + rng.integers(-5, 5)
        c0, c1 = 2, image.shape[1] - 3
        theta = np.arctan2(r1 - r0, c1 - c0)
        length = np.hypot(r1 - r0, c1 - c0)
        along = np.arange(0, length + 2, 2.0)
        offset = np.where(np.arange(len(along)) % 2 == 1, 2.0, 0.0) * np.where(np.arange(len(along)) % 4 == 3, -1, 1)
        rows = r0 + along * np.sin(theta) + offset * np.cos(theta)
        cols = c0 + along * np.cos(theta) - offset * np.sin(theta)
        for i in range(1, len(along)):
            lined = np.maximum(lined, _line(image.shape, (rows[i - 1], cols[i - 1]), (rows[i], cols[i])))
    return lined


def canny_edges(image, severity, rng):
    """Only the outlines: Canny's edge detector (Gaussian smoothing of sigma 0.5 ... 2.5, the paper's 1 at severity
    2; gradients, thinned to their ridge; strong edges kept with the weak ones that touch them)."""
    sigma = _level((0.5, 1.0, 1.5, 2.0, 2.5), severity)
    smooth = ndimage.gaussian_filter(image, sigma)
    d_row, d_col = ndimage.sobel(smooth, axis=0), ndimage.sobel(smooth, axis=1)
    magnitude = np.hypot(d_row, d_col)
    direction = (np.round(np.arctan2(d_row, d_col) / (np.pi / 4)) % 4).astype(int)  # 0: -, 1: \, 2: |, 3: /
    padded = np.pad(magnitude, 1)
    height, width = magnitude.shape
    ridge = np.zeros_like(magnitude, dtype=bool)
    for index, (dr, dc) in enumerate(((0, 1), (1, 1), (1, 0), (1, -1))):
        ahead = padded[1 + dr : 1 + dr + height, 1 + dc : 1 + dc + width]
        behind = padded[1 - dr : 1 - dr + height, 1 - dc : 1 - dc + width]
        ridge |= (direction == index) & (magnitude >= ahead) & (magnitude >= behind)
    top = magnitude.max()
    weak = ridge & (magnitude >= 0.1 * top)
    pieces, count = ndimage.label(weak, structure=np.ones((3, 3)))
    strong = np.unique(pieces[ridge & (magnitude >= 0.2 * top)])
    return np.isin(pieces, strong[strong > 0]).astype(float) if count else np.zeros_like(image)


CORRUPTIONS: dict[str, Corruption] = {
    corruption.name: corruption
    for corruption in (
        Corruption("shot_noise", "Shot noise", shot_noise.__doc__, shot_noise, 5),
        Corruption("impulse_noise", "Impulse noise", impulse_noise.__doc__, impulse_noise, 4),
        Corruption("glass_blur", "Glass blur", glass_blur.__doc__, glass_blur, 1),
        Corruption("motion_blur", "Motion blur", motion_blur.__doc__, motion_blur, 1),
        Corruption("shear", "Shear", shear.__doc__, shear, 2),
        Corruption("scale", "Scale", scale.__doc__, scale, 3),
        Corruption("rotate", "Rotate", rotate.__doc__, rotate, 2),
        Corruption("brightness", "Brightness", brightness.__doc__, brightness, 5),
        Corruption("translate", "Translate", translate.__doc__, translate, 3),
        Corruption("stripe", "Stripe", stripe.__doc__, stripe, 3),
        Corruption("fog", "Fog", fog.__doc__, fog, 5),
        Corruption("spatter", "Spatter", spatter.__doc__, spatter, 4),
        Corruption("dotted_line", "Dotted line", dotted_line.__doc__, dotted_line, 1),
        Corruption("zigzag", "Zigzag", zigzag.__doc__, zigzag, 1),
        Corruption("canny_edges", "Canny edges", canny_edges.__doc__, canny_edges, 2),
    )
}


def corrupt(image: np.ndarray, name: str, severity: int | None = None, seed: int | tuple = 0) -> np.ndarray:
    """`image` ((h, w) in [0, 1]) under corruption `name` at `severity` (the paper's when None), in [0, 1]."""
    if name not in CORRUPTIONS:
        raise ValueError(f"no corruption named {name!r}")
    corruption = CORRUPTIONS[name]
    rng = np.random.default_rng(seed)
    image = np.asarray(image, dtype=np.float64)
    return np.clip(corruption.function(image, severity or corruption.paper_severity, rng), 0, 1).astype(np.float32)


def corrupted_digits(images: np.ndarray, name: str, seed: int = REPORT_SEED) -> np.ndarray:
    """Each image ((n, h, w) in [0, 1]) under `name` at the paper's severity, image i with seed (seed, i), as uint8."""
    index = list(CORRUPTIONS).index(name)
    return np.stack(
        [np.round(corrupt(image, name, seed=(seed, index, i)) * 255).astype(np.uint8) for i, image in enumerate(images)]
    )


@functools.lru_cache(maxsize=2)
def corrupted_test_set(count: int = REPORT_DIGITS, seed: int = REPORT_SEED) -> dict[str, np.ndarray]:
    """MNIST's first `count` test digits under every corruption (name -> (count, 28, 28) uint8), built once per
    process: about 10 s here (glass blur's pixel swaps are most of it)."""
    from core.data import load_dataset

    images = load_dataset("mnist").x_test[:count] / 255.0
    return {name: corrupted_digits(images, name, seed) for name in CORRUPTIONS}
