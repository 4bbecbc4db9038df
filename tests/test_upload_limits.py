"""Uploads bounded in the work they ask, not only in bytes: pictures in pixels (read from their headers, before any
decoding) and models in multiply-adds per digit (counted from their config, before anything is built)."""

import contextlib
import dataclasses
import io
import json
import struct
import zipfile
import zlib

import keras
import numpy as np
import pytest
from PIL import Image, ImageDraw

import core.preprocess
import core.uploads
from core import zip_import
from core.config import PRESETS
from core.data import DatasetError
from core.model import build_model, input_shape_for, model_to_bytes
from core.upload_card import ModelCard, prepare_upload
from core.uploads import (
    MAX_LAYER_VALUES,
    MAX_MULTIPLY_ADDS,
    UploadError,
    estimated_multiply_adds,
    load_uploaded_model,
    model_cost,
)
from core.zip_import import MAX_DIGIT_PIXELS, MAX_TOTAL_PIXELS, dataset_from_zip
from tests.test_uploads import private_temp_folder, zip_of  # noqa: F401  (autouse: no upload leaves a temporary file)

layers = keras.layers


# ---- Own-digit sets: pictures bounded in pixels ------------------------------------------------------------


def flat_png(width: int, height: int) -> bytes:
    """A real 1-bit PNG, white with a black bar: a few KB however many pixels it decodes to."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    row = (width + 7) // 8
    white = b"\x00" + b"\xff" * row  # each row starts with its filter type: 0, none
    bar = b"\x00" + b"\xff" * (row // 2 - 1) + b"\x00\x00" + b"\xff" * (row - row // 2 - 1)
    packer = zlib.compressobj(9)
    rows = [packer.compress(bar if height // 5 < y < 4 * height // 5 else white) for y in range(height)]
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1 bit per pixel, grayscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", b"".join(rows) + packer.flush())
        + chunk(b"IEND", b"")
    )


def digit_png(digit: int) -> bytes:
    """A small picture of a digit-like mark (a bar, and a stroke for digits above 1)."""
    image = Image.new("L", (60, 80), 255)
    pen = ImageDraw.Draw(image)
    pen.line([(30, 12), (30, 68)], fill=0, width=6)
    if digit > 1:
        pen.line([(12, 10 + 5 * digit), (48, 16)], fill=0, width=5)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def decoded(monkeypatch) -> list[int]:
    """The sizes in bytes of the pictures the decoder was given, in order."""
    sizes, decode = [], core.preprocess.image_bytes_to_mnist

    def counting(picture: bytes, *args, **kwargs):
        sizes.append(len(picture))
        return decode(picture, *args, **kwargs)

    monkeypatch.setattr(core.preprocess, "image_bytes_to_mnist", counting)
    return sizes


def test_a_picture_of_too_many_pixels_is_listed_undecoded_and_the_good_ones_load(decoded):
    huge = flat_png(6000, 6000)
    assert len(huge) < 20_000 and MAX_DIGIT_PIXELS < 6000 * 6000
    good = {f"{digit}/{index}.png": digit_png(digit) for digit in (1, 7) for index in range(3)}
    archive = zip_of({**good, "7/huge.png": huge})
    dataset = dataset_from_zip(archive, "mixed")
    assert dataset.problems == (
        "7/huge.png: 6000x6000 pixels; the limit is 4 megapixels for a digit picture "
        "(crop it to the digit or shrink it)",
    )
    assert len(dataset.y_train) + len(dataset.y_test) == len(good)
    assert len(decoded) == len(good) and len(huge) not in decoded  # the big one never reached the decoder


@pytest.mark.parametrize(
    ("side", "warns", "reason"),
    [
        (
            10_000,
            True,
            "10000x10000 pixels; the limit is 4 megapixels for a digit picture (crop it to the digit or shrink it)",
        ),  # past Pillow's warning (89 megapixels)
        (15_000, False, "far too many pixels to open safely; the limit is 4 megapixels for a digit picture"),
    ],  # its error
    ids=["pillow-warns", "pillow-refuses"],
)
def test_pictures_past_pillows_own_bomb_limits_are_listed_with_a_reason(side, warns, reason, decoded):
    with pytest.warns(Image.DecompressionBombWarning) if warns else contextlib.nullcontext():
        dataset = dataset_from_zip(zip_of({"1/a.png": digit_png(1), "1/bomb.png": flat_png(side, side)}), "bombs")
    assert dataset.problems == (f"1/bomb.png: {reason}",) and len(decoded) == 1


@pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning")
def test_pillows_warning_made_an_error_is_a_listed_problem_too(decoded):
    dataset = dataset_from_zip(zip_of({"1/a.png": digit_png(1), "1/bomb.png": flat_png(10_000, 10_000)}), "bombs")
    assert dataset.problems == (
        "1/bomb.png: far too many pixels to open safely; the limit is 4 megapixels for a digit picture",
    )
    assert len(decoded) == 1


def test_a_set_of_too_many_pixels_in_all_is_refused_before_any_is_decoded(decoded):
    picture = flat_png(2000, 2000)  # each within the limit for one picture
    count = MAX_TOTAL_PIXELS // (2000 * 2000) + 1
    archive = zip_of({f"{index % 10}/{index}.png": picture for index in range(count)})
    assert len(archive) < 5 * 2**20  # 2 gigapixels in a few MB
    with pytest.raises(DatasetError, match=r"add up to 2,004 megapixels; the limit is 2,000 megapixels for a set"):
        dataset_from_zip(archive, "too many pixels")
    assert decoded == []  # none decoded (bench/hostile_uploads.py times what decoding them would cost)


def test_the_total_counts_only_pictures_that_would_be_decoded(monkeypatch, decoded):
    monkeypatch.setattr(zip_import, "MAX_TOTAL_PIXELS", 5 * 60 * 80)
    files = {f"1/{index}.png": digit_png(1) for index in range(5)}
    files.update({"1/huge.png": flat_png(3000, 3000), "1/notes.txt": b"hi", "nolabel.png": digit_png(2)})
    dataset = dataset_from_zip(zip_of(files), "exactly at the limit")
    assert len(dataset.y_train) + len(dataset.y_test) == 5 and len(dataset.problems) == 3
    files["1/one-more.png"] = digit_png(1)
    with pytest.raises(DatasetError, match="add up to 28,800 pixels; the limit is 24,000 pixels for a set"):
        dataset_from_zip(zip_of(files), "one over")


def test_progress_is_told_after_every_member_and_a_stop_is_heard_between_members(decoded):
    files = {f"{digit}/{index}.png": digit_png(digit) for digit in (1, 4) for index in range(3)}
    files["4/huge.png"] = flat_png(6000, 6000)
    calls = []
    dataset = dataset_from_zip(zip_of(files), "told", progress=lambda done, total: calls.append((done, total)))
    assert calls == [(done, 7) for done in range(1, 8)] and len(dataset.problems) == 1
    decoded.clear()
    with pytest.raises(DatasetError, match="^Stopped.$"):
        dataset_from_zip(zip_of(files), "stopped", should_stop=lambda: len(decoded) >= 2)
    assert len(decoded) == 2


# ---- Models: bounded in multiply-adds per digit ------------------------------------------------------------


def config_of(model) -> dict:
    """The model's config.json, as an upload of it holds it."""
    with zipfile.ZipFile(io.BytesIO(model_to_bytes(model))) as archive:
        return json.loads(archive.read("config.json"))


