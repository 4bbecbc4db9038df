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
Then `prepare_upload` fits it to Digit Lab: a softmax for models that output raw scores, a rescaling for models
that read pixels as 0-255, its test accuracy, and a card that says all of it.
"""

from __future__ import annotations

import io
import json
import math
import shutil
import struct
import tempfile
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.runs import Stopped, first_line

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
MAX_MEMBERS = 8
MAX_UNPACKED_BYTES = 200 * 1024 * 1024
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


@dataclass(frozen=True)
class ModelCost:
    """What a model asks, counted from its config without allocating any weights."""

    parameters: int
    multiply_adds: int  # to read one digit: see `multiply_adds_of`
    largest_layer_values: int  # the largest output of a layer, in values per digit


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


def in_words(count: int) -> str:
    """A large count as a teacher reads it: "1.4 billion", "300 million", "52,000"."""
    for size, word in ((1e12, "trillion"), (1e9, "billion"), (1e6, "million")):
        if count >= size:
            value = count / size
            return f"{value:.1f}".removesuffix(".0") + f" {word}" if value < 10 else f"{value:,.0f} {word}"
    return f"{count:,}"


# ---- The arithmetic of a model -----------------------------------------------------------------------------


def multiply_adds_of(model) -> int:
    """Multiply-adds for ONE digit of a built model (weights allocated or not), from its layers' input and output
    shapes:
    - Dense: input features x units, times the positions when its input has more than one axis;
    - Conv1D/2D/3D: output positions x kernel volume x input channels / groups x filters;
    - Conv1D/2D/3DTranspose: input positions x kernel volume x input channels x filters;
    - DepthwiseConv1D/2D: output positions x kernel volume x channels x depth multiplier;
    - SeparableConv1D/2D: that depthwise part plus a pointwise one (output positions x channels x filters);
    - attention (MultiHeadAttention, GroupQueryAttention, Attention, AdditiveAttention) and Dot: their
      projections and their query x key products; pooling: one per value in each window;
    - any other layer with weights that are not just per-value scales (LSTM, GRU, TimeDistributed, EinsumDense...):
      its parameters times its input positions;
    - nested models (Sequential or Functional inside): their own layers, each time they are called.
    Everything else costs 0 here: activations, normalisation, dropout, reshaping, merging by Add or Concatenate,
    rescaling and augmentation; they cost about one operation per value, small beside the layers above."""
    return walk_arithmetic(model)[0]


def walk_arithmetic(model, depth: int = 0) -> tuple[int, int]:
    """(multiply-adds for one digit, the largest layer output in values per digit) of a built model."""
    import keras

    total, largest = 0, 0
    for node in graph_nodes(model):
        inputs = [per_digit_shape(tensor) for tensor in node.input_tensors]
        outputs = [per_digit_shape(tensor) for tensor in node.output_tensors]
        largest = max([largest, *(math.prod(shape) for shape in outputs)])
        if isinstance(node.operation, keras.Model) and depth < 8:
            inner_total, inner_largest = walk_arithmetic(node.operation, depth + 1)
            total, largest = total + inner_total, max(largest, inner_largest)
        else:
            total += layer_multiply_adds(node.operation, inputs, outputs)
    return total, largest


def graph_nodes(model) -> list:
    """Every call of a layer in the model's graph (a Sequential keeps its graph in a Functional model inside)."""
    graph = getattr(model, "_functional", None) or model
    by_depth = getattr(graph, "_nodes_by_depth", None)
    if not isinstance(by_depth, dict):
        raise ValueError(f"the structure of {type(model).__name__} models cannot be checked")
    return [node for nodes in by_depth.values() for node in nodes]


def per_digit_shape(tensor) -> tuple[int, ...]:
    """A tensor's shape without its batch axis (an axis of unknown length counts 1)."""
    return tuple(int(size) if size is not None else 1 for size in tuple(tensor.shape)[1:])


