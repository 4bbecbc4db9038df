"""core.corruptions: each of MNIST-C's fifteen corruptions does what it says, the same way for the same seed."""

from __future__ import annotations

import numpy as np
import pytest

from core.corruptions import CORRUPTIONS, corrupt, corrupted_digits


def square(size: int = 10, value: float = 1.0) -> np.ndarray:
    image = np.zeros((28, 28))
    start = (28 - size) // 2
    image[start : start + size, start : start + size] = value
    return image


def ink_box(image: np.ndarray, threshold: float = 0.5) -> tuple[int, int]:
    rows, cols = np.nonzero(image > threshold)
    return rows.max() - rows.min() + 1, cols.max() - cols.min() + 1


def orientation(image: np.ndarray) -> float:
    """The angle of the ink's main axis, from its second moments (radians, rows pointing down)."""
    rows, cols = np.nonzero(image > 0.5)
    weights = image[rows, cols]
    r, c = rows - np.average(rows, weights=weights), cols - np.average(cols, weights=weights)
    cov = np.cov(np.stack([c, r]), aweights=weights)
    return 0.5 * np.arctan2(2 * cov[0, 1], cov[0, 0] - cov[1, 1])


@pytest.fixture(scope="module")
def mnist_digits(mnist) -> np.ndarray:
    return mnist.x_test[:20] / 255.0


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_every_corruption_is_deterministic_bounded_and_changes_a_digit(name, mnist_digits):
    image = mnist_digits[0]
    first, again = corrupt(image, name, seed=7), corrupt(image, name, seed=7)
    assert first.shape == image.shape and first.dtype == np.float32
    assert np.array_equal(first, again)
    assert first.min() >= 0 and first.max() <= 1
    assert np.abs(first - image).max() > 0.2, "the corruption must change the digit visibly"
    for severity in (1, 5):
        assert corrupt(image, name, severity, seed=7).shape == image.shape
    with pytest.raises(ValueError, match="severity"):
        corrupt(image, name, 6)


def test_the_random_ones_differ_with_the_seed(mnist_digits):
    for name in ("shot_noise", "impulse_noise", "glass_blur", "motion_blur", "fog", "spatter", "dotted_line", "zigzag"):
        assert not np.array_equal(corrupt(mnist_digits[1], name, seed=1), corrupt(mnist_digits[1], name, seed=2)), name


def test_shot_noise_is_poisson_counting():
    grey = np.full((200, 200), 0.5)
    noisy = corrupt(grey, "shot_noise", 1, seed=0)  # 60 photons at full brightness: variance 0.5 / 60
    assert noisy.mean() == pytest.approx(0.5, abs=0.005)
    assert noisy.var() == pytest.approx(0.5 / 60, rel=0.1)
    assert not corrupt(np.zeros((28, 28)), "shot_noise", seed=0).any(), "no light, no photons"


def test_impulse_noise_turns_its_share_of_pixels_white_or_black():
    grey = np.full((200, 200), 0.5)
    noisy = corrupt(grey, "impulse_noise", 4, seed=0)  # amount 0.17
    hit = noisy != np.float32(0.5)
    assert hit.mean() == pytest.approx(0.17, abs=0.01)
    assert set(np.unique(noisy[hit])) == {0.0, 1.0}
    assert (noisy[hit] == 1).mean() == pytest.approx(0.5, abs=0.05)


def test_glass_blur_smears_and_shuffles_but_keeps_the_ink(mnist_digits):
    from scipy import ndimage

    image = mnist_digits[0]
    glassy = corrupt(image, "glass_blur", 1, seed=0)
    assert glassy.sum() == pytest.approx(image.sum(), rel=0.05)
    twice_blurred = ndimage.gaussian_filter(ndimage.gaussian_filter(image, 0.7), 0.7)
    assert np.abs(glassy - twice_blurred).max() > 0.1, "pixels were swapped, not only blurred"


def test_motion_blur_smears_a_dot_one_way_along_a_line():
    dot = np.zeros((28, 28))
    dot[14, 14] = 1.0
    streak = corrupt(dot, "motion_blur", 1, seed=0)
    rows, cols = np.nonzero(streak > 0.005)
    assert np.ptp(cols) >= 5, "a streak several pixels long"
    assert (cols >= 14).all(), "ImageMagick's motion blur smears to one side"
    slope = np.polyfit(cols, rows, 1, w=streak[rows, cols])[0]
    assert abs(np.degrees(np.arctan(slope))) <= 46


def test_shear_slides_rows_in_proportion_to_their_height():
    bar = np.zeros((28, 28))
    bar[4:24, 13:15] = 1.0
    slanted = corrupt(bar, "shear", 2, seed=0)  # 0.4 columns per row, either way
    rows = np.arange(6, 22)
    centres = [np.average(np.arange(28), weights=slanted[row]) for row in rows]
    assert abs(np.polyfit(rows, centres, 1)[0]) == pytest.approx(0.4, abs=0.02)


