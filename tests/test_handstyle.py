"""The hand-style benchmark set: shapes, determinism, labels, and MNIST's size and centring."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from bench import handstyle
from bench.handstyle import hand_style_digits


@pytest.fixture(scope="module")
def small_set() -> tuple[np.ndarray, np.ndarray]:
    return hand_style_digits(count_per_digit=4, seed=3)


def test_shapes_and_types(small_set):
    images, labels = small_set
    assert images.shape == (40, 28, 28) and images.dtype == np.float32
    assert labels.shape == (40,) and np.issubdtype(labels.dtype, np.integer)


def test_every_label_present_equally(small_set):
    assert np.bincount(small_set[1], minlength=10).tolist() == [4] * 10


def test_values_in_unit_range_with_full_ink(small_set):
    images = small_set[0]
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert np.allclose(images.max(axis=(1, 2)), 1.0)


def test_same_seed_same_set_other_seed_other_set(small_set):
    again = hand_style_digits(count_per_digit=4, seed=3)
    np.testing.assert_array_equal(again[0], small_set[0])
    np.testing.assert_array_equal(again[1], small_set[1])
    assert not np.array_equal(hand_style_digits(count_per_digit=4, seed=4)[0], small_set[0])


def test_centred_and_sized_like_mnist(small_set):
    for image in small_set[0]:
        row, col = ndimage.center_of_mass(image)
        assert abs(row - 14.0) <= 1.0 and abs(col - 14.0) <= 1.0
        rows, cols = np.nonzero(image > 0.05)
        assert max(np.ptp(rows), np.ptp(cols)) + 1 in range(19, 23)


def test_works_with_no_fonts_installed(monkeypatch, tmp_path):
    monkeypatch.setattr(handstyle, "FONT_DIR", tmp_path)
    assert handstyle.fonts_found() == []
    images, labels = hand_style_digits(count_per_digit=2, seed=0)
    assert images.shape == (20, 28, 28) and sorted(set(labels.tolist())) == list(range(10))


def test_canvases_are_280_uint8_and_the_preprocessing_is_pluggable(small_set):
    seen = []

    def record(gray: np.ndarray) -> np.ndarray:
        seen.append((gray.shape, gray.dtype, int(gray[0].max()), int(gray.max())))
        return np.zeros((28, 28), np.float32)

    images, _ = hand_style_digits(count_per_digit=2, seed=0, preprocess=record)
    assert not images.any() and len(seen) == 20
    assert all(shape == (280, 280) and dtype == np.uint8 and peak == 255 for shape, dtype, _, peak in seen)
    assert sum(top_row > 0 for _, _, top_row, _ in seen) <= 2  # light ink on a dark background, inside the canvas
    sheet = handstyle.contact_sheet(*small_set, columns=4, zoom=2)
    assert sheet.size == (4 * 57 + 1, 10 * 57 + 1)
