"""core.data.dataset_from_zip: people's own digit images as a dataset, with every bad member reported."""

import io
import zipfile

import numpy as np
import pytest
from PIL import Image, ImageDraw

from core import zip_import
from core.data import DatasetError, load_dataset, uploaded_dataset_names
from core.zip_import import dataset_from_zip, save_uploaded_dataset


def photo(digit: int, dark_on_light: bool = True, size: tuple[int, int] = (120, 160), color: str = "RGB") -> bytes:
    """A picture of a digit-like mark: a vertical bar for 1, a ring for 0, a bar and a stroke for others."""
    paper, ink = ((240, 235, 220), (20, 20, 60)) if dark_on_light else ((0, 0, 0), (255, 255, 255))
    image = Image.new("RGB", size, paper)
    pen = ImageDraw.Draw(image)
    width, height = size
    if digit == 0:
        pen.ellipse([width * 0.25, height * 0.15, width * 0.75, height * 0.85], outline=ink, width=10)
    else:
        pen.line([(width / 2, height * 0.15), (width / 2, height * 0.85)], fill=ink, width=10)
        if digit > 1:
            pen.line([(width * 0.2, height * (0.1 + 0.08 * digit)), (width * 0.8, height * 0.2)], fill=ink, width=8)
    buffer = io.BytesIO()
    image.convert(color).save(buffer, format="PNG")
    return buffer.getvalue()


def zip_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def test_folders_0_to_9_give_the_right_counts_and_a_stratified_split():
    files = {
        f"my digits/{digit}/{index}.png": photo(digit, dark_on_light=index % 2 == 0)
        for digit in range(10)
        for index in range(5)
    }
    dataset = dataset_from_zip(zip_of(files), "Class 4B")
    assert dataset.name == "uploaded:class-4b" and dataset.title == "Uploaded: Class 4B, 50 images"
    assert dataset.x_train.shape == (40, 28, 28) and dataset.x_test.shape == (10, 28, 28)
    assert dataset.x_train.dtype == np.uint8 and dataset.pixel_max == 255 and dataset.problems == ()
    assert np.bincount(dataset.y_test, minlength=10).tolist() == [1] * 10  # one of each digit: stratified
    assert np.bincount(np.concatenate([dataset.y_train, dataset.y_test])).tolist() == [5] * 10
    again = dataset_from_zip(zip_of(files), "Class 4B")
    np.testing.assert_array_equal(again.y_test, dataset.y_test)  # split once, seeded


def test_a_labels_csv_works_for_any_size_colour_and_polarity():
    files = {
        "a.png": photo(1, size=(600, 900)),
        "b.png": photo(0, dark_on_light=False, color="L"),
        "c.jpg": photo(7, color="RGB"),
        "labels.csv": b"file,label\na.png,1\nb.png,0\nc.jpg,7\n",
    }
    dataset = dataset_from_zip(zip_of(files), "csv")
    everything = np.concatenate([dataset.x_train, dataset.x_test])
    assert sorted(np.concatenate([dataset.y_train, dataset.y_test]).tolist()) == [0, 1, 7]
    assert everything.max() == 255 and np.all(everything[:, 0, :] == 0)  # white ink on black, centred like MNIST


def test_every_bad_member_is_reported_and_the_good_ones_still_load():
    files = {
        "3/good.png": photo(3),
        "3/also-good.png": photo(3),
        "3/notes.txt": b"not a picture",
        "4/broken.png": b"\x89PNG garbage",
        "pictures/nolabel.png": photo(5),
        "x/letter.png": photo(2),
        "5/blank.png": _blank(),
        "__MACOSX/3/._good.png": b"junk",
    }
    dataset = dataset_from_zip(zip_of(files), "mixed")
    assert len(dataset.y_train) + len(dataset.y_test) == 2
    problems = "\n".join(dataset.problems)
    assert len(dataset.problems) == 5
    assert "3/notes.txt: not an image" in problems and "4/broken.png: The file is not an image" in problems
    assert "pictures/nolabel.png: its label pictures is not a digit" in problems
    assert "x/letter.png: its label x is not a digit" in problems and "5/blank.png: The image looks blank" in problems


def _blank() -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (50, 50), 255).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("archive", "message"),
    [
        (b"not a zip", "not a zip"),
        (zip_of({"readme.txt": b"hi"}), "No usable digit image"),
        (zip_of({"1/a.png": b"broken"}), r"No usable digit image in the zip \(1/a.png: The file is not an image"),
    ],
)
def test_unusable_zips_are_refused_with_the_reason(archive, message):
    with pytest.raises(DatasetError, match=message):
        dataset_from_zip(archive, "bad")


def test_the_limits_hold(monkeypatch):
    monkeypatch.setattr(zip_import, "MAX_IMAGES", 3)
    with pytest.raises(DatasetError, match="limit is 3 images"):
        dataset_from_zip(zip_of({f"1/{index}.png": photo(1) for index in range(6)}), "many")
    monkeypatch.setattr(zip_import, "MAX_ZIP_BYTES", 100)
    with pytest.raises(DatasetError, match="limit is 0 MB"):
        dataset_from_zip(zip_of({"1/a.png": photo(1)}), "big")


def test_a_saved_set_is_listed_and_loads_by_name_across_restarts(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITLAB_MODEL_DIR", str(tmp_path))
    files = {f"{digit}/{index}.png": photo(digit) for digit in (0, 1) for index in range(6)}
    first = save_uploaded_dataset(dataset_from_zip(zip_of(files), "ours"))
    second = save_uploaded_dataset(dataset_from_zip(zip_of(files), "ours"))  # the name is taken: a new one
    assert (first.name, second.name) == ("uploaded:ours", "uploaded:ours-2")
    assert uploaded_dataset_names() == ["uploaded:ours", "uploaded:ours-2"]
    loaded = load_dataset("uploaded:ours")
    np.testing.assert_array_equal(loaded.x_test, first.x_test)
    assert loaded.title == first.title and loaded.image_format == "mnist"
    with pytest.raises(DatasetError, match="not on this server"):
        load_dataset("uploaded:../../etc")


def test_a_small_uneven_set_is_split_without_stratifying():
    files = {f"{digit}/{index}.png": photo(digit) for digit in range(9) for index in range(2)}  # 18 images, 9 digits
    files.update({"9/only.png": photo(9)})
    dataset = dataset_from_zip(zip_of(files), "few")
    assert len(dataset.y_train) + len(dataset.y_test) == 19 and len(dataset.y_test) == 4
