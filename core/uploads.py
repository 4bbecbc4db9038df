"""Uploaded models, checked before Keras builds or extracts anything.

A hostile file gets a clear refusal with bounded memory and disk, and leaves nothing behind:
1. the size of the upload;
2. the zip's directory: how many members, which names, how large once unpacked;
3. config.json, read with a size cap: how many layers, and how many parameters the model would have,
   counted without allocating any weights (Keras' StatelessScope, in a throwaway thread);
4. only then is the model built, with `safe_mode` (no Lambda layers, no custom code), from a private
   folder that is removed on every path;
5. its input and output: one image in, ten probabilities out.
"""

from __future__ import annotations

import io
import json
import shutil
import struct
import tempfile
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

from core.runs import first_line

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
MAX_MEMBERS = 8
MAX_UNPACKED_BYTES = 200 * 1024 * 1024
MAX_CONFIG_BYTES = 1024 * 1024
MAX_LAYERS = 200
MAX_PARAMETERS = 20_000_000
CONFIG_MEMBER = "config.json"
WEIGHTS_MEMBER = "model.weights.h5"
KERAS_MEMBERS = (CONFIG_MEMBER, "metadata.json", WEIGHTS_MEMBER)  # what Keras itself writes for a plain model
END_OF_DIRECTORY = b"PK\x05\x06"
COPY_CHUNK = 1024 * 1024
# One 28x28 or 8x8 image in whatever layout people save: flat, 2-D, channels last or channels first.
ACCEPTED_INPUT_SHAPES = {
    shape: dataset
    for side, dataset in ((28, "mnist"), (8, "digits"))
    for shape in ((side * side,), (side, side), (side, side, 1), (1, side, side))
}


class UploadError(Exception):
    """An uploaded model was refused; the message is meant for the user."""


@dataclass(frozen=True)
class UploadedModel:
    model: object  # a keras.Model
    dataset: str  # which dataset its input shape reads: "mnist" or "digits"
    parameters: int


def load_uploaded_model(data: bytes, max_bytes: int = MAX_UPLOAD_BYTES) -> UploadedModel:
    """Check an uploaded `.keras` file step by step (see the module's docstring) and load it."""
    if not data:
        raise UploadError("The file is empty.")
    if len(data) > max_bytes:
        raise UploadError(f"The file is {len(data) / 2**20:.1f} MB; the limit is {max_bytes / 2**20:.0f} MB.")
    archive = open_archive(data)
    with archive:
        members = checked_members(archive)
        config = parse_config(read_member(archive, members[CONFIG_MEMBER], MAX_CONFIG_BYTES))
        parameters = count_parameters(config)
        folder = Path(tempfile.mkdtemp(prefix="digitlab-upload-"))
        try:
            for name in (CONFIG_MEMBER, WEIGHTS_MEMBER):
                extract_member(archive, members[name], folder / name)
            model = load_model_folder(folder)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    return UploadedModel(model, check_input_and_output(model), parameters)


def open_archive(data: bytes) -> zipfile.ZipFile:
    """The zip, once its end record shows a small directory (Python would read any directory whole)."""
    not_keras = "This is not a .keras file: a .keras model is a zip archive, and this file is not one."
    end = data.rfind(END_OF_DIRECTORY, max(0, len(data) - 65_557))
    if end < 0 or len(data) - end < 22:
        raise UploadError(not_keras)
    entries = struct.unpack("<H", data[end + 10 : end + 12])[0]
    if entries > MAX_MEMBERS:
        raise UploadError(f"The archive holds {entries:,} files; a .keras model holds at most {len(KERAS_MEMBERS)}.")
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError) as error:
        raise UploadError(not_keras) from error


def checked_members(archive: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    """The archive's members by name, refused unless they are what Keras writes, at a size Digit Lab accepts."""
    members = {}
    for info in archive.infolist():
        if info.filename not in KERAS_MEMBERS or info.filename in members:
            name = info.filename[:80].encode("unicode_escape").decode()
            raise UploadError(
                f"The archive holds {name!r}; a .keras model of a digit classifier holds only "
                f"{', '.join(KERAS_MEMBERS)} (models with custom assets are not accepted)."
            )
        members[info.filename] = info
    missing = [name for name in (CONFIG_MEMBER, WEIGHTS_MEMBER) if name not in members]
    if missing:
        raise UploadError(f"This zip is not a Keras model: it lacks {' and '.join(missing)}.")
    unpacked = sum(info.file_size for info in members.values())
    if unpacked > MAX_UNPACKED_BYTES:
        raise UploadError(
            f"Unpacked, the model would take {unpacked / 2**20:,.0f} MB; "
            f"the limit is {MAX_UNPACKED_BYTES / 2**20:.0f} MB."
        )
    if members[CONFIG_MEMBER].file_size > MAX_CONFIG_BYTES:
        raise UploadError(
            f"Its config.json is {members[CONFIG_MEMBER].file_size / 2**20:,.1f} MB; "
            f"the limit is {MAX_CONFIG_BYTES / 2**20:.0f} MB."
        )
    return members


def read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    """A member's bytes, never more than `limit` (zipfile also checks the declared size and the CRC)."""
    try:
        with archive.open(info) as member:
            data = member.read(limit + 1)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError) as error:
        raise UploadError(f"The archive is damaged: {info.filename} cannot be read.") from error
    if len(data) > limit:
        raise UploadError(f"{info.filename} is larger than the {limit / 2**20:.0f} MB allowed.")
    return data


