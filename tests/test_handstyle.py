"""The hand-style benchmark sets: shapes, determinism, labels, MNIST's size and centring, and a tuning set and a
held-out set that share no font and no pen."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from bench import handstyle
from bench.handstyle import HELD_OUT_FONTS, PEN_STYLES, SPLITS, TUNING_FONTS, hand_style_digits, hand_style_set


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
    assert handstyle.fonts_found() == [] and handstyle.fonts_found(split="held-out") == []
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


def family(font_name: str) -> str:
    """A font file's family: its name before any style suffix ("dkgBd.ttf" -> "dkg", "Purisa-Oblique" -> "Purisa")."""
    stem = font_name.split(".")[0].split("-")[0]
    for suffix in ("BI", "Bd", "It"):
        stem = stem.removesuffix(suffix)
    return stem.lower()


def test_no_font_family_and_no_pen_is_in_both_splits():
    assert not {family(name) for name in TUNING_FONTS} & {family(name) for name in HELD_OUT_FONTS}
    assert not set(PEN_STYLES["tuning"].ways) & set(PEN_STYLES["held-out"].ways)
    tuning, held_out = handstyle.fonts_found(split="tuning"), handstyle.fonts_found(split="held-out")
    assert not {path.name for path in tuning} & {path.name for path in held_out}


def test_each_split_draws_only_its_own_fonts_and_weights_up_to_the_pen_s_maximum():
    sets = {split: hand_style_set(split, count_per_digit=4, seed=2) for split in SPLITS}
    for split, made in sets.items():
        allowed = {path.name for path in handstyle.fonts_found(split=split)} | {"pen"}
        assert set(made.sources.tolist()) <= allowed
        assert made.images.shape == (40, 28, 28) and made.weights.shape == (40,)
        assert made.weights.min() > 0 and made.widths.max() <= 0.3 * 20 + 1e-6
    fonts = [set(made.sources.tolist()) - {"pen"} for made in sets.values()]
    assert not fonts[0] & fonts[1]
    assert not np.array_equal(sets["tuning"].images, sets["held-out"].images)


def test_the_drawn_weights_reach_the_thick_pens():
    made = hand_style_set("held-out", count_per_digit=8, seed=0)
    assert made.widths.max() > 5.0 and made.widths.min() < 2.0  # the heaviest and lightest buckets both filled
    assert sum(made.bucket(name).sum() for name in handstyle.WEIGHT_BUCKETS) == len(made.labels)
