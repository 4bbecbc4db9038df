"""Uploaded models (.keras, or legacy .h5), checked before Keras builds or extracts anything.

A hostile file gets a clear refusal with bounded memory and disk, and leaves nothing behind:
1. the size of the upload;
2. for a .keras zip, the archive's directory: how many members, which names, how large once unpacked;
3. the model's config (config.json, or the .h5 file's `model_config`), read with a size cap: only Keras' own
   layer classes (no Lambda, no custom code), how many layers, how many parameters the model would have and how
   much arithmetic it asks to read one digit (its multiply-adds, and its largest layer output), all from one build
   without any weights (Keras' StatelessScope, in a throwaway thread);
4. only then is the model built, with `safe_mode`, from a private folder that is removed on every path;
5. its input and output: one image in (28x28 or 8x8, in any of the usual layouts), ten outputs.
Then core.upload_card fits it to Digit Lab and keeps it as a run.
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

from core.model_cost import ModelCost, in_words, walk_arithmetic
from core.runs import first_line

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
MAX_MEMBERS = 8
MAX_MODEL_UNPACKED_BYTES = 200 * 1024 * 1024
MAX_CONFIG_BYTES = 1024 * 1024
MAX_LAYERS = 200
MAX_PARAMETERS = 20_000_000
# The arithmetic to read one digit, as `estimated_multiply_adds` counts it: Digit Lab's presets need 25,000 (Tiny
# and fast) to 1.24 million (Small CNN), the largest network its panel builds (a CNN of 64 filters and four dense
# layers of 1,024) 24.6 million; the keras-io MNIST convnet 2.5 million, the TensorFlow quickstart 0.1 million, a
# small ResNet (a stem and five residual blocks of 32 and 64 filters) 69 million, a VGG-style net (two Conv2D each
# of 64, 128 and 256 filters) 117 million. 500 million is 7x that ResNet and 20x anything Digit Lab trains, and
# refuses a 7 MB file of four Conv2D(256) layers (1.4 billion). Two CPU cores read 90 to 160 billion multiply-adds
# a second: a model at the limit takes about 35 s for the 10,000 test digits, the four Conv2D(256) about 90 s.
MAX_MULTIPLY_ADDS = 500_000_000
# The largest output of any layer, in values per digit: 50,176 at most in the models above (64 filters on 28x28),
# 200,704 in the four Conv2D(256). Digit Lab feeds test digits in batches of 1,024, so 500,000 values make 2 GB of
# float32 per layer output: a bound on memory that multiply-adds alone miss (UpSampling2D or Resizing blow a digit
# up at no arithmetic).
MAX_LAYER_VALUES = 500_000
CONFIG_MEMBER = "config.json"
WEIGHTS_MEMBER = "model.weights.h5"
KERAS_MEMBERS = (CONFIG_MEMBER, "metadata.json", WEIGHTS_MEMBER)  # what Keras itself writes for a plain model
END_OF_DIRECTORY = b"PK\x05\x06"
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
UNSAFE_LAYERS = {"Lambda", "TFSMLayer", "TorchModuleWrapper", "JaxLayer", "FlaxLayer"}  # they run arbitrary code
MODEL_CLASSES = {"Sequential", "Functional", "Model"}
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
    file_format: str  # ".keras" or ".h5"
    multiply_adds: int = 0  # to read one digit: `estimated_multiply_adds`


def load_uploaded_model(data: bytes, max_bytes: int = MAX_UPLOAD_BYTES) -> UploadedModel:
    """Check an uploaded model file step by step (see the module's docstring) and load it."""
    if not data:
        raise UploadError("The file is empty.")
    if len(data) > max_bytes:
        raise UploadError(f"The file is {len(data) / 2**20:.1f} MB; the limit is {max_bytes / 2**20:.0f} MB.")
    folder = Path(tempfile.mkdtemp(prefix="digitlab-upload-"))
    try:
        if data.startswith(HDF5_SIGNATURE):
            (folder / "upload.h5").write_bytes(data)
            (model, cost), file_format = load_h5(folder / "upload.h5"), ".h5"
        else:
            (model, cost), file_format = load_keras_zip(data, folder), ".keras"
    except OSError as error:
        raise UploadError(f"The server has no room to check this model ({error.strerror or error}).") from error
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    dataset = check_input_and_output(model)
    return UploadedModel(model, dataset, model.count_params(), file_format, cost.multiply_adds)


def load_keras_zip(data: bytes, folder: Path) -> tuple[object, ModelCost]:
    """A .keras zip: its directory and config checked, then only its config and weights extracted and loaded."""
    with open_archive(data) as archive:
        members = checked_members(archive)
        cost = model_cost(parse_config(read_member(archive, members[CONFIG_MEMBER], MAX_CONFIG_BYTES)))
        for name in (CONFIG_MEMBER, WEIGHTS_MEMBER):
            extract_member(archive, members[name], folder / name)
    return load_model_path(folder), cost


def load_h5(path: Path) -> tuple[object, ModelCost]:
    """A legacy .h5 file (Keras 2 tutorials, the book's earlier editions): its config checked, then loaded."""
    import h5py

    try:
        with h5py.File(path, "r") as file:
            if "model_config" not in file.attrs:
                raise UploadError("This .h5 file holds weights only, not a model (save it with model.save).")
            if file.attrs.get_id("model_config").get_storage_size() > MAX_CONFIG_BYTES:
                raise UploadError(f"Its model config is larger than the {MAX_CONFIG_BYTES / 2**20:.0f} MB allowed.")
            text = file.attrs["model_config"]
    except UploadError:
        raise
    except Exception as error:  # h5py raises OSError, KeyError, ValueError... for damaged files
        raise UploadError("This .h5 file is damaged and cannot be read.") from error
    cost = model_cost(parse_config(text.encode() if isinstance(text, str) else bytes(text)), legacy=True)
    return load_model_path(path), cost


def open_archive(data: bytes) -> zipfile.ZipFile:
    """The zip, once its end record shows a small directory (Python would read any directory whole)."""
    not_keras = (
        "This is not a Keras model: a .keras file is a zip archive and a legacy .h5 file an HDF5 file; this is neither."
    )
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
    if unpacked > MAX_MODEL_UNPACKED_BYTES:
        raise UploadError(
            f"Unpacked, the model would take {unpacked / 2**20:,.0f} MB; "
            f"the limit is {MAX_MODEL_UNPACKED_BYTES / 2**20:.0f} MB."
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
    check_layer_classes(config)
    return config


def check_layer_classes(config: dict) -> None:
    """Only Keras' own layers (and Digit Lab's registered ones) may be built: no Lambda, no custom code."""
    allowed = known_layer_classes()
    for layer in walk_layers(config):
        name = str(layer.get("class_name", ""))
        if name in UNSAFE_LAYERS:
            raise UploadError(f"The model contains arbitrary code (a {name[:40]} layer); it was not loaded.")
        if name not in allowed:
            shown = name[:40].encode("unicode_escape").decode()
            raise UploadError(f"The model uses a custom layer, {shown!r}; only Keras' own layers can be uploaded.")


def walk_layers(config: dict, depth: int = 0):
    """Every layer config in a model config, nested models included."""
    inner = config.get("config") if isinstance(config.get("config"), dict) else {}
    for layer in inner.get("layers", []) if depth <= 8 else []:
        if isinstance(layer, dict):
            yield layer
            yield from walk_layers(layer, depth + 1)


def known_layer_classes() -> set[str]:
    import keras

    import core.augmentation  # noqa: F401  (registers Digit Lab's own layers)

    built_in = {name for name in dir(keras.layers) if isinstance(getattr(keras.layers, name), type)}
    own = {name.split(">")[-1] for name in keras.saving.get_custom_objects() if name.startswith("digitlab>")}
    return (built_in | MODEL_CLASSES | own) - UNSAFE_LAYERS


def count_layers(config: dict, depth: int = 0) -> int:
    """Layers in a model config, nested models included."""
    layers = config.get("config", {}).get("layers", []) if isinstance(config.get("config"), dict) else []
    if depth > 8 or not isinstance(layers, list):
        return MAX_LAYERS + 1
    return sum(1 + count_layers(layer, depth + 1) for layer in layers if isinstance(layer, dict))


def model_cost(config: dict, legacy: bool = False) -> ModelCost:
    """The model's parameters and arithmetic per digit, from one build without weights; UploadError above
    MAX_PARAMETERS, MAX_MULTIPLY_ADDS or MAX_LAYER_VALUES. `legacy` reads a Keras 2 config, as .h5 files hold."""
    cost = measure_without_weights(config, legacy)
    if cost.parameters > MAX_PARAMETERS:
        raise UploadError(
            f"The model would have {cost.parameters:,} parameters; the limit is {MAX_PARAMETERS:,}. Nothing was built."
        )
    if cost.multiply_adds > MAX_MULTIPLY_ADDS:
        raise UploadError(
            f"The model would need about {in_words(cost.multiply_adds)} multiply-adds to read one digit; the limit "
            f"is {in_words(MAX_MULTIPLY_ADDS)} (Digit Lab's small CNN needs about 1.2 million). It would take far "
            f"too long to test. Nothing was built."
        )
    if cost.largest_layer_values > MAX_LAYER_VALUES:
        raise UploadError(
            f"One of the model's layers would output {cost.largest_layer_values:,} values for each digit; the limit "
            f"is {MAX_LAYER_VALUES:,}. It would take too much memory to test. Nothing was built."
        )
    return cost


def count_parameters(config: dict, legacy: bool = False) -> int:
    """How many parameters the model would have, counted without allocating them; refuses above the limits
    (see `model_cost`, which also gives the multiply-adds from the same build)."""
    return model_cost(config, legacy).parameters


def estimated_multiply_adds(config: dict, legacy: bool = False) -> int:
    """Multiply-adds to read ONE digit, for a Keras model config as config.json holds it (what `parse_config`
    returns), counted from a build without weights. See `multiply_adds_of` for what is counted."""
    return measure_without_weights(config, legacy).multiply_adds


# ---- The arithmetic of a model -----------------------------------------------------------------------------


def load_model_path(path: Path):
    """Build the checked model: a folder of checked .keras members (never Keras' own temporary extraction), or
    a checked .h5 file."""
    import keras

    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
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


# ---- Fitting an upload to Digit Lab ---------------------------------------------------------------------------


def measure_without_weights(config: dict, legacy: bool = False) -> ModelCost:
    """Build the model from its config without allocating weights (Keras' StatelessScope; a thread of its own, as
    Keras keeps the unallocated weights per thread), once, and count what it asks. No limit is checked here."""
    outcome: dict = {}
    config = {key: value for key, value in config.items() if key != "compile_config"}  # an optimizer: not needed

    def build_without_weights() -> None:
        import keras

        try:
            with keras.StatelessScope(initialize_variables=False):
                if legacy:
                    from keras.src.legacy.saving.saving_utils import model_from_config  # Keras' own .h5 reader

                    model = model_from_config(config)
                else:
                    model = keras.saving.deserialize_keras_object(config, safe_mode=True)
                parameters = int(model.count_params())
        except Exception as error:
            outcome["error"] = error
            return
        try:
            outcome["cost"] = ModelCost(parameters, *walk_arithmetic(model))
        except Exception as error:  # a structure the walk does not know: refused rather than let through uncounted
            outcome["walk error"] = error

    thread = threading.Thread(target=build_without_weights, name="count-parameters", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise UploadError(keras_refusal(outcome["error"])) from outcome["error"]
    if "walk error" in outcome:
        raise UploadError(
            f"Digit Lab could not work out how much arithmetic this model needs ({first_line(outcome['walk error'])})."
        ) from outcome["walk error"]
    return outcome["cost"]
