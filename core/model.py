"""Hyperparameters -> a compiled Keras model; its summary rows and its layer graph."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

FAMILIES = ("dense", "cnn")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "elu", "gelu")
OPTIMIZERS = ("rmsprop", "adam", "sgd")
BATCH_SIZES = (16, 32, 64, 128, 256, 512, 1024)
LEARNING_RATES = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0, 10.0)  # log-spaced steps
L2_FACTORS = (0.0, 1e-5, 1e-4, 1e-3, 1e-2)
LIMITS = {  # inclusive ranges the panel offers and a shared link may ask for
    "hidden_layers": (0, 4),
    "units": (16, 1024),
    "dropout": (0.0, 0.7),
    "l2": (0.0, 0.01),
    "learning_rate": (1e-5, 10.0),
    "batch_size": (1, 4096),
    "epochs": (1, 30),
    "validation_split": (0.0, 0.3),
    "seed": (0, 2**31 - 1),
}
SGD_MOMENTUM = 0.9
SUMMARY_WIDTH = 78  # Keras renders its summary in an 80-column console
CNN_FILTERS = (32, 64)  # two conv + pooling blocks, as in keras-io's mnist_convnet


class ModelBuildError(Exception):
    """A configuration that cannot become a model; the message is meant for the user."""


@dataclass(frozen=True)
class ModelConfig:
    """Everything that defines a model and its training; defaults are the seed notebook's."""

    family: str = "dense"
    hidden_layers: int = 1
    units: int = 512
    activation: str = "relu"
    dropout: float = 0.0
    l2: float = 0.0
    optimizer: str = "rmsprop"
    learning_rate: float = 0.001
    batch_size: int = 128
    epochs: int = 5
    validation_split: float = 0.0
    seed: int = 42


@dataclass(frozen=True)
class Preset:
    name: str
    explanation: str
    config: ModelConfig


SEED = ModelConfig()
PRESETS = {
    preset.name: preset
    for preset in (
        Preset("Seed notebook", "The book's network: Dense(512, relu) -> Dense(10, softmax), rmsprop, 5 epochs.", SEED),
        Preset(
            "Tiny and fast",
            "32 hidden units train in a blink: a class demo of how much a small net already learns.",
            dataclasses.replace(SEED, units=32, epochs=3),
        ),
        Preset(
            "Wider with dropout",
            "Two layers of 512 with 30% dropout and Adam: dropout narrows the train/test gap.",
            dataclasses.replace(SEED, hidden_layers=2, dropout=0.3, optimizer="adam", epochs=8, validation_split=0.1),
        ),
        Preset(
            "Small CNN",
            "Two conv + pooling blocks see strokes, not pixels: fewer weights, higher accuracy (28x28 only).",
            dataclasses.replace(SEED, family="cnn", dropout=0.5, optimizer="adam", epochs=3, validation_split=0.1),
        ),
    )
}


# ---- Building ---------------------------------------------------------------------------


def input_shape_for(config: ModelConfig, image_shape: tuple[int, int]) -> tuple[int, ...]:
    """Flat vectors for dense networks (784 for MNIST), (h, w, 1) images for CNNs."""
    height, width = image_shape
    return (height * width,) if config.family == "dense" else (height, width, 1)


def to_model_input(images: np.ndarray, pixel_max: int, input_shape: tuple[int, ...]) -> np.ndarray:
    """uint8 images -> float32 in [0, 1] reshaped for the model (the notebook's preprocessing)."""
    x = images.astype(np.float32) / pixel_max
    return x.reshape((len(images), *input_shape))


def model_input_shape(model) -> tuple[int, ...]:
    """The shape of one input, without the batch dimension: (784,) or (28, 28, 1) and so on."""
    return tuple(model.inputs[0].shape[1:])