def extract_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path) -> None:
    """Copy one member out in chunks, stopping at its declared size (already within the limits)."""
    written = 0
    try:
        with archive.open(info) as member, open(target, "wb") as file:
            while chunk := member.read(COPY_CHUNK):
                written += len(chunk)
                if written > info.file_size:
                    raise UploadError(f"The archive is damaged: {info.filename} is longer than it says.")
                file.write(chunk)
    except (zipfile.BadZipFile, EOFError, ValueError, RuntimeError) as error:
        raise UploadError(f"The archive is damaged: {info.filename} cannot be read.") from error
    except OSError as error:
        raise UploadError(f"The server has no room to check this model ({error.strerror or error}).") from error


def parse_config(data: bytes) -> dict:
    """The model's config, refused when it is not a model or has more layers than a digit classifier needs."""
    try:
        config = json.loads(data)
    except (ValueError, RecursionError) as error:
        raise UploadError("Its config.json is not valid JSON.") from error
    if not isinstance(config, dict) or not isinstance(config.get("config"), dict):
        raise UploadError("Its config.json does not describe a Keras model.")
    layers = count_layers(config)
    if layers > MAX_LAYERS:
        raise UploadError(f"The model has {layers:,} layers; the limit is {MAX_LAYERS}.")
    return config


def count_layers(config: dict, depth: int = 0) -> int:
    """Layers in a model config, nested models included."""
    layers = config.get("config", {}).get("layers", []) if isinstance(config.get("config"), dict) else []
    if depth > 8 or not isinstance(layers, list):
        return MAX_LAYERS + 1
    return sum(1 + count_layers(layer, depth + 1) for layer in layers if isinstance(layer, dict))


def count_parameters(config: dict) -> int:
    """How many parameters the model would have, counted without allocating them; refuses above the limit."""
    outcome: dict = {}
    config = {key: value for key, value in config.items() if key != "compile_config"}  # an optimizer: not needed

    def build_without_weights() -> None:  # a thread of its own: Keras keeps the unallocated weights per thread
        import keras

        try:
            with keras.StatelessScope(initialize_variables=False):
                model = keras.saving.deserialize_keras_object(config, safe_mode=True)
                outcome["parameters"] = int(model.count_params())
        except Exception as error:
            outcome["error"] = error

    thread = threading.Thread(target=build_without_weights, name="count-parameters", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise UploadError(keras_refusal(outcome["error"])) from outcome["error"]
    parameters = outcome["parameters"]
    if parameters > MAX_PARAMETERS:
        raise UploadError(
            f"The model would have {parameters:,} parameters; the limit is {MAX_PARAMETERS:,}. Nothing was built."
        )
    return parameters


def load_model_folder(folder: Path):
    """Build the model from our own folder of checked members (never Keras' temporary extraction)."""
    import keras

    try:
        return keras.saving.load_model(folder, compile=False, safe_mode=True)
    except Exception as error:
        raise UploadError(keras_refusal(error)) from error


def keras_refusal(error: Exception) -> str:
    """What to tell the user when Keras refuses a model."""
    text = str(error)
    if "safe_mode" in text or "lambda" in text.lower():
        return "The model contains arbitrary code (a Lambda layer); it was not loaded."
    if "isn't built" in text or "not built" in text:
        return "The model has no fixed input shape (add keras.Input to it before saving)."
    return f"Keras could not load this model: {first_line(error)}"


def check_input_and_output(model) -> str:
    """The dataset the model reads; UploadError unless it takes one image and gives ten probabilities."""
    if len(model.inputs) != 1:
        raise UploadError(f"The model has {len(model.inputs)} inputs; a digit classifier reads one image.")
    if len(model.outputs) != 1:
        raise UploadError(f"The model has {len(model.outputs)} outputs; a digit classifier gives one answer.")
    input_shape = tuple(model.inputs[0].shape[1:])
    if input_shape not in ACCEPTED_INPUT_SHAPES:
        accepted = ", ".join(str(shape) for shape in ACCEPTED_INPUT_SHAPES)
        raise UploadError(f"The model reads inputs of shape {input_shape}; Digit Lab can feed it one of {accepted}.")
    output_shape = tuple(model.outputs[0].shape[1:])
    if output_shape != (10,):
        raise UploadError(f"The model has output shape {output_shape}; a digit classifier needs 10 outputs.")
    return ACCEPTED_INPUT_SHAPES[input_shape]


def evaluate_upload(uploaded: UploadedModel, dataset) -> tuple[float, float]:
    """Test loss and accuracy of an uploaded model on its dataset; UploadError when the model fails on it."""
    from core.model import evaluate_model

    try:
        return evaluate_model(uploaded.model, dataset)
    except Exception as error:  # a model that builds can still fail when called: wrong dtypes, NaNs, ...
        raise UploadError(f"The model failed on the test set: {first_line(error)}") from error