def test_scale_shrinks_about_the_centre():
    shrunk = corrupt(square(20), "scale", 3, seed=0)  # to 70%
    assert ink_box(shrunk) == pytest.approx((14, 14), abs=1)
    assert np.average(np.nonzero(shrunk > 0.5)[0]) == pytest.approx(13.5, abs=0.5)


def test_rotate_turns_by_its_angle():
    bar = np.zeros((28, 28))
    bar[13:15, 4:24] = 1.0
    turned = corrupt(bar, "rotate", 2, seed=0)  # 0.4 radian, either way
    assert abs(orientation(turned) - orientation(bar)) == pytest.approx(0.4, abs=0.03)


def test_brightness_raises_the_background(mnist_digits):
    bright = corrupt(mnist_digits[0], "brightness", 5, seed=0)
    assert np.allclose(bright[mnist_digits[0] == 0], 0.5)
    assert bright.max() == 1.0


def test_translate_moves_by_whole_pixels():
    image = square(10, 0.8)
    moved = corrupt(image, "translate", 3, seed=0)
    matches = [
        (d_row, d_col)
        for d_row in (-3, 3)
        for d_col in (-3, 3)
        if np.allclose(moved, np.roll(image, (d_row, d_col), axis=(0, 1)), atol=1e-6)
    ]
    assert len(matches) == 1, "one of the four diagonal moves of 3 pixels "


def test_stripe_inverts_the_side_bands(mnist_digits):
    striped = corrupt(mnist_digits[0], "stripe", 3, seed=0)
    assert np.allclose(striped[:, :7], 1 - mnist_digits[0][:, :7]) and np.allclose(
        striped[:, 21:], 1 - mnist_digits[0][:, 21:]
    )
    assert np.allclose(striped[:, 7:21], mnist_digits[0][:, 7:21])


def test_fog_is_a_smooth_cloud_over_the_background(mnist_digits):
    foggy = corrupt(mnist_digits[0], "fog", 5, seed=0)
    background = foggy[mnist_digits[0] == 0]
    assert background.mean() > 0.1 and background.std() > 0.02
    assert np.abs(np.diff(foggy, axis=1))[mnist_digits[0][:, 1:] == 0].mean() < 0.05, "smooth, not noise"


def test_spatter_covers_pixels_with_dark_mud(mnist_digits):
    image = mnist_digits[0]
    spattered = corrupt(image, "spatter", 4, seed=3)
    changed = ~np.isclose(spattered, image, atol=1e-6)
    assert changed.any()
    mud = 63 / 255
    assert np.all(np.abs(spattered[changed] - mud) <= np.abs(image[changed] - mud) + 1e-6), (
        "each change moves toward mud"
    )


def test_dotted_line_crosses_with_gaps():
    lined = corrupt(np.zeros((28, 28)), "dotted_line", 1, seed=0)
    inked = (lined > 0).any(axis=0)
    assert inked.sum() >= 10
    assert not inked[(np.arange(28) // 2) % 2 == 0].any(), "two columns on, two off"


def test_zigzag_adds_a_line_that_goes_up_and_down(mnist_digits):
    image = mnist_digits[0]
    zig = corrupt(image, "zigzag", 1, seed=0)
    assert (zig >= image - 1e-6).all(), "the digit stays under the line"
    added = (zig - image) > 0.5
    centres = [np.nonzero(added[:, col])[0].mean() for col in range(4, 24) if added[:, col].any()]
    assert len(centres) >= 15
    assert (np.diff(np.sign(np.diff(centres))) != 0).sum() >= 3, "it turns back several times"


def test_canny_keeps_only_the_edges():
    edges = corrupt(square(12), "canny_edges", 2, seed=0)
    assert set(np.unique(edges)) == {0.0, 1.0}
    assert edges[11:17, 11:17].sum() == 0, "the inside of the square is no edge"
    assert edges[:5].sum() == 0 and edges[-5:].sum() == 0, "nor the empty background"
    assert edges[7:21, 7:21].sum() >= 30, "its outline is"


def test_a_slice_of_the_corrupted_set_is_the_same_as_the_whole_sets(mnist_digits):
    whole = corrupted_digits(mnist_digits, "glass_blur")
    assert whole.dtype == np.uint8 and whole.shape == mnist_digits.shape
    assert np.array_equal(corrupted_digits(mnist_digits[:5], "glass_blur"), whole[:5])
    assert not np.array_equal(corrupted_digits(mnist_digits, "glass_blur", seed=1), whole)