def keras_io_convnet():
    """keras.io's "Simple MNIST convnet"."""
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(10, activation="softmax"),
        ]
    )


def quickstart():
    """The TensorFlow beginner quickstart's network."""
    return keras.Sequential(
        [
            keras.Input((28, 28)),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.Dropout(0.2),
            layers.Dense(10),
        ]
    )


def conv_stack(filters: int, count: int):
    """`count` Conv2D(filters, 3, padding="same") on 28x28x1: small on disk, heavy in arithmetic."""
    convs = [layers.Conv2D(filters, 3, padding="same", activation="relu") for _ in range(count)]
    return keras.Sequential(
        [keras.Input((28, 28, 1)), *convs, layers.GlobalAveragePooling2D(), layers.Dense(10, activation="softmax")]
    )


def conv_stack_count(filters: int, count: int) -> int:
    return 28 * 28 * 9 * filters + (count - 1) * 28 * 28 * 9 * filters * filters + filters * 10


# Counted by hand: a Dense layer is inputs x units; a Conv2D output positions x 3x3 x input channels x filters.
# Pooling is left out here (the estimate counts its windows: 1.5% more for the CNNs).
HAND_COUNTS = {
    "Seed notebook": 784 * 512 + 512 * 10,
    "Tiny and fast": 784 * 32 + 32 * 10,
    "Wider with dropout": 784 * 512 + 512 * 512 + 512 * 10,
    "Small CNN": 28 * 28 * 9 * 1 * 16 + 14 * 14 * 9 * 16 * 32 + 7 * 7 * 32 * 128 + 128 * 10,
    "Robust CNN": 28 * 28 * 9 * 1 * 16 + 14 * 14 * 9 * 16 * 32 + 7 * 7 * 32 * 128 + 128 * 10,  # augmentation: 0
    "Hard to fool": 28 * 28 * 9 * 1 * 16 + 14 * 14 * 9 * 16 * 32 + 7 * 7 * 32 * 128 + 128 * 10,  # attacks: training
}


