"""My digits: drawings that users labelled ("this is a 7"), kept beside the runs, and how a model reads them.

One small .npz per image format in the model folder (`my-digits-mnist.npz`), rewritten whole under a file
lock: several users labelling at once lose nothing, and a crash never leaves half a file.
"""

from __future__ import annotations

import hashlib
import io
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.files import lock_path, locked, replacing
from core.model import predict_probabilities
from core.owners import owner_key
from core.state import my_digits_file

MAX_DIGITS = 5000  # per file: 28x28 bytes each, under 4 MB
# Training on the class's digits (a run's "plus the class's digits" option): one digit in KEPT_BACK_EVERY is kept
# back, chosen by its own pixels and label (so the choice never changes as digits are added or removed): never
# trained on, it shows what training on the others did. The rest are repeated (oversampled) until they count as
# about CLASS_DIGITS_WEIGHT training images, each at most MAX_REPEATS times; augmentation varies the copies.
KEPT_BACK_EVERY = 5
CLASS_DIGITS_WEIGHT = 600
MAX_REPEATS = 100
CLASS_DIGITS_SOURCE = "with the class's digits"  # in a run's record (its source) when it trained on them


@dataclass(frozen=True)
class LabelledDigits:
    images: np.ndarray  # (n, h, w) float32 in [0, 1], as the model saw them
    labels: np.ndarray  # (n,) int
    owners: np.ndarray  # (n,) str: who drew each
    times: np.ndarray | None = None  # (n,) float: when each was labelled (0: kept before times were)

    def __post_init__(self):
        if self.times is None:
            object.__setattr__(self, "times", np.zeros(len(self.labels)))

    def of(self, owner: str | None) -> LabelledDigits:
        """Only the digits `owner` drew (all of them for None)."""
        return self if owner is None else self.select(self.owners == owner_key(owner))

    def __len__(self) -> int:
        return len(self.labels)

    def select(self, mask: np.ndarray) -> LabelledDigits:
        return LabelledDigits(self.images[mask], self.labels[mask], self.owners[mask], self.times[mask])


def kept_back(digits: LabelledDigits) -> np.ndarray:
    """A mask of the digits kept back from training: about one in KEPT_BACK_EVERY, fixed by each digit's stored
    pixels and label (a hash), so the same digit is kept back by every run and every server."""
    pixels = np.round(np.asarray(digits.images, np.float32) * 255).astype(np.uint8)
    return np.array(
        [
            int.from_bytes(hashlib.sha256(image.tobytes() + bytes([int(label)])).digest()[:8], "big") % KEPT_BACK_EVERY
            == 0
            for image, label in zip(pixels, digits.labels, strict=True)
        ],
        dtype=bool,
    ).reshape(len(digits))


def training_share(digits: LabelledDigits) -> tuple[LabelledDigits, LabelledDigits]:
    """(the digits a run may train on, the digits kept back from it)."""
    back = kept_back(digits)
    return digits.select(~back), digits.select(back)


def repeats_for(count: int, weight: int = CLASS_DIGITS_WEIGHT) -> int:
    """How many times each of `count` digits is repeated so they weigh about `weight` training images."""
    return 0 if count <= 0 else min(MAX_REPEATS, max(1, -(-weight // count)))


def oversampled(digits: LabelledDigits, weight: int = CLASS_DIGITS_WEIGHT) -> tuple[np.ndarray, np.ndarray, int]:
    """The digits' images and labels, each repeated `repeats_for(len(digits))` times, and that number."""
    repeats = repeats_for(len(digits), weight)
    return np.repeat(digits.images, repeats, axis=0), np.repeat(digits.labels, repeats), repeats


class MyDigitsStore:
    """The labelled digits of one image format (`mnist` 28x28 or `digits` 8x8) in `root`."""

    def __init__(self, root: Path | str, image_format: str):
        self.root = Path(root)
        self.path = self.root / my_digits_file(image_format)

    def load(self) -> LabelledDigits:
        try:
            with np.load(self.path, allow_pickle=False) as saved:
                return LabelledDigits(
                    saved["images"].astype(np.float32) / 255.0,
                    saved["labels"].astype(np.int64),
                    saved["owners"],
                    saved["times"] if "times" in saved.files else None,
                )
        except (OSError, KeyError, ValueError):
            return LabelledDigits(np.zeros((0, 0, 0), np.float32), np.zeros(0, np.int64), np.zeros(0, "<U1"))

    def add(self, image: np.ndarray, label: int, owner: str) -> int:
        """Keep one labelled digit (past MAX_DIGITS the oldest goes); returns how many `owner` has now."""
        if not 0 <= int(label) <= 9:
            raise ValueError(f"a digit's label is 0 to 9, not {label!r}")
        owner = owner_key(owner)
        image = np.asarray(image, np.float32)
        with self._locked():
            digits = self.load()
            images = np.concatenate([digits.images.reshape(-1, *image.shape), image[None]])[-MAX_DIGITS:]
            labels = np.append(digits.labels, int(label))[-MAX_DIGITS:]
            owners = np.append(digits.owners, owner)[-MAX_DIGITS:]
            self._write(images, labels, owners, np.append(digits.times, time.time())[-MAX_DIGITS:])
            return int(np.sum(owners == owner))

    def clear(self, owner: str | None = None) -> None:
        """Forget `owner`'s digits (everyone's for None)."""
        with self._locked():
            keep = self.load()
            if owner is not None:
                keep = keep.select(keep.owners != owner_key(owner))
            if owner is None or not len(keep):
                self.path.unlink(missing_ok=True)
            else:
                self._write(keep.images, keep.labels, keep.owners, keep.times)

    def download(self, owner: str | None = None) -> bytes:
        """An .npz of the digits (uint8 images as the model saw them, and labels), for use elsewhere."""
        digits = self.load().of(owner)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, images=np.round(digits.images * 255).astype(np.uint8), labels=digits.labels)
        return buffer.getvalue()

    def _locked(self):
        """One writer at a time, across threads and processes sharing the folder."""
        return locked(lock_path(self.path))

    def _write(self, images: np.ndarray, labels: np.ndarray, owners: np.ndarray, times: np.ndarray) -> None:
        with replacing(self.path) as temporary, open(temporary, "wb") as file:
            pixels = np.round(images * 255).astype(np.uint8)
            np.savez_compressed(file, images=pixels, labels=labels, owners=owners, times=times)


@dataclass(frozen=True)
class HandwritingReport:
    """How a model reads labelled digits."""

    accuracy: float
    per_digit: np.ndarray  # (10,) accuracy per label; NaN where there are none
    counts: np.ndarray  # (10,) digits per label
    predicted: np.ndarray  # (n,)
    confidence: np.ndarray  # (n,) the probability of the predicted class


def read_digits(model, digits: LabelledDigits) -> HandwritingReport:
    """The model's answers on the labelled digits, with accuracy overall and per digit."""
    from core.insight import as_model_input

    x = np.concatenate([as_model_input(model, image) for image in digits.images])
    probabilities = predict_probabilities(model, x)
    predicted = probabilities.argmax(axis=1)
    right = predicted == digits.labels
    counts = np.bincount(digits.labels, minlength=10)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_digit = np.bincount(digits.labels, weights=right, minlength=10) / counts
    return HandwritingReport(float(right.mean()), per_digit, counts, predicted, probabilities.max(axis=1))
