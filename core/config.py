"""The hyperparameters: one frozen config, the table of values the panel offers, presets, and links that share them."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass


class ConfigError(Exception):
    """A configuration that cannot become a model; the message is meant for the user."""


@dataclass(frozen=True)
class ModelConfig:
    """Everything that defines a model and its training; defaults are the seed notebook's."""

    family: str = "dense"
    filters: int = 32  # CNN: filters of the first conv block (the second has twice as many)
    hidden_layers: int = 1  # dense layers (for a CNN: after its conv blocks)
    units: int = 512
    activation: str = "relu"
    dropout: float = 0.0
    l2: float = 0.0
    optimizer: str = "rmsprop"
    learning_rate: float = 0.001
    schedule: str = "constant"  # or "one-cycle": warm up to the rate, then cosine decay to almost 0
    batch_size: int = 128
    epochs: int = 5
    validation_split: float = 0.0
    seed: int = 42
    # Augmentation, in training only (all 0: none, as in the notebook)
    rotation: float = 0.0  # degrees, either way
    shift: float = 0.0  # share of the image, any direction
    zoom: float = 0.0  # share, in or out
    shear: float = 0.0  # horizontal shear factor
    stroke: float = 0.0  # share of images whose strokes get thicker or thinner
    elastic: float = 0.0  # elastic distortion's strength (Simard et al. 2003: alpha, in pixels); 0: none
    adversarial: float = 0.0  # adversarial training's epsilon (FGSM from a random start); 0: none

    @property
    def augmented(self) -> bool:
        return any((self.rotation, self.shift, self.zoom, self.shear, self.stroke, self.elastic))


# ---- The table the panel reads: how each field is offered and what a link may set it to ----------------


@dataclass(frozen=True)
class FieldSpec:
    """One hyperparameter: its label and group in the panel, and either its choices or its numeric range."""

    label: str
    group: str  # the panel's expander: "Architecture" or "Training"
    widget: str  # "radio", "selectbox", "select_slider", "slider" or "number_input"
    choices: tuple = ()  # the allowed values, for the choice widgets
    choice_labels: dict | None = None  # how a choice is shown, when not as itself
    low: float | None = None  # the inclusive range, for sliders and number inputs
    high: float | None = None
    step: float | None = None
    log_scale: bool = False  # a value from a link snaps to the nearest choice by ratio, not difference
    cnn_only: bool = False  # has no effect on dense networks
    help: str | None = None

    def allows(self, value) -> bool:
        if self.choices:
            return value in self.choices
        return isinstance(value, int | float) and math.isfinite(value) and self.low <= value <= self.high

    def snap(self, value):
        """The nearest value the widget offers, for a value inside its range (a link may hold any number)."""
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return value
        if self.choices:
            if not min(self.choices) <= value <= max(self.choices):
                return value
            if self.log_scale:
                return min(self.choices, key=lambda choice: abs(math.log(choice) - math.log(value)))
            return min(self.choices, key=lambda choice: abs(choice - value))
        if self.step and self.low <= value <= self.high:
            return type(value)(round(self.low + round((value - self.low) / self.step) * self.step, 10))
        return value

    def text(self, value) -> str:
        if self.choice_labels:
            return str(self.choice_labels.get(value, value))
        return f"{value:g}" if isinstance(value, int | float) else str(value)