def predict_probabilities(model, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """Class probabilities by calling the model directly (much faster than `predict` for small inputs)."""
    parts = [np.asarray(model(x[start : start + batch_size], training=False)) for start in range(0, len(x), batch_size)]
    return np.concatenate(parts) if parts else np.zeros((0, 10), np.float32)


def probabilities_on_test_set(model, dataset) -> np.ndarray:
    """The model's probabilities for every test image of the dataset, shape (n, 10)."""
    return predict_probabilities(model, to_model_input(dataset.x_test, dataset.pixel_max, model_input_shape(model)))


def evaluate_model(model, dataset) -> tuple[float, float]:
    """Cross-entropy and accuracy on the dataset's whole test set."""
    probabilities = probabilities_on_test_set(model, dataset)
    picked = probabilities[np.arange(len(probabilities)), dataset.y_test]
    loss = float(-np.mean(np.log(np.clip(picked, 1e-7, 1.0))))
    return loss, float(np.mean(probabilities.argmax(axis=1) == dataset.y_test))


def check_config(config: ModelConfig) -> None:
    """Refuse values outside what the panel offers, with a message naming the field."""
    choices = {"family": FAMILIES, "activation": ACTIVATIONS, "optimizer": OPTIMIZERS}
    for field, allowed in choices.items():
        if getattr(config, field) not in allowed:
            raise ModelBuildError(f"{field} must be one of {', '.join(allowed)}, not {getattr(config, field)!r}.")
    for field, (low, high) in LIMITS.items():
        value = getattr(config, field)
        if not (isinstance(value, (int, float)) and math.isfinite(value) and low <= value <= high):
            raise ModelBuildError(f"{field} must lie between {low:g} and {high:g}, not {value!r}.")


def build_model(config: ModelConfig, input_shape: tuple[int, ...], num_classes: int = 10, compile_options=None):
    """The compiled Keras model for `config`; raises ModelBuildError with a clear message."""
    import keras

    check_config(config)
    keras.utils.set_random_seed(config.seed)
    layers = [keras.Input(shape=input_shape, name="image")]
    regularizer = keras.regularizers.L2(config.l2) if config.l2 > 0 else None
    if config.family == "dense":
        for index in range(1, config.hidden_layers + 1):
            layers.append(
                keras.layers.Dense(
                    config.units, activation=config.activation, kernel_regularizer=regularizer, name=f"hidden_{index}"
                )
            )
            if config.dropout > 0:
                layers.append(keras.layers.Dropout(config.dropout, name=f"dropout_{index}"))
    else:
        for index, filters in enumerate(CNN_FILTERS, start=1):
            layers += [
                keras.layers.Conv2D(
                    filters, 3, activation=config.activation, kernel_regularizer=regularizer, name=f"conv_{index}"
                ),
                keras.layers.MaxPooling2D(2, name=f"pool_{index}"),
            ]
        layers.append(keras.layers.Flatten(name="flatten"))
        if config.dropout > 0:
            layers.append(keras.layers.Dropout(config.dropout, name="dropout"))
    layers.append(keras.layers.Dense(num_classes, activation="softmax", name="output"))
    try:
        model = keras.Sequential(layers, name="digit_lab")
    except ValueError as error:
        if config.family == "cnn":
            side = "x".join(str(size) for size in input_shape[:2])
            raise ModelBuildError(
                f"The small CNN cannot read {side} images: its {len(CNN_FILTERS)} conv + pooling blocks shrink them "
                "below one pixel. Choose the dense family for this dataset."
            ) from error
        raise ModelBuildError(f"Keras refused this configuration: {str(error).splitlines()[0]}") from error
    model.compile(
        optimizer=make_optimizer(config),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        **(compile_options or {}),
    )
    return model


def make_optimizer(config: ModelConfig):
    import keras

    if config.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate=config.learning_rate, momentum=SGD_MOMENTUM)
    optimizer_class = {"rmsprop": keras.optimizers.RMSprop, "adam": keras.optimizers.Adam}[config.optimizer]
    return optimizer_class(learning_rate=config.learning_rate)


# ---- Describing -------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerRow:
    name: str
    type: str
    activation: str
    output_shape: str
    parameters: int
    trainable: bool


@dataclass(frozen=True)
class ModelSummary:
    rows: list[LayerRow]
    total_parameters: int
    trainable_parameters: int
    weight_bytes: int
    text: str  # Keras' own model.summary()