def layer_multiply_adds(layer, inputs: list[tuple[int, ...]], outputs: list[tuple[int, ...]]) -> int:
    """One call of one layer, for one digit: see `multiply_adds_of`."""
    from keras import layers as kl

    x = inputs[0] if inputs else ()
    y = outputs[0] if outputs else ()
    channels_last = getattr(layer, "data_format", "channels_last") == "channels_last"
    x_spatial, x_channels = ((x[:-1], x[-1]) if channels_last else (x[1:], x[0])) if x else ((), 1)
    y_spatial = (y[:-1] if channels_last else y[1:]) if y else ()
    kernel = math.prod(getattr(layer, "kernel_size", ()) or (1,))
    if isinstance(layer, kl.Dense):
        return math.prod(x[:-1]) * (x[-1] if x else 1) * layer.units
    if isinstance(layer, (kl.Conv1D, kl.Conv2D, kl.Conv3D)):
        return math.prod(y_spatial) * kernel * x_channels // layer.groups * layer.filters
    if isinstance(layer, (kl.Conv1DTranspose, kl.Conv2DTranspose, kl.Conv3DTranspose)):
        return math.prod(x_spatial) * kernel * x_channels * layer.filters
    if isinstance(layer, (kl.DepthwiseConv1D, kl.DepthwiseConv2D)):
        return math.prod(y_spatial) * kernel * x_channels * layer.depth_multiplier
    if isinstance(layer, (kl.SeparableConv1D, kl.SeparableConv2D)):
        return math.prod(y_spatial) * x_channels * layer.depth_multiplier * (kernel + layer.filters)
    if isinstance(layer, (kl.MultiHeadAttention, kl.GroupQueryAttention)):
        query, value = inputs[0], inputs[1] if len(inputs) > 1 else inputs[0]
        queries, keys = math.prod(query[:-1]), math.prod(value[:-1])
        heads = getattr(layer, "num_heads", None) or layer.num_query_heads
        widths = (layer.key_dim + layer.value_dim) if hasattr(layer, "key_dim") else 2 * layer.head_dim
        return layer.count_params() * max(queries, keys) + heads * queries * keys * widths
    if isinstance(layer, (kl.Attention, kl.AdditiveAttention)):
        query, value = inputs[0], inputs[1] if len(inputs) > 1 else inputs[0]
        return 2 * math.prod(query[:-1]) * math.prod(value[:-1]) * query[-1]
    if isinstance(layer, kl.Dot):
        axes = layer.axes if isinstance(layer.axes, (list, tuple)) else (layer.axes, layer.axes)
        first = (None, *x)  # with its batch axis, as `axes` counts
        return math.prod(y) * first[axes[0]] if len(x) >= 1 else 0
    if isinstance(
        layer,
        (
            kl.MaxPooling1D,
            kl.MaxPooling2D,
            kl.MaxPooling3D,
            kl.AveragePooling1D,
            kl.AveragePooling2D,
            kl.AveragePooling3D,
        ),
    ):
        return math.prod(y) * math.prod(layer.pool_size)
    if isinstance(layer, scale_only_layers()) or not layer.weights:
        return 0
    return layer.count_params() * math.prod(x[:-1])


def scale_only_layers() -> tuple[type, ...]:
    """Layers whose weights scale or look up values one by one (normalisation, PReLU, Embedding): no product."""
    from keras import layers as kl

    names = (
        "BatchNormalization",
        "LayerNormalization",
        "GroupNormalization",
        "UnitNormalization",
        "RMSNormalization",
        "Normalization",
        "PReLU",
        "Embedding",
    )
    return tuple(getattr(kl, name) for name in names if hasattr(kl, name))


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

PROBE_IMAGES = 1000  # test images used to tell raw scores from probabilities and 0-255 models from 0-1 ones
CHANCE = 0.5  # an accuracy below this on [0, 1] pixels, and 0.3 better on 0-255 ones, means "reads 0-255"


