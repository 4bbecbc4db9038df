"""core.data: the real MNIST offline, the digits split, the override file and its errors."""

import zipfile

import numpy as np
import pytest

from core import data, dataset_stats
from core.data import DatasetError, load_dataset

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def test_mnist_is_the_real_dataset(mnist):
    assert mnist.x_train.shape == (60000, 28, 28) and mnist.x_test.shape == (10000, 28, 28)
    assert mnist.x_train.dtype == np.uint8 and mnist.x_test.dtype == np.uint8
    assert mnist.y_train.shape == (60000,) and mnist.y_test.shape == (10000,)
    assert np.issubdtype(mnist.y_train.dtype, np.integer)
    assert dataset_stats.class_counts(mnist.y_train).tolist() == MNIST_TRAIN_COUNTS
    assert mnist.y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert mnist.y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert mnist.image_shape == (28, 28)
    assert mnist.x_train.max() == mnist.pixel_max == 255


def test_digits_split_is_stratified_and_fixed(digits):
    assert digits.x_train.shape == (1347, 8, 8) and digits.x_test.shape == (450, 8, 8)
    assert digits.x_train.dtype == np.uint8 and digits.x_train.max() == 16 and digits.pixel_max == 16
    train_share = dataset_stats.class_counts(digits.y_train) / len(digits.y_train)
    test_share = dataset_stats.class_counts(digits.y_test) / len(digits.y_test)
    np.testing.assert_allclose(train_share, test_share, atol=0.01)
    again = load_dataset("digits")
    np.testing.assert_array_equal(again.y_test, digits.y_test)


def test_unknown_dataset_is_refused():
    with pytest.raises(DatasetError, match="Unknown dataset"):
        load_dataset("cifar")


@pytest.fixture
def keras_npz(tmp_path, mnist):
    """A genuine Keras-style mnist.npz written from the real data."""
    path = tmp_path / "mnist.npz"
    np.savez(
        path,
        x_train=mnist.x_train,
        y_train=mnist.y_train.astype(np.uint8),
        x_test=mnist.x_test,
        y_test=mnist.y_test.astype(np.uint8),
    )
    return path


def test_npz_override_is_used(monkeypatch, keras_npz, mnist):
    monkeypatch.setenv(data.MNIST_NPZ_ENV, str(keras_npz))
    loaded = load_dataset("mnist")
    assert loaded.source == str(keras_npz)
    np.testing.assert_array_equal(loaded.x_test, mnist.x_test)


def test_truncated_npz_gets_a_clear_message(monkeypatch, keras_npz):
    keras_npz.write_bytes(keras_npz.read_bytes()[:100_000])
    monkeypatch.setenv(data.MNIST_NPZ_ENV, str(keras_npz))
    with pytest.raises(DatasetError, match=r"mnist\.npz.*(truncated|damaged)"):
        load_dataset("mnist")


def test_damaged_member_gets_a_clear_message(tmp_path, mnist):
    path = tmp_path / "mnist.npz"
    np.savez_compressed(path, x_train=mnist.x_train, y_train=mnist.y_train, x_test=mnist.x_test, y_test=mnist.y_test)
    raw = bytearray(path.read_bytes())
    middle = len(raw) // 2
    raw[middle : middle + 5000] = bytes(5000)  # zero a stretch inside x_train's compressed data
    path.write_bytes(bytes(raw))
    with pytest.raises(DatasetError, match=r"mnist\.npz"):
        data.load_mnist_npz(path)


@pytest.mark.parametrize(
    ("arrays", "problem"),
    [
        ({"x_train": np.zeros((10, 28, 28), np.uint8)}, "lacks the arrays y_train, x_test, y_test"),
        (
            {
                "x_train": np.zeros((60000, 28, 27), np.uint8),
                "y_train": np.zeros(60000, np.uint8),
                "x_test": np.zeros((10000, 28, 28), np.uint8),
                "y_test": np.zeros(10000, np.uint8),
            },
            r"x_train has shape \(60000, 28, 27\)",
        ),
        (
            {
                "x_train": np.zeros((60000, 28, 28), np.float32),
                "y_train": np.zeros(60000, np.uint8),
                "x_test": np.zeros((10000, 28, 28), np.uint8),
                "y_test": np.zeros(10000, np.uint8),
            },
            "x_train has type float32",
        ),
    ],
)
def test_wrong_npz_contents_are_named(tmp_path, arrays, problem):
    path = tmp_path / "mnist.npz"
    np.savez(path, **arrays)
    with pytest.raises(DatasetError, match=problem):
        data.load_mnist_npz(path)


def test_missing_or_foreign_file_is_named(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        data.load_mnist_npz(tmp_path / "nowhere.npz")
    text = tmp_path / "mnist.npz"
    text.write_text("not a zip")
    with pytest.raises(DatasetError, match="not a .npz archive"):
        data.load_mnist_npz(text)
    assert not zipfile.is_zipfile(text)


def test_sample_indices_follow_the_digit_filter(mnist):
    indices = dataset_stats.sample_indices(mnist.y_train, 32, digit=3, seed=1)
    assert len(indices) == 32 and set(mnist.y_train[indices]) == {3}
    assert not np.array_equal(indices, dataset_stats.sample_indices(mnist.y_train, 32, digit=3, seed=2))


def test_descriptions(mnist):
    means = dataset_stats.mean_images(mnist.x_train, mnist.y_train)
    assert means.shape == (10, 28, 28)
    assert means[1].sum() < means[0].sum()  # a "1" uses less ink than a "0"
    histogram = dataset_stats.pixel_histogram(mnist.x_test, 255)
    assert histogram.sum() == mnist.x_test.size and histogram[0] > histogram[1:].sum()
    pca = dataset_stats.pca_map(mnist.x_train, mnist.y_train, count=1000)
    assert pca.coordinates.shape == (1000, 2) and 0 < sum(pca.explained_variance) < 1
    np.testing.assert_array_equal(pca.labels, mnist.y_train[pca.indices])