def shape_text(shape) -> str:
    return "(" + ", ".join("None" if size is None else str(size) for size in shape) + ")"


def summarize(model) -> ModelSummary:
    """One row per layer plus totals, with the numbers Keras itself reports."""
    lines: list[str] = []
    model.summary(print_fn=lambda line, **_: lines.append(line), line_length=SUMMARY_WIDTH)
    return ModelSummary(
        rows=layer_rows(model),
        total_parameters=model.count_params(),
        trainable_parameters=int(sum(np.prod(weight.shape) for weight in model.trainable_weights)),
        weight_bytes=int(sum(np.prod(w.shape) * np.dtype(w.dtype).itemsize for w in model.weights)),
        text="\n".join(lines),
    )


def layer_rows(model) -> list[LayerRow]:
    """One row per layer: name, type, activation, output shape, parameters, trainable."""
    return [
        LayerRow(
            name=layer.name,
            type=type(layer).__name__,
            activation=getattr(getattr(layer, "activation", None), "__name__", ""),
            output_shape=shape_text(layer.output.shape),
            parameters=layer.count_params(),
            trainable=layer.trainable,
        )
        for layer in model.layers
    ]


def layer_graph_dot(model) -> str:
    """Graphviz DOT text: one node per layer, edges from the tensors each layer consumes."""
    input_tensor = model.inputs[0]
    producers = {id(input_tensor): "image"}
    lines = [
        "digraph model {",
        '  rankdir=TB; node [shape=record, style="rounded,filled", fillcolor="#eef3fb", fontname="Helvetica"];',
        f'  "image" [label="input | {shape_text(input_tensor.shape)}", fillcolor="#fdf3d8"];',
    ]
    for layer in model.layers:
        producers[id(layer.output)] = layer.name
    for row, layer in zip(layer_rows(model), model.layers, strict=True):
        kind = row.type + (f" ({row.activation})" if row.activation and row.activation != "linear" else "")
        label = f"{row.name} | {kind} | out {row.output_shape} | {row.parameters:,} params"
        lines.append(f'  "{row.name}" [label="{label}"];')
        source = producers.get(id(layer.input), "image")
        lines.append(f'  "{source}" -> "{row.name}";')
    lines.append("}")
    return "\n".join(lines)


@dataclass(frozen=True)
class ModelDescription:
    """What the Model page shows of a configuration."""

    summary: ModelSummary
    dot: str


def describe_model(config: ModelConfig, image_shape: tuple[int, int]) -> ModelDescription:
    """Build the model for `config` on images of `image_shape` and describe it (ModelBuildError if impossible)."""
    model = build_model(config, input_shape_for(config, image_shape))
    return ModelDescription(summarize(model), layer_graph_dot(model))


# ---- Sharing a configuration in a link -----------------------------------------------------


def _parse(raw: str, kind: type):
    if kind is int:
        number = float(raw)
        if not number.is_integer():
            raise ValueError("expected a whole number")
        return int(number)
    return kind(raw)


def config_to_query(config: ModelConfig) -> dict[str, str]:
    """The fields that differ from the seed, as URL query parameters."""
    return {
        field.name: str(getattr(config, field.name))
        for field in dataclasses.fields(config)
        if getattr(config, field.name) != getattr(SEED, field.name)
    }


def config_from_query(params: dict[str, str]) -> tuple[ModelConfig, list[str]]:
    """A configuration from URL query parameters, and a note for each value that was ignored."""
    values, problems = {}, []
    for field in dataclasses.fields(ModelConfig):
        if field.name not in params:
            continue
        raw = params[field.name]
        kind = type(getattr(SEED, field.name))
        try:
            values[field.name] = _parse(raw, kind)
            check_config(dataclasses.replace(SEED, **{field.name: values[field.name]}))
        except (ValueError, ModelBuildError) as error:
            values.pop(field.name, None)
            problems.append(f"Ignored {field.name}={raw!r} from the link: {error}")
    return dataclasses.replace(SEED, **values), problems
