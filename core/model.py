"""A config -> a compiled Keras model; feeding it images; its summary rows and its layer graph."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from core.config import ConfigError, ModelConfig, check_config

SGD_MOMENTUM = 0.9
SUMMARY_WIDTH = 78  # Keras renders its summary in an 80-column console
MNIST_STEPS_PER_EPOCH = 469  # 60,000 images at batch 128: what a schedule assumes when the data is not known yet
ONE_CYCLE_WARMUP = 0.15  # share of the steps spent warming up from a tenth of the rate to the rate
ONE_CYCLE_FLOOR = 0.002  # the rate decays to this share of its peak


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


def predict_probabilities(model, x: np.ndarray, batch_size: int = 1024, progress=None) -> np.ndarray:
    """Class probabilities through the model's traced forward pass (much faster than `predict` for small inputs),
    or in NumPy for a few images of a dense network marked with `serve_in_numpy`; `progress(fraction done)` is
    called after each batch (it may raise to stop)."""
    x = np.asarray(x, np.float32)
    layers = _derived_table(model).get("numpy")
    if layers is not None and len(x) <= NUMPY_MAX_BATCH:
        probabilities = _numpy_forward(layers, x)
        if progress is not None:
            progress(1.0)
        return probabilities
    forward = traced_forward(model)
    parts = []
    for start in range(0, len(x), batch_size):
        parts.append(np.asarray(forward(x[start : start + batch_size])))
        if progress is not None:
            progress(min(start + batch_size, len(x)) / len(x))
    return np.concatenate(parts) if parts else np.zeros((0, 10), np.float32)


T = TypeVar("T")


def _derived_table(model) -> dict:
    # Not setattr: Keras would track a model in it as a layer. "__": Keras' saving skips it (a model saved after a
    # page or the held-out curve used it would carry the probe models' weights).
    return model.__dict__.setdefault("__digit_lab_derived", {})


def derived(model, name: str, make: Callable[[], T]) -> T:
    """What is made once from a model (a traced graph, a probe model, NumPy weights), kept on the model itself so
    that it lives and dies with it. A table keyed weakly on the model would keep it alive whenever the value refers
    back to it (a closure, a probe model on its layers): measured in the web server under bench/class_load.py, eight
    models more stayed alive after every lesson, with their TensorFlow graphs, and none once they lived here."""
    table = _derived_table(model)
    if name not in table:
        table[name] = make()
    return table[name]


def traced_forward(model):
    """The model's inference pass as one TensorFlow graph, traced on first use and kept while the model lives.
    Measured in the web server: one digit through it ~1 ms, through an eager `model(x)` call 7-13 ms."""

    def trace():
        import tensorflow as tf

        return tf.function(lambda x: model(x, training=False), reduce_retracing=True)

    return derived(model, "forward", trace)


# ---- Serving a few digits without TensorFlow ---------------------------------------------------------------

NUMPY_MAX_BATCH = 64  # larger batches (a test set) go through TensorFlow's graph
PASSIVE_LAYERS = {
    "Dropout",
    "RandomShear",
    "RandomRotation",
    "RandomTranslation",
    "RandomZoom",
    "RandomStrokeWidth",
}  # identity at inference
NUMPY_ACTIVATIONS = {
    "linear": lambda z: z,
    "relu": lambda z: np.maximum(z, 0),
    "tanh": np.tanh,
    "sigmoid": lambda z: _expit(z),
    "elu": lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0))),
    "gelu": lambda z: 0.5 * z * (1 + _erf(z / np.float32(np.sqrt(2)))),  # Keras' exact gelu (approximate=False)
    "softmax": lambda z: _softmax(z),
}


def ready_to_serve(model):
    """A saved model made ready to read digits one at a time, as the pages read them: traced once now, and read in
    NumPy where it can be (`serve_in_numpy`). Returns the model; never change its weights afterwards."""
    predict_probabilities(model, np.zeros((1, *model_input_shape(model)), np.float32))
    serve_in_numpy(model)
    return model


def serve_in_numpy(model) -> bool:
    """Read a few digits at a time of this model in NumPy from now on, when it is a plain dense network (Dense,
    Flatten, Reshape, and layers that act only in training); True when it is. Only for a model whose weights never
    change again (a saved run's model, loaded once and shared): its weights are copied here once.

    Measured in the web server under a class's load (bench/class_load.py, py-spy): a stroke's model call through
    TensorFlow was 40% of the Prediction's server time, ~0.45 ms of CPU a call and a hand-off to TensorFlow's thread
    pool that waits for a core; the seed network in NumPy takes 0.03 ms, in the script's own thread."""
    if type(model).__name__ != "Sequential":
        return False
    layers = []
    for layer in model.layers:
        kind = type(layer).__name__
        if kind in PASSIVE_LAYERS:
            continue
        if kind in ("Flatten", "Reshape"):  # a shape, not values: a dense layer reads the same numbers flat
            layers.append(("flatten", None, None))
            continue
        activation = layer.get_config().get("activation") if kind == "Dense" else None
        if kind != "Dense" or not isinstance(activation, str) or activation not in NUMPY_ACTIVATIONS:
            return False
        weights = [np.asarray(w, np.float32) for w in layer.get_weights()]
        layers.append((activation, weights[0], weights[1] if len(weights) > 1 else None))
    _derived_table(model)["numpy"] = layers
    return True


def _numpy_forward(layers: list, x: np.ndarray) -> np.ndarray:
    for activation, kernel, bias in layers:
        if activation == "flatten":
            x = x.reshape((len(x), -1))
            continue
        x = x @ kernel
        if bias is not None:
            x = x + bias
        x = NUMPY_ACTIVATIONS[activation](x).astype(np.float32, copy=False)
    return x


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _erf(z: np.ndarray) -> np.ndarray:
    from scipy.special import erf

    return erf(z)


def _expit(z: np.ndarray) -> np.ndarray:
    from scipy.special import expit

    return expit(z)


def probabilities_on_test_set(model, dataset, progress=None) -> np.ndarray:
    """The model's probabilities for every test image of the dataset, shape (n, 10)."""
    x = to_model_input(dataset.x_test, dataset.pixel_max, model_input_shape(model))
    return predict_probabilities(model, x, progress=progress)


def evaluate_model(model, dataset, progress=None) -> tuple[float, float]:
    """Cross-entropy and accuracy on the dataset's whole test set (`progress` as in predict_probabilities)."""
    return loss_and_accuracy(probabilities_on_test_set(model, dataset, progress), dataset.y_test)


def loss_and_accuracy(probabilities: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Cross-entropy (as Keras clips it) and accuracy of probabilities against labels."""
    picked = probabilities[np.arange(len(probabilities)), labels]
    loss = float(-np.mean(np.log(np.clip(picked, 1e-7, 1.0))))
    return loss, float(np.mean(probabilities.argmax(axis=1) == labels))


def confusion_counts(truth: np.ndarray, predicted: np.ndarray, classes: int = 10) -> np.ndarray:
    """(classes, classes) counts: row = true digit, column = predicted digit."""
    return np.bincount(truth * classes + predicted, minlength=classes * classes).reshape(classes, classes)


def model_to_bytes(model) -> bytes:
    """The model as the bytes of a .keras file."""
    with tempfile.TemporaryDirectory(prefix="digitlab-model-") as folder:
        path = Path(folder) / "model.keras"
        model.save(path)
        return path.read_bytes()


def build_model(
    config: ModelConfig,
    input_shape: tuple[int, ...],
    num_classes: int = 10,
    compile_options=None,
    steps_per_epoch: int = MNIST_STEPS_PER_EPOCH,
):
    """The compiled Keras model for `config`: augmentation (training only), then the dense layers or the conv
    blocks and their dense head, then the softmax. ConfigError with a clear message when it cannot be built."""
    import keras

    from core.augmentation import augmentation_layers  # imports Keras: only when a model is built

    check_config(config)
    keras.utils.set_random_seed(config.seed)
    regularizer = keras.regularizers.L2(config.l2) if config.l2 > 0 else None
    layers = [keras.Input(shape=input_shape, name="image"), *augmentation_layers(config, input_shape)]
    if config.family == "cnn":
        for index, filters in enumerate((config.filters, 2 * config.filters), start=1):
            layers += [
                keras.layers.Conv2D(
                    filters,
                    3,
                    padding="same",
                    activation=config.activation,
                    kernel_regularizer=regularizer,
                    name=f"conv_{index}",
                ),
                keras.layers.MaxPooling2D(2, name=f"pool_{index}"),
            ]
        layers.append(keras.layers.Flatten(name="flatten"))
        if config.dropout > 0 and config.hidden_layers == 0:
            layers.append(keras.layers.Dropout(config.dropout, name="dropout"))
    for index in range(1, config.hidden_layers + 1):
        layers.append(
            keras.layers.Dense(
                config.units, activation=config.activation, kernel_regularizer=regularizer, name=f"hidden_{index}"
            )
        )
        if config.dropout > 0:
            layers.append(keras.layers.Dropout(config.dropout, name=f"dropout_{index}"))
    layers.append(keras.layers.Dense(num_classes, activation="softmax", name="output"))
    try:
        model = keras.Sequential(layers, name="digit_lab")
    except ValueError as error:
        raise ConfigError(f"Keras refused this configuration: {str(error).splitlines()[0]}") from error
    return compile_model(model, config, compile_options, steps_per_epoch)


def compile_model(model, config: ModelConfig, compile_options=None, steps_per_epoch: int = MNIST_STEPS_PER_EPOCH):
    """Compile for training with the config's optimizer and schedule, the notebook's loss and accuracy."""
    model.compile(
        optimizer=make_optimizer(config, steps_per_epoch),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        **(compile_options or {}),
    )
    return model


def model_from_bytes(data: bytes):
    """A saved run's .keras bytes -> the model (Digit Lab's own files, already checked when they came in)."""
    import keras

    with tempfile.TemporaryDirectory(prefix="digitlab-model-") as folder:
        path = Path(folder) / "model.keras"
        path.write_bytes(data)
        return keras.models.load_model(path, compile=False, safe_mode=True)


def make_optimizer(config: ModelConfig, steps_per_epoch: int = MNIST_STEPS_PER_EPOCH):
    """The config's optimizer, at a constant rate or on a one-cycle schedule over all of training's steps."""
    import keras

    rate = config.learning_rate
    if config.schedule == "one-cycle":
        total = max(2, config.epochs * steps_per_epoch)
        warmup = max(1, int(ONE_CYCLE_WARMUP * total))
        rate = keras.optimizers.schedules.CosineDecay(
            rate / 10, decay_steps=total - warmup, alpha=ONE_CYCLE_FLOOR, warmup_target=rate, warmup_steps=warmup
        )
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate=rate, momentum=SGD_MOMENTUM)
    optimizer_class = {"rmsprop": keras.optimizers.RMSprop, "adam": keras.optimizers.Adam}[config.optimizer]
    return optimizer_class(learning_rate=rate)


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
        '  rankdir=TB; bgcolor="transparent";',  # the page's own background, light or dark
        '  node [shape=record, style="rounded,filled", fillcolor="#eef3fb", color="#888888", fontname="Helvetica"];',
        '  edge [color="#888888"];',  # mid grey: visible on white and on the dark theme
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
    """Build the model for `config` on images of `image_shape` and describe it (ConfigError if impossible)."""
    model = build_model(config, input_shape_for(config, image_shape))
    return ModelDescription(summarize(model), layer_graph_dot(model))
