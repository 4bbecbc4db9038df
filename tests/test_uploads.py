"""core.uploads: good models in the shapes people use, and hostile files refused before anything is built."""

import io
import json
import tempfile
import zipfile

import keras
import numpy as np
import pytest

from core.config import SEED
from core.model import build_model, evaluate_model, model_to_bytes
from core.upload_card import prepare_upload
from core.uploads import MAX_MEMBERS, MAX_PARAMETERS, UploadError, load_uploaded_model

MB = 1024 * 1024


@pytest.fixture(autouse=True)
def private_temp_folder(tmp_path, monkeypatch):
    """Every temporary file of the code under test lands here, so the tests can see that none is left."""
    folder = tmp_path / "temp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    yield folder
    # TensorFlow's autograph writes each function it converts the first time in a process to a temporary module
    # that it removes at exit: not an upload's file (it shows when this file's tests run first)
    left = [path.name for path in folder.iterdir() if not path.name.startswith("__autograph_generated_file")]
    assert left == [], "an upload left temporary files behind"


def zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def zip_with_a_huge_member(name: str, megabytes: int, others: dict[str, bytes]) -> bytes:
    """A small file that unpacks to `megabytes` MB: zeros compress 200-fold even at the fastest level."""
    buffer, zeros = io.BytesIO(), bytes(MB)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for other, data in others.items():
            archive.writestr(other, data)
        with archive.open(name, "w", force_zip64=True) as member:
            for _ in range(megabytes):
                member.write(zeros)
    return buffer.getvalue()


def keras_members(model) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(model_to_bytes(model))) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def functional(inputs, outputs) -> keras.Model:
    return keras.Model(inputs, outputs)


def two_inputs():
    first, second = keras.Input((784,)), keras.Input((784,))
    return functional([first, second], keras.layers.Dense(10)(keras.layers.Concatenate()([first, second])))


def two_outputs():
    image = keras.Input((784,))
    return functional(image, [keras.layers.Dense(10)(image), keras.layers.Dense(10)(image)])


def lambda_model():
    image = keras.Input((784,))
    return functional(image, keras.layers.Dense(10)(keras.layers.Lambda(lambda x: x * 2)(image)))


def huge_layer_config() -> bytes:
    """The seed's config with Dense(400000): 314 million parameters if anyone built it."""
    members = keras_members(build_model(SEED, (784,)))
    config = json.loads(members["config.json"])
    for layer in config["config"]["layers"]:
        layer.pop("build_config", None)
        if layer["class_name"] == "Dense" and layer["config"]["units"] == 512:
            layer["config"]["units"] = 400_000
    return zip_of({**members, "config.json": json.dumps(config).encode()})


def quickstart_model():
    """The TensorFlow beginner quickstart's network: it reads (28, 28) images."""
    return keras.Sequential(
        [
            keras.Input((28, 28)),
            keras.layers.Flatten(),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(10),
        ]
    )


