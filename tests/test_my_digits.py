"""core.my_digits: labelled drawings kept atomically across restarts and writers, and how models read them."""

import io
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from core import my_digits
from core.my_digits import MyDigitsStore, read_digits

ROOT = Path(__file__).resolve().parent.parent


def digit(value: float = 1.0) -> np.ndarray:
    image = np.zeros((28, 28), np.float32)
    image[4:24, 12:16] = value
    return image


def test_digits_are_kept_across_a_restart_and_cleared_per_owner(tmp_path):
    store = MyDigitsStore(tmp_path, "mnist")
    assert len(store.load()) == 0
    assert store.add(digit(), 1, "alice-hash-0123456789") == 1
    assert store.add(digit(0.5), 7, "alice-hash-0123456789") == 2
    assert store.add(digit(), 4, "bob-hash") == 1
    restarted = MyDigitsStore(tmp_path, "mnist").load()  # a new server process reads the same file
    assert restarted.labels.tolist() == [1, 7, 4] and restarted.images.shape == (3, 28, 28)
    np.testing.assert_allclose(restarted.images[1], digit(0.5), atol=1 / 255)
    assert restarted.of("alice-hash-0123456789").labels.tolist() == [1, 7]
    store.clear("alice-hash-0123456789")
    assert store.load().labels.tolist() == [4]
    store.clear()
    assert not store.path.exists() and len(store.load()) == 0


def test_the_download_is_an_npz_of_uint8_images_and_labels(tmp_path):
    store = MyDigitsStore(tmp_path, "mnist")
    store.add(digit(), 1, "alice")
    with np.load(io.BytesIO(store.download())) as saved:
        assert saved["images"].dtype == np.uint8 and saved["images"].shape == (1, 28, 28)
        assert saved["labels"].tolist() == [1] and "owners" not in saved.files


def test_a_failed_write_leaves_the_old_file_whole_and_no_partial_file(tmp_path, monkeypatch):
    store = MyDigitsStore(tmp_path, "mnist")
    store.add(digit(), 1, "alice")

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(my_digits.np, "savez_compressed", full_disk)
    with pytest.raises(OSError):
        store.add(digit(), 2, "alice")
    monkeypatch.undo()
    assert store.load().labels.tolist() == [1]
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".partial")] == []


def test_invalid_labels_are_refused(tmp_path):
    with pytest.raises(ValueError, match="0 to 9"):
        MyDigitsStore(tmp_path, "mnist").add(digit(), 10, "alice")


def test_threads_labelling_at_once_lose_nothing(tmp_path):
    store = MyDigitsStore(tmp_path, "mnist")
    threads = [
        threading.Thread(target=lambda n=n: [store.add(digit(), n, f"user{n}") for _ in range(10)]) for n in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert np.bincount(store.load().labels).tolist() == [10] * 8


ADD_TEN = """
import sys
import numpy as np
from core.my_digits import MyDigitsStore
image = np.zeros((28, 28), np.float32)
for _ in range(10):
    MyDigitsStore(sys.argv[1], "mnist").add(image, int(sys.argv[2]), "process" + sys.argv[2])
"""


def test_processes_sharing_the_folder_lose_nothing(tmp_path):
    writers = [
        subprocess.Popen([sys.executable, "-c", ADD_TEN, str(tmp_path), str(label)], cwd=ROOT) for label in range(3)
    ]
    assert [writer.wait(timeout=120) for writer in writers] == [0, 0, 0]
    assert np.bincount(MyDigitsStore(tmp_path, "mnist").load().labels).tolist() == [10, 10, 10]


def test_the_oldest_digits_go_past_the_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(my_digits, "MAX_DIGITS", 3)
    store = MyDigitsStore(tmp_path, "mnist")
    for label in range(5):
        store.add(digit(), label, "alice")
    assert store.load().labels.tolist() == [2, 3, 4]


def test_a_model_reads_labelled_digits_with_accuracy_per_digit(trained_run, model_dir, mnist):
    from core.store import RunStore

    model = RunStore(model_dir).load_model(trained_run)
    store = MyDigitsStore(model_dir / "my-digits-test", "mnist")
    for index in range(30):
        store.add(mnist.x_test[index] / 255.0, int(mnist.y_test[index]), "alice")
    report = read_digits(model, store.load())
    assert report.counts.sum() == 30 and report.counts.tolist() == np.bincount(mnist.y_test[:30], minlength=10).tolist()
    assert report.accuracy > 0.8 and report.predicted.shape == (30,)
    assert np.isnan(report.per_digit[report.counts == 0]).all()