@pytest.mark.parametrize("preset", list(PRESETS))
def test_the_estimate_for_each_preset_is_the_count_by_hand(preset):
    config = PRESETS[preset].config
    estimate = estimated_multiply_adds(config_of(build_model(config, input_shape_for(config, (28, 28)))))
    assert estimate == pytest.approx(HAND_COUNTS[preset], rel=0.1)


def test_every_preset_has_a_count_by_hand():
    assert set(HAND_COUNTS) == set(PRESETS)


@pytest.mark.parametrize(
    ("make", "by_hand"),
    [
        (keras_io_convnet, 26 * 26 * 9 * 1 * 32 + 11 * 11 * 9 * 32 * 64 + 5 * 5 * 64 * 10),
        (quickstart, 784 * 128 + 128 * 10),
        (lambda: conv_stack(256, 4), 28 * 28 * 9 * 256 + 3 * 28 * 28 * 9 * 256 * 256 + 256 * 10),
    ],
    ids=["keras-io-convnet", "tf-quickstart", "four-conv2d-256"],
)
def test_the_estimate_for_well_known_networks_is_the_count_by_hand(make, by_hand):
    assert estimated_multiply_adds(config_of(make())) == pytest.approx(by_hand, rel=0.1)


def nested_twice():
    inner = keras.Sequential([keras.Input((28, 28, 1)), layers.Conv2D(8, 3, padding="same")], name="inner")
    image = keras.Input((28, 28, 1))
    return keras.Model(image, layers.Dense(10)(layers.Flatten()(layers.Add()([inner(image), inner(image)]))))


def attention():
    rows = keras.Input((28, 28))
    return keras.Model(rows, layers.Dense(10)(layers.Flatten()(layers.MultiHeadAttention(4, 16)(rows, rows))))


def sequential_on(shape, *middle):
    return keras.Sequential([keras.Input(shape), *middle, layers.Flatten(), layers.Dense(10)])


@pytest.mark.parametrize(
    ("make", "exact"),
    [
        (nested_twice, 2 * 28 * 28 * 9 * 8 + 28 * 28 * 8 * 10),  # a nested model counts each time it is called
        (lambda: sequential_on((28, 28), layers.LSTM(64)), 28 * 4 * (28 + 64 + 1) * 64 + 64 * 10),
        (attention, 28 * (3 * (28 * 64 + 64) + 64 * 28 + 28) + 4 * 28 * 28 * (16 + 16) + 784 * 10),
        (lambda: sequential_on((28, 28, 1), layers.Conv2DTranspose(16, 3)), 28 * 28 * 9 * 16 + 30 * 30 * 16 * 10),
        (
            lambda: sequential_on((28, 28, 1), layers.DepthwiseConv2D(3, depth_multiplier=2)),
            26 * 26 * 9 * 2 + 26 * 26 * 2 * 10,
        ),
        (lambda: sequential_on((28, 28, 1), layers.SeparableConv2D(16, 3)), 26 * 26 * (9 + 16) + 26 * 26 * 16 * 10),
        (
            lambda: sequential_on((1, 28, 28), layers.Conv2D(4, 3, data_format="channels_first")),
            26 * 26 * 9 * 4 + 4 * 26 * 26 * 10,
        ),
        (lambda: sequential_on((28, 28, 1), layers.BatchNormalization(), layers.PReLU()), 784 * 10),
    ],
    ids=["nested", "lstm", "attention", "transpose", "depthwise", "separable", "channels-first", "free-layers"],
)
def test_other_layers_are_counted_as_the_docstring_says(make, exact):
    assert estimated_multiply_adds(config_of(make())) == exact


