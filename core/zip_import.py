"""People's own digits from a zip of pictures: checked before anything is decoded, prepared like a drawing,
split once and kept in the model folder as a dataset every page can use."""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from core.data import MAX_NAME, NUM_CLASSES, UPLOADED_PREFIX, Dataset, DatasetError, slug, uploaded_folder
from core.files import lock_path, locked, replacing

MAX_ZIP_BYTES = 50 * 1024 * 1024
MAX_IMAGES = 20_000
MAX_ZIP_UNPACKED_BYTES = 500 * 1024 * 1024


# Decoding costs about 15-40 ns of CPU per pixel, whatever the file's size in bytes: a flat PNG of 36 megapixels
# takes 44 KB and 0.5-0.7 s to decode. So pictures are bounded in pixels, read from their headers first.
MAX_DIGIT_PIXELS = 4_000_000  # a picture of one digit; a 2000x2000 scan or a cropped phone photo is well under


# The whole set: at most about a minute of decoding. Real photos cannot come near it in a 50 MB zip: a JPEG of 0.3
# megapixels takes 20 KB or more, so 50 MB holds at most about 2,500 of them (0.75 gigapixels), and 20,000 crops
# of 0.1 megapixels (316x316) make exactly 2 gigapixels. Only pictures made to compress unnaturally well reach it.
MAX_TOTAL_PIXELS = 2_000_000_000
MAX_LABELS_BYTES = 2_000_000  # labels.csv: 20,000 rows of up to 100 characters
LABELS_FILE = "labels.csv"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff")
UPLOAD_TEST_FRACTION = 0.2
UPLOAD_SPLIT_SEED = 0


def dataset_from_zip(
    data: bytes,
    name: str,
    *,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Dataset:
    """A zip of digit images (folders 0 to 9, or a labels.csv of file,label) -> a 28x28 dataset, split once.

    Any size, colour or polarity: every image goes through the same MNIST-style preprocessing as a drawing.
    Every picture's size is read from its header before anything is decoded: a picture above MAX_DIGIT_PIXELS is
    listed in `problems` undecoded, and a set whose pictures add up to more than MAX_TOTAL_PIXELS is refused
    before any is decoded. Members that cannot be used are listed in `problems` ("file: reason") while the good
    ones load. DatasetError when the zip itself cannot be used or holds no usable image.
    `progress(done, total)` is called after each member is decoded (or refused); `should_stop()` is asked between
    members, and DatasetError("Stopped.") raised when it says so.
    """
    from core.preprocess import MNIST_FORMAT, ImageError, image_bytes_to_mnist

    title = " ".join(str(name).split())[:MAX_NAME] or "my digits"
    if len(data) > MAX_ZIP_BYTES:
        raise DatasetError(f"The zip is {len(data) / 2**20:.1f} MB; the limit is {MAX_ZIP_BYTES / 2**20:.0f} MB.")
    members, labels_by_file = _image_members(data)
    images, labels, problems = [], [], []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        checked = _checked_members(archive, members, labels_by_file, should_stop)
        for done, (info, label, problem) in enumerate(checked, start=1):
            _stop_if_asked(should_stop)
            if problem is None:
                try:
                    image = image_bytes_to_mnist(_read_picture(archive, info), MNIST_FORMAT)
                except ImageError as error:
                    problem = str(error)
                except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, RuntimeError):
                    problem = "unreadable (the archive is damaged there)"
                else:
                    images.append(np.round(image * 255).astype(np.uint8))
                    labels.append(label)
            if problem is not None:
                problems.append(f"{_shown(info.filename)}: {problem}")
            if progress is not None:
                progress(done, len(checked))
    if not images:
        listed = "; ".join(problems[:5]) or "no images in it"
        raise DatasetError(f"No usable digit image in the zip ({listed}).")
    return _split(title, np.stack(images), np.array(labels, np.int64), tuple(problems))


def _stop_if_asked(should_stop: Callable[[], bool] | None) -> None:
    if should_stop is not None and should_stop():
        raise DatasetError("Stopped.")