@dataclass(frozen=True)
class ModelCard:
    """What an uploaded model expects and how well it reads its dataset."""

    file_format: str
    input_shape: tuple[int, ...]
    pixel_scale: str  # "0 to 1" or "0 to 255": the values it was evaluated with
    layers: list[dict]  # name, type, output shape, parameters
    parameters: int
    test_loss: float
    test_accuracy: float
    notes: list[str]
    multiply_adds: int = 0  # to read one digit (estimated); 0 on cards stored before it was counted


@dataclass(frozen=True)
class PreparedUpload:
    model: object  # the uploaded model, with a softmax or a rescaling added when it needs one
    card: ModelCard


def prepare_upload(uploaded: UploadedModel, dataset, progress=None) -> PreparedUpload:
    """Fit an uploaded model to Digit Lab's [0, 1] images and probabilities, evaluate it, and describe it."""
    from core.model import evaluate_model, layer_rows, model_input_shape, to_model_input

    model, notes = uploaded.model, []
    probe = slice(0, PROBE_IMAGES)
    x = to_model_input(dataset.x_test[probe], dataset.pixel_max, model_input_shape(model))
    try:
        if not looks_like_probabilities(np.asarray(model(x[:256], training=False))):
            model = with_softmax(model)
            notes.append("It outputs raw scores (logits): Digit Lab adds a softmax to read them as probabilities.")
        on_unit, on_raw = (accuracy(model, x * factor, dataset.y_test[probe]) for factor in (1.0, 255.0))
        pixel_scale = "0 to 1"
        if on_unit < CHANCE and on_raw > on_unit + 0.3:
            model, pixel_scale = with_input_scale(model, 255.0), "0 to 255"
            notes.append(
                f"It reads only {on_unit:.0%} of the first test digits right with pixels from 0 to 1, but "
                f"{on_raw:.0%} with pixels from 0 to 255: Digit Lab feeds it 0 to 255."
            )
        loss, test_accuracy = evaluate_model(model, dataset, progress)
    except Stopped:
        raise
    except Exception as error:  # a model that builds can still fail when called: dtypes, shapes inside...
        raise UploadError(f"The model failed on the test set: {first_line(error)}") from error
    rows = [
        {"layer": row.name, "type": row.type, "output shape": row.output_shape, "parameters": row.parameters}
        for row in layer_rows(model)
    ]
    multiply_adds = uploaded.multiply_adds or multiply_adds_of(model)  # the softmax or rescaling added cost 0
    card = ModelCard(
        uploaded.file_format,
        model_input_shape(uploaded.model),
        pixel_scale,
        rows,
        model.count_params(),
        loss,
        test_accuracy,
        notes,
        multiply_adds,
    )
    return PreparedUpload(model, card)


def looks_like_probabilities(outputs: np.ndarray) -> bool:
    return bool(np.all(outputs >= 0) and np.allclose(outputs.sum(axis=1), 1.0, atol=1e-3))


def accuracy(model, x: np.ndarray, labels: np.ndarray) -> float:
    from core.model import predict_probabilities

    return float(np.mean(predict_probabilities(model, x).argmax(axis=1) == labels))


def with_softmax(model):
    """The same model, its ten outputs turned into probabilities."""
    import keras

    return keras.Model(model.inputs[0], keras.layers.Softmax(name="added_softmax")(model.outputs[0]), name=model.name)


def with_input_scale(model, factor: float):
    """The same model reading [0, 1] pixels: a Rescaling layer multiplies them by `factor` first (flat for a
    Sequential model, the model nested inside a new one otherwise)."""
    import keras

    rescaling = keras.layers.Rescaling(factor, name="added_rescaling")
    if isinstance(model, keras.Sequential):
        return keras.Sequential([keras.Input(model.inputs[0].shape[1:]), rescaling, *model.layers], name=model.name)
    image = keras.Input(model.inputs[0].shape[1:], name="image")
    return keras.Model(image, model(rescaling(image)), name=model.name)