FIELDS: dict[str, FieldSpec] = {
    "family": FieldSpec(
        "Family",
        "Architecture",
        "radio",
        ("dense", "cnn"),
        {"dense": "Dense (the notebook's)", "cnn": "Convolutional (CNN)"},
    ),
    "filters": FieldSpec(
        "Conv filters",
        "Architecture",
        "select_slider",
        (8, 16, 32, 64),
        cnn_only=True,
        help="Filters in the first conv block; the second has twice as many.",
    ),
    "hidden_layers": FieldSpec(
        "Hidden dense layers",
        "Architecture",
        "slider",
        low=0,
        high=4,
        step=1,
        help="For a CNN: dense layers after its conv blocks.",
    ),
    "units": FieldSpec("Units per hidden layer", "Architecture", "slider", low=16, high=1024, step=16),
    "activation": FieldSpec("Activation", "Architecture", "selectbox", ("relu", "tanh", "sigmoid", "elu", "gelu")),
    "dropout": FieldSpec("Dropout", "Architecture", "slider", low=0.0, high=0.7, step=0.05),
    "l2": FieldSpec("L2 weight penalty", "Architecture", "select_slider", (0.0, 1e-5, 1e-4, 1e-3, 1e-2)),
    "optimizer": FieldSpec(
        "Optimizer",
        "Training",
        "selectbox",
        ("rmsprop", "adam", "sgd"),
        {"rmsprop": "RMSprop", "adam": "Adam", "sgd": "SGD + momentum"},
    ),
    "learning_rate": FieldSpec(
        "Learning rate",
        "Training",
        "select_slider",
        (1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0),
        log_scale=True,
        help="Log scale. rmsprop's default is 0.001. With one-cycle: the peak rate.",
    ),
    "schedule": FieldSpec(
        "Learning-rate schedule",
        "Training",
        "radio",
        ("constant", "one-cycle"),
        {"constant": "Constant (the notebook's)", "one-cycle": "One-cycle: warm up, then decay"},
    ),
    "batch_size": FieldSpec(
        "Batch size", "Training", "select_slider", (16, 32, 64, 128, 256, 512, 1024), log_scale=True
    ),
    "epochs": FieldSpec("Epochs", "Training", "slider", low=1, high=30, step=1),
    "validation_split": FieldSpec(
        "Validation split",
        "Training",
        "slider",
        low=0.0,
        high=0.3,
        step=0.05,
        help="Share of the training images held out to watch overfitting.",
    ),
    "seed": FieldSpec("Random seed", "Training", "number_input", low=0, high=2**31 - 1, step=1),
    "rotation": FieldSpec("Rotation (degrees)", "Augmentation", "slider", low=0.0, high=30.0, step=1.0),
    "shift": FieldSpec("Shift (share of the image)", "Augmentation", "slider", low=0.0, high=0.2, step=0.02),
    "zoom": FieldSpec("Zoom (share)", "Augmentation", "slider", low=0.0, high=0.3, step=0.05),
    "shear": FieldSpec(
        "Shear", "Augmentation", "slider", low=0.0, high=0.5, step=0.05, help="Slants the digits: italic handwriting."
    ),
    "stroke": FieldSpec(
        "Stroke width change (share of images)",
        "Augmentation",
        "slider",
        low=0.0,
        high=1.0,
        step=0.1,
        help="Thickens or thins the strokes of this share of the training images.",
    ),
    "elastic": FieldSpec(
        "Elastic distortion (strength)",
        "Augmentation",
        "slider",
        low=0.0,
        high=40.0,
        step=2.0,
        help="Every pixel drifts along a smooth random field, as a wobbling hand does (Simard et "
        "al., 2003; 34 is their MNIST setting). 0: none.",
    ),
    "adversarial": FieldSpec(
        "Adversarial training (epsilon)",
        "Augmentation",
        "select_slider",
        (0.0, 0.05, 0.1, 0.15, 0.2, 0.3),
        help="Trains on digits as an attacker changes them, each pixel by at most epsilon (FGSM from a random "
        "start, Wong et al. 2020), so that the network learns to resist being fooled. About twice as long an "
        "epoch. 0: none.",
    ),
}
FIELD_GROUPS = ("Architecture", "Training", "Augmentation")


def check_config(config: ModelConfig) -> None:
    """Refuse values outside what the panel offers, with a message naming the field."""
    for name, spec in FIELDS.items():
        value = getattr(config, name)
        if spec.allows(value):
            continue
        if spec.choices:
            allowed = ", ".join(spec.text(choice) for choice in spec.choices)
            raise ConfigError(f"{name} must be one of {allowed}, not {value!r}.")
        raise ConfigError(f"{name} must lie between {spec.low:g} and {spec.high:g}, not {value!r}.")


def snap_to_panel(config: ModelConfig) -> ModelConfig:
    """Move every value onto the nearest step its widget offers."""
    return dataclasses.replace(config, **{name: spec.snap(getattr(config, name)) for name, spec in FIELDS.items()})


# ---- Presets ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preset:
    name: str
    explanation: str
    config: ModelConfig