def _checked_members(
    archive: zipfile.ZipFile,
    members: list[zipfile.ZipInfo],
    labels_by_file: dict[str, str],
    should_stop: Callable[[], bool] | None = None,
) -> list[tuple[zipfile.ZipInfo, int, str | None]]:
    """(member, label, None) for each member worth decoding, (member, -1, why not) for the others: its label, then
    its size from its header (nothing is decoded). DatasetError when the pictures add up to too many pixels."""
    checked, total_pixels = [], 0
    for index, info in enumerate(members):
        if index % 256 == 0:
            _stop_if_asked(should_stop)
        label, problem = _label_of(info.filename, labels_by_file)
        if problem is None:
            pixels, problem = _picture_pixels(archive, info)
            total_pixels += pixels
        checked.append((info, label, problem))
    if total_pixels > MAX_TOTAL_PIXELS:
        raise DatasetError(
            f"The pictures in the zip add up to {_pixels_in_words(total_pixels)}; the limit is "
            f"{_pixels_in_words(MAX_TOTAL_PIXELS)} for a set. Shrink them (a digit needs only a few hundred "
            f"pixels a side) or upload fewer at a time."
        )
    return checked


def _pixels_in_words(pixels: int) -> str:
    """ "2,004 megapixels", "4 megapixels", "28,800 pixels"."""
    if pixels >= 10_000_000:
        return f"{pixels / 1e6:,.0f} megapixels"
    if pixels >= 1_000_000:
        return f"{pixels / 1e6:.1f}".removesuffix(".0") + " megapixels"
    return f"{pixels:,} pixels"


def _picture_pixels(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[int, str | None]:
    """(width x height, None) from the member's header, without decoding it; (0, why not) above MAX_DIGIT_PIXELS.
    Files the decoder refuses anyway (too many bytes, a header Pillow cannot read) count 0 here: decoding them then
    fails at once, with the decoder's own message, before any pixel is decoded."""
    from PIL import Image

    from core.preprocess import MAX_IMAGE_BYTES

    limit = f"the limit is {_pixels_in_words(MAX_DIGIT_PIXELS)} for a digit picture"
    try:
        data = _read_picture(archive, info)
        if len(data) > MAX_IMAGE_BYTES:
            return 0, None
        with Image.open(io.BytesIO(data)) as picture:  # reads the header only: the same bytes the decoder gets
            width, height = picture.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):  # the warning, where made an error
        return 0, f"far too many pixels to open safely; {limit}"
    except Exception:  # Pillow and zipfile raise many types for damaged or foreign files
        return 0, None
    if width * height > MAX_DIGIT_PIXELS:
        return 0, f"{width}x{height} pixels; {limit} (crop it to the digit or shrink it)"
    return width * height, None


def _read_picture(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """A member's bytes, at most one byte more than a picture may have (the decoder refuses it then)."""
    from core.preprocess import MAX_IMAGE_BYTES

    with archive.open(info) as member:
        return member.read(MAX_IMAGE_BYTES + 1)


def _image_members(data: bytes) -> tuple[list[zipfile.ZipInfo], dict[str, str]]:
    """The zip's image members (bounded in number and size) and, if present, labels.csv as file -> label."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError) as error:
        raise DatasetError("This is not a zip archive.") from error
    with archive:
        infos = [info for info in archive.infolist() if not info.is_dir()]
        if len(infos) > MAX_IMAGES + 1:
            raise DatasetError(f"The zip holds {len(infos):,} files; the limit is {MAX_IMAGES:,} images.")
        if sum(info.file_size for info in infos) > MAX_ZIP_UNPACKED_BYTES:
            raise DatasetError(f"Unpacked, the zip would take more than {MAX_ZIP_UNPACKED_BYTES / 2**20:.0f} MB.")
        csv_member = next((info for info in infos if Path(info.filename).name.lower() == LABELS_FILE), None)
        labels = _read_labels_csv(_read_labels(archive, csv_member)) if csv_member else {}
    images = [info for info in infos if info is not csv_member and not _hidden(info.filename)]
    return images, labels


def _read_labels(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """labels.csv's first MAX_LABELS_BYTES (all a set of MAX_IMAGES needs), never the whole of a huge one."""
    try:
        with archive.open(info) as member:
            return member.read(MAX_LABELS_BYTES)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError) as error:
        raise DatasetError(f"The zip is damaged: {_shown(info.filename)} cannot be read.") from error