def test_parameters_and_multiply_adds_come_from_one_build(monkeypatch):
    config, builds, deserialize = config_of(keras_io_convnet()), [], keras.saving.deserialize_keras_object
    monkeypatch.setattr(
        keras.saving, "deserialize_keras_object", lambda *a, **k: builds.append(1) or deserialize(*a, **k)
    )
    cost = model_cost(config)
    assert builds == [1] and cost.parameters == keras_io_convnet().count_params()
    assert cost.multiply_adds == estimated_multiply_adds(config)


@pytest.fixture
def nothing_built(monkeypatch):
    """Fails the test if an upload gets as far as extracting a member or building a model with its weights."""

    def refuse(*args, **kwargs):
        raise AssertionError("the model was extracted or built")

    monkeypatch.setattr(core.uploads, "extract_member", refuse)
    monkeypatch.setattr(core.uploads, "load_model_path", refuse)


def test_a_model_small_on_disk_but_huge_in_arithmetic_is_refused_before_it_is_built(nothing_built):
    upload = model_to_bytes(conv_stack(256, 4))
    assert len(upload) < 10 * 2**20  # 1.8 million parameters: well within the bytes and parameters limits
    with pytest.raises(UploadError) as refusal:
        load_uploaded_model(upload)
    assert "about 1.4 billion multiply-adds to read one digit; the limit is 500 million" in str(refusal.value)
    assert "Nothing was built" in str(refusal.value)  # nothing_built fails the test if anything was


def test_a_legacy_h5_huge_in_arithmetic_is_refused_too(tmp_path, monkeypatch):
    path = tmp_path / "heavy.h5"
    conv_stack(256, 4).save(path)
    monkeypatch.setattr(core.uploads, "load_model_path", lambda *a: pytest.fail("the model was built"))
    with pytest.raises(UploadError, match="about 1.4 billion multiply-adds"):
        load_uploaded_model(path.read_bytes())


def test_a_layer_that_blows_a_digit_up_is_refused_for_its_memory(nothing_built):
    model = sequential_on((28, 28, 1), layers.UpSampling2D(30), layers.Cropping2D(((0, 830), (0, 830))))
    with pytest.raises(
        UploadError, match=f"would output 705,600 values for each digit; the limit is {MAX_LAYER_VALUES:,}"
    ):
        load_uploaded_model(model_to_bytes(model))


def widest_stack_within_the_limit() -> int:
    filters = 1
    while conv_stack_count(filters + 1, 2) <= MAX_MULTIPLY_ADDS:
        filters += 1
    return filters


def test_a_model_just_under_the_limit_loads_and_one_just_over_does_not():
    filters = widest_stack_within_the_limit()
    uploaded = load_uploaded_model(model_to_bytes(conv_stack(filters, 2)))
    assert uploaded.multiply_adds == conv_stack_count(filters, 2) > 0.98 * MAX_MULTIPLY_ADDS
    with pytest.raises(UploadError, match="multiply-adds to read one digit"):
        load_uploaded_model(model_to_bytes(conv_stack(filters + 1, 2)))


def test_the_card_says_the_multiply_adds_and_old_cards_still_load(mnist):
    prepared = prepare_upload(load_uploaded_model(model_to_bytes(quickstart())), mnist)
    assert prepared.card.multiply_adds == 784 * 128 + 128 * 10  # the softmax Digit Lab adds costs nothing here
    stored = dataclasses.asdict(prepared.card)  # as RunStore keeps it
    assert stored["multiply_adds"] == prepared.card.multiply_adds
    old = {key: value for key, value in stored.items() if key != "multiply_adds"}
    assert ModelCard(**old).multiply_adds == 0


def test_prepare_upload_counts_a_model_loaded_without_an_estimate(mnist):
    model = quickstart()
    card = prepare_upload(core.uploads.UploadedModel(model, "mnist", model.count_params(), ".keras"), mnist).card
    assert card.multiply_adds == 784 * 128 + 128 * 10 and np.isfinite(card.test_loss)
