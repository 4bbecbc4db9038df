"""Training on the class's labelled digits: a fixed share kept back and never trained on, the rest oversampled in
front of the dataset's images, and the run's record saying so."""

from __future__ import annotations

import numpy as np
import pytest

from core import training
from core.config import SEED
from core.my_digits import (
    CLASS_DIGITS_SOURCE,
    CLASS_DIGITS_WEIGHT,
    KEPT_BACK_EVERY,
    MAX_REPEATS,
    LabelledDigits,
    MyDigitsStore,
    kept_back,
    oversampled,
    repeats_for,
    training_share,
)
from core.runs import LocalReporter, RunState, TrainingRequest
from core.store import RunStore, new_run_id


def pattern(index: int) -> np.ndarray:
    """A distinct 28x28 image for each index (its bits as pixels)."""
    image = np.zeros((28, 28), np.float32)
    image[index // 28 % 28, index % 28] = 1.0
    image[27, :12] = [(index >> bit) & 1 for bit in range(12)]
    return image


@pytest.fixture
def class_store(tmp_path):
    store = MyDigitsStore(tmp_path, "mnist")
    for index in range(60):
        store.add(pattern(index), index % 10, f"learner{index % 3}")
    return store


def test_a_fixed_share_is_kept_back_whatever_the_order(class_store):
    digits = class_store.load()
    back = kept_back(digits)
    assert 0 < back.sum() < len(digits) and abs(back.mean() - 1 / KEPT_BACK_EVERY) < 0.15
    order = np.random.default_rng(0).permutation(len(digits))
    np.testing.assert_array_equal(kept_back(digits.select(order)), back[order])  # by content, not position
    class_store.add(pattern(999), 3, "learner9")
    np.testing.assert_array_equal(kept_back(class_store.load())[: len(digits)], back)  # adding changes nothing
    train, held = training_share(digits)
    assert len(train) + len(held) == len(digits) and len(held) == back.sum()


def test_oversampling_makes_a_few_digits_count_as_a_few_hundred():
    assert repeats_for(0) == 0 and repeats_for(CLASS_DIGITS_WEIGHT) == 1 and repeats_for(7) == 86
    assert repeats_for(1) == MAX_REPEATS
    images, labels = np.stack([pattern(i) for i in range(40)]), np.arange(40) % 10
    x, y, repeats = oversampled(LabelledDigits(images, labels, np.array(["a"] * 40)))
    assert repeats == 15 and len(x) == len(y) == 600 and np.bincount(y).tolist() == [60] * 10


def test_a_run_trains_on_the_class_digits_but_never_on_the_kept_back_ones(class_store, tmp_path, monkeypatch):
    seen = {}

    def fake_fit(request, data, progress, *rest):  # the data the fit would get; no TensorFlow training
        seen["x"], seen["y"] = data.x_train, data.y_train
        return None, RunState.STOPPED

    monkeypatch.setattr(training, "_fit", fake_fit)
    run_id = new_run_id()
    request = TrainingRequest(run_id, SEED, "mnist", limit=100, store_root=str(tmp_path), class_digits=True)
    progress = training.run_training(request, LocalReporter())
    assert progress.state is RunState.STOPPED, progress.message
    train, back = training_share(class_store.load())
    repeats = repeats_for(len(train))
    x = seen["x"].reshape(len(seen["x"]), 28, 28)
    assert len(x) == len(train) * repeats + 100
    trained = {image.tobytes() for image in x[: len(train) * repeats]}
    assert trained == {image.tobytes() for image in train.images}
    assert not trained & {image.tobytes() for image in back.images}  # the kept-back digits never trained on
    np.testing.assert_array_equal(seen["y"][: len(train) * repeats], np.repeat(train.labels, repeats))
    record = RunStore(tmp_path).get(run_id)
    assert CLASS_DIGITS_SOURCE in record.source and f"{len(back)} kept back" in record.source
    assert record.train_samples == len(x)


def test_without_the_option_or_the_digits(tmp_path, monkeypatch):
    monkeypatch.setattr(training, "_fit", lambda request, data, *rest: (None, RunState.STOPPED))
    run_id = new_run_id()
    progress = training.run_training(
        TrainingRequest(run_id, SEED, "mnist", limit=50, store_root=str(tmp_path), class_digits=True), LocalReporter()
    )
    assert progress.state is RunState.FAILED and "no labelled digits" in progress.message  # a message, no traceback
    plain = new_run_id()
    training.run_training(TrainingRequest(plain, SEED, "mnist", limit=50, store_root=str(tmp_path)), LocalReporter())
    assert CLASS_DIGITS_SOURCE not in RunStore(tmp_path).get(plain).source