def _read_labels_csv(text: bytes) -> dict[str, str]:
    """labels.csv rows of file,label (a header row is skipped), keyed by the file's name without folders."""
    rows = csv.reader(io.StringIO(text[:MAX_LABELS_BYTES].decode("utf-8", errors="replace")))
    return {Path(row[0].strip()).name: row[1].strip() for row in rows if len(row) >= 2 and row[0].strip()}


def _label_of(filename: str, labels_by_file: dict[str, str]) -> tuple[int, str | None]:
    """(label, None), or (-1, why there is none): labels.csv first, then the digit folder the file is in."""
    path = Path(filename)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        return -1, "not an image (expected .png, .jpg, ...)"
    raw = labels_by_file.get(path.name) if labels_by_file else (path.parent.name if path.parent.name else None)
    if raw is None or raw == "":
        return -1, "no label (put it in a folder named 0 to 9, or list it in labels.csv)"
    if raw not in {str(digit) for digit in range(NUM_CLASSES)}:
        return -1, f"its label {_shown(raw, 20)} is not a digit 0 to 9"
    return int(raw), None


def _hidden(filename: str) -> bool:
    """Files that zip tools add (macOS resource forks, dot files): skipped silently."""
    return any(part.startswith(".") or part == "__MACOSX" for part in Path(filename).parts)


def _shown(text: str, limit: int = 80) -> str:
    """A name from the zip, cut short and with control characters escaped."""
    return str(text)[:limit].encode("unicode_escape").decode()


def _split(title: str, images: np.ndarray, labels: np.ndarray, problems: tuple[str, ...]) -> Dataset:
    """Train and test sets, split once: stratified when every digit has two images or more, and seeded."""
    from sklearn.model_selection import train_test_split

    counts = np.bincount(labels, minlength=NUM_CLASSES)
    classes, test_size = np.count_nonzero(counts), math.ceil(len(labels) * UPLOAD_TEST_FRACTION)
    stratifiable = np.all(counts[counts > 0] >= 2) and classes <= test_size <= len(labels) - classes
    stratify = labels if stratifiable else None
    if len(labels) < 2:
        x_train, x_test, y_train, y_test = images, images, labels, labels
    else:
        x_train, x_test, y_train, y_test = train_test_split(
            images, labels, test_size=test_size, stratify=stratify, random_state=UPLOAD_SPLIT_SEED
        )
    name = UPLOADED_PREFIX + slug(title)
    return Dataset(
        name,
        f"uploaded zip, {len(labels):,} images",
        x_train,
        y_train,
        x_test,
        y_test,
        255,
        title=f"Uploaded: {title}, {len(labels):,} images",
        problems=problems,
    )


def save_uploaded_dataset(dataset: Dataset, folder: Path | None = None) -> Dataset:
    """Keep an uploaded dataset in the model folder (a new name if it is taken: two imports of one name at once
    get two names); returns it under that name."""
    folder = folder or uploaded_folder()
    folder.mkdir(parents=True, exist_ok=True)
    base = dataset.name.removeprefix(UPLOADED_PREFIX)
    with locked(lock_path(folder)):
        number = 1
        while (folder / f"{_numbered(base, number)}.npz").exists():
            number += 1
        stem = _numbered(base, number)
        named = dataclasses.replace(dataset, name=UPLOADED_PREFIX + stem)
        arrays = {"x_train": named.x_train, "y_train": named.y_train, "x_test": named.x_test, "y_test": named.y_test}
        with replacing(folder / f"{stem}.npz") as temporary, open(temporary, "wb") as file:
            np.savez_compressed(file, **arrays, title=np.array(named.title), problems=np.array(named.problems, str))
    return named


def _numbered(base: str, number: int) -> str:
    return base if number == 1 else f"{base}-{number}"