def channels_first_model():
    return keras.Sequential(
        [
            keras.Input((1, 28, 28)),
            keras.layers.Permute((2, 3, 1)),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


def h5_bytes(model, tmp_path) -> bytes:
    path = tmp_path / "model.h5"
    model.save(path)  # Keras' legacy HDF5 format, as in Keras 2 tutorials
    return path.read_bytes()


@pytest.mark.parametrize(
    ("model", "dataset"),
    [
        (lambda: build_model(SEED, (784,)), "mnist"),
        (lambda: build_model(SEED, (64,)), "digits"),
        (quickstart_model, "mnist"),
        (channels_first_model, "mnist"),
    ],
    ids=["seed", "seed-8x8", "quickstart-28x28", "channels-first"],
)
@pytest.mark.parametrize("file_format", [".keras", ".h5"])
def test_models_in_the_shapes_and_formats_people_use_are_accepted_and_evaluated(
    model, dataset, file_format, mnist, digits, tmp_path
):
    original = model()
    data = model_to_bytes(original) if file_format == ".keras" else h5_bytes(original, tmp_path)
    uploaded = load_uploaded_model(data)
    assert uploaded.dataset == dataset and uploaded.parameters == original.count_params()
    assert uploaded.file_format == file_format
    test_set = mnist if dataset == "mnist" else digits
    prepared = prepare_upload(uploaded, test_set)
    assert prepared.card.input_shape == tuple(original.inputs[0].shape[1:]) and prepared.card.pixel_scale == "0 to 1"
    expected = evaluate_model(original, test_set)[1]
    assert prepared.card.test_accuracy == pytest.approx(expected, abs=1e-6)


def test_raw_scores_get_a_softmax_and_the_card_says_so(mnist):
    prepared = prepare_upload(load_uploaded_model(model_to_bytes(quickstart_model())), mnist)
    probabilities = np.asarray(prepared.model(np.zeros((2, 28, 28), np.float32)))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert any("softmax" in note for note in prepared.card.notes)
    assert prepared.card.layers[-1]["type"] == "Softmax"


def test_a_model_that_reads_0_to_255_pixels_is_fed_them(trained_run, model_dir, mnist):
    from core.store import RunStore

    trained = RunStore(model_dir).load_model(trained_run)  # reads [0, 1]
    raw = keras.Sequential([keras.Input((784,)), keras.layers.Rescaling(1 / 255), *trained.layers])  # reads 0-255
    prepared = prepare_upload(load_uploaded_model(model_to_bytes(raw)), mnist)
    assert prepared.card.pixel_scale == "0 to 255" and any("0 to 255" in note for note in prepared.card.notes)
    assert prepared.card.test_accuracy == pytest.approx(evaluate_model(trained, mnist)[1], abs=1e-3)


def test_a_legacy_h5_with_a_lambda_layer_is_refused(tmp_path):
    with pytest.raises(UploadError, match="arbitrary code"):
        load_uploaded_model(h5_bytes(lambda_model(), tmp_path))


@keras.saving.register_keras_serializable(package="someone")
class Doubling(keras.layers.Layer):
    def call(self, inputs):
        return inputs * 2


def test_custom_layers_are_refused_even_when_registered_here(tmp_path):
    image = keras.Input((784,))
    model = functional(image, keras.layers.Dense(10)(Doubling()(image)))
    with pytest.raises(UploadError, match="custom layer, 'Doubling'"):
        load_uploaded_model(model_to_bytes(model))


@pytest.mark.parametrize(
    ("make_bytes", "message"),
    [
        (lambda: b"", "empty"),
        (lambda: b"just some text", "not a Keras model"),
        (lambda: zip_of({"hello.txt": b"hi"}), r"holds 'hello.txt'"),
        (lambda: zip_of({"config.json": b"{}"}), "lacks model.weights.h5"),
        (lambda: zip_of({f"{index}.bin": b"" for index in range(MAX_MEMBERS + 1)}), "holds 9 files"),
        (lambda: zip_of({"config.json": b"[1, 2", "model.weights.h5": b""}), "not valid JSON"),
        (lambda: zip_with_a_huge_member("config.json", 256, {"model.weights.h5": b""}), "limit is 200 MB"),
        (lambda: zip_with_a_huge_member("config.json", 20, {"model.weights.h5": b""}), "config.json is 20.0 MB"),
        (lambda: zip_with_a_huge_member("model.weights.h5", 250, {"config.json": b"{}"}), "limit is 200 MB"),
        (huge_layer_config, f"parameters; the limit is {MAX_PARAMETERS:,}"),
        (lambda: model_to_bytes(build_model(SEED, (100,))), r"inputs of shape \(100,\)"),
        (lambda: model_to_bytes(build_model(SEED, (784,), num_classes=5)), r"output shape \(5,\)"),
        (lambda: model_to_bytes(two_inputs()), "2 inputs"),
        (lambda: model_to_bytes(two_outputs()), "2 outputs"),
        (lambda: model_to_bytes(lambda_model()), "arbitrary code"),
    ],
    ids=[
        "empty",
        "not-zip",
        "foreign-member",
        "no-weights",
        "many-members",
        "bad-json",
        "config-bomb",
        "big-config",
        "weights-bomb",
        "huge-layer",
        "wrong-input",
        "wrong-output",
        "two-inputs",
        "two-outputs",
        "lambda",
    ],
)
def test_hostile_and_wrong_uploads_are_refused_with_their_reason(make_bytes, message):
    with pytest.raises(UploadError, match=message):
        load_uploaded_model(make_bytes())


def test_too_big_upload_is_refused_before_it_is_read():
    with pytest.raises(UploadError, match="limit is 1 MB"):
        load_uploaded_model(model_to_bytes(build_model(SEED, (784,))), max_bytes=MB)