SEED = ModelConfig()
SEED_PRESET = "Seed notebook"
# Two conv blocks of 16 and 32 filters, "same" padding, a dense layer of 128, Adam on a one-cycle schedule:
# measured in bench/handwriting.py (99.1% on MNIST's test set in 2 epochs; with augmentation, 99.2-99.35% in 8).
SMALL_CNN = ModelConfig(
    family="cnn",
    filters=16,
    hidden_layers=1,
    units=128,
    optimizer="adam",
    learning_rate=5e-3,
    schedule="one-cycle",
    epochs=2,
)
# Elastic distortion 12 (a third of Simard et al.'s 34, which cost 1.3 points on MNIST's test set and 4.7 on the
# tuning set in 8 epochs) and every image's strokes changed (up to two pixels thicker a side, half of the thickened
# thinned back: core.augmentation.STROKE_CLOSE): chosen on bench/handstyle.py's tuning set among + stroke width,
# + elastic 12 or 34, both, and stroke share 0.5 or 1 with closing (README: Your handwriting vs MNIST).
ROBUST_CNN = dataclasses.replace(SMALL_CNN, epochs=8, rotation=10.0, shear=0.3, elastic=12.0, stroke=1.0)
# Adversarial training at epsilon 0.2 for 8 epochs: chosen on test digits 5,000-9,999 among epsilon 0.15 and 0.2
# (bench/robustness.py reports those and the other half: README, How robust is it?).
HARD_TO_FOOL = dataclasses.replace(SMALL_CNN, epochs=8, adversarial=0.2)
PRESETS = {
    preset.name: preset
    for preset in (
        Preset(SEED_PRESET, "The book's network: Dense(512, relu) -> Dense(10, softmax), rmsprop, 5 epochs.", SEED),
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
            "Two conv + pooling blocks see strokes, not pixels: 99% on MNIST's test set in two epochs.",
            SMALL_CNN,
        ),
        Preset(
            "Robust CNN",
            "The small CNN trained on slanted, turned and wobbled digits (augmentation): it reads people's "
            "handwriting best.",
            ROBUST_CNN,
        ),
        Preset(
            "Hard to fool",
            "The small CNN trained on digits as an attacker changes them (adversarial training, epsilon 0.2): "
            "attacks that fool the others flip few of its answers.",
            HARD_TO_FOOL,
        ),
    )
}


def matching_preset(config: ModelConfig) -> str:
    """The preset this config equals, or the seed's name when it equals none."""
    return next((preset.name for preset in PRESETS.values() if preset.config == config), SEED_PRESET)


# ---- Sharing a configuration in a link --------------------------------------------------------------------


def config_to_query(config: ModelConfig) -> dict[str, str]:
    """The fields that differ from the seed, as URL query parameters."""
    return {
        field.name: str(getattr(config, field.name))
        for field in dataclasses.fields(config)
        if getattr(config, field.name) != getattr(SEED, field.name)
    }


MAX_QUERY_VALUE = 40  # characters: longer values from a link are refused unread


def config_from_query(params: dict[str, str]) -> tuple[ModelConfig, list[str]]:
    """A configuration from URL query parameters (snapped to the panel), and a note per value that was ignored."""
    values, problems = {}, []
    for field in dataclasses.fields(ModelConfig):
        if field.name not in params:
            continue
        raw = str(params[field.name])
        try:
            value = FIELDS[field.name].snap(_parse(raw, type(getattr(SEED, field.name))))
            check_config(dataclasses.replace(SEED, **{field.name: value}))
        except (ValueError, OverflowError, ConfigError) as error:
            problems.append(f"Ignored {field.name}={raw[:MAX_QUERY_VALUE]!r} from the link: {error}")
        else:
            values[field.name] = value
    return dataclasses.replace(SEED, **values), problems


def _parse(raw: str, kind: type):
    if len(raw) > MAX_QUERY_VALUE:
        raise ValueError("the value is too long")
    if kind is int:
        number = float(raw)
        if not number.is_integer():
            raise ValueError("expected a whole number")
        return int(number)
    return kind(raw)


def parameter_count(config: ModelConfig, image_shape: tuple[int, int], classes: int = 10) -> int:
    """What Keras' count_params says for core.model.build_model(config), counted without building it."""
    height, width = image_shape
    total, features = 0, height * width
    if config.family == "cnn":
        channels = 1
        for filters in (config.filters, 2 * config.filters):
            total += (9 * channels + 1) * filters  # 3x3 kernels and a bias; "same" padding keeps the size
            channels, height, width = filters, height // 2, width // 2  # then 2x2 max pooling
        features = height * width * channels
    for _ in range(config.hidden_layers):
        total += (features + 1) * config.units
        features = config.units
    return total + (features + 1) * classes


def run_bytes(config: ModelConfig, image_shape: tuple[int, int]) -> int:
    """About what a run of `config` writes while it trains: its model with the optimizer's state (two float32 copies
    of its weights), an 8-bit snapshot per epoch (core.snapshots) and its logs."""
    return int(parameter_count(config, image_shape) * 4 * (2 + 0.3 * config.epochs)) + 2**20
