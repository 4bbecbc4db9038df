"""The learning-rate finder (Smith, "Cyclical Learning Rates for Training Neural Networks", 2017; fastai's lr_find).

Train the configured network from fresh weights for a few hundred batches while the learning rate rises
exponentially, from far too small to far too large; stop once the loss explodes. The loss against the rate (log
axis) falls where the rate starts to teach, then turns up where it is too large: a good rate lies on the steep
part of the fall, well before the bottom. Runs wherever it is called: on the cluster for the page (core.tasks),
in-process for tests and benches.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from core.config import FIELDS, ConfigError, ModelConfig

START_RATE, END_RATE = 1e-6, 10.0
MAX_BATCHES = 300
SMOOTHING = 0.98  # fastai's exponential moving average of the loss, bias-corrected
EXPLODED = 4.0  # the search stops once the smoothed loss is 4 times its lowest so far (fastai's rule)
# The suggestion: the rate where the smoothed loss is lowest, divided by this (fastai's "minimum / 10").
MINIMUM_DIVISOR = 10.0
RULE = "the lowest loss's rate divided by 10"
SLIDER = FIELDS["learning_rate"].choices  # a suggestion is one of them


@dataclass(frozen=True)
class LearningRateCurve:
    """What the finder saw: one learning rate and one smoothed loss per batch trained, and its suggestion."""

    learning_rates: list[float]
    losses: list[float]  # smoothed
    suggestion: float  # the slider's nearest choice to the rule's rate
    rule: str
    lowest_rate: float  # where the smoothed loss was lowest
    exploded: bool  # the loss blew up before the last batch (the search stopped there)
    seconds: float

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> LearningRateCurve:
        return cls(**values)


def rates(batches: int = MAX_BATCHES, start: float = START_RATE, end: float = END_RATE) -> np.ndarray:
    """The exponentially rising learning rates, one per batch, from `start` to `end`."""
    return start * (end / start) ** (np.arange(batches) / max(batches - 1, 1))


def find_learning_rate(
    config: ModelConfig,
    dataset_name: str,
    limit: int | None = None,
    *,
    batches: int = MAX_BATCHES,
    progress: Callable[[float], None] | None = None,
) -> LearningRateCurve:
    """Raise the learning rate over `batches` batches of the config's network, optimizer and batch size (its
    schedule is ignored: the search sets the rate), on the dataset's first `limit` training images, shuffled by
    the config's seed. `progress(fraction)` after each batch may raise to stop."""
    from core.model import build_model, input_shape_for, to_model_input
    from core.training import PLAIN_COMPILE, cached_dataset

    started = time.perf_counter()
    dataset = cached_dataset(dataset_name)
    x, y = dataset.x_train[:limit], dataset.y_train[:limit]
    shape = input_shape_for(config, dataset.image_shape)
    constant = dataclasses.replace(config, schedule="constant")  # the search sets the rate itself
    model = build_model(constant, shape, compile_options=PLAIN_COMPILE)
    order = np.random.default_rng(config.seed).permutation(len(x))
    per_epoch = math.ceil(len(x) / config.batch_size)
    tried, losses, lowest, average, exploded = [], [], math.inf, 0.0, False
    for step, rate in enumerate(rates(batches), start=1):
        chosen = order[((step - 1) % per_epoch) * config.batch_size :][: config.batch_size]
        model.optimizer.learning_rate.assign(rate)
        loss = float(model.train_on_batch(to_model_input(x[chosen], dataset.pixel_max, shape), y[chosen])[0])
        average = SMOOTHING * average + (1 - SMOOTHING) * loss  # bias-corrected below: fastai's smoothing
        smooth = average / (1 - SMOOTHING**step)
        if progress is not None:
            progress(step / batches)
        if not math.isfinite(smooth) or (step > 10 and smooth > EXPLODED * lowest):
            exploded = True  # the rate is far too large now: what follows says nothing more
            break
        tried.append(float(rate))
        losses.append(smooth)
        lowest = min(lowest, smooth)
    if not tried:
        raise ConfigError("The loss was not a number from the first batch: this network cannot be trained.")
    lowest_rate = tried[int(np.argmin(losses))]
    rule_rate = min(max(lowest_rate / MINIMUM_DIVISOR, SLIDER[0]), SLIDER[-1])
    return LearningRateCurve(
        learning_rates=tried,
        losses=[round(loss, 5) for loss in losses],
        suggestion=FIELDS["learning_rate"].snap(rule_rate),
        rule=RULE,
        lowest_rate=lowest_rate,
        exploded=exploded,
        seconds=round(time.perf_counter() - started, 2),
    )
