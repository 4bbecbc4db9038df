"""Hyperparameter sweeps: a small grid of configurations built from the panel's own table, the plain record of a
sweep sent to the cluster (core.run_board.RunBoard.start_sweep trains it, one normal run per configuration), and
the book of every sweep started on a model folder.

Every value is checked against core.config.FIELDS, as a link's values are: a sweep can only ask for networks the
sliders could have built one by one. No Dask and no TensorFlow here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import math
from dataclasses import dataclass
from pathlib import Path

from core.config import FIELDS, SEED, ConfigError, ModelConfig, check_config
from core.files import JsonFile
from core.owners import owner_key
from core.state import SWEEPS_FILE

MIN_FIELDS, MAX_FIELDS = 2, 3  # hyperparameters swept at once
MIN_VALUES, MAX_VALUES = 2, 4  # values of each
MAX_RUNS = 16
SUGGESTED_VALUES = 8  # at most this many values offered for a numeric slider


class SweepError(ValueError):
    """A sweep that cannot be built or started; the message is meant for the user."""


def grid(config: ModelConfig, values: dict[str, list]) -> list[ModelConfig]:
    """Every combination of the swept values on top of `config`, the last field changing fastest (SweepError when
    a field or a value is not one the panel offers, or the grid is too small or too large)."""
    if not isinstance(values, dict) or not MIN_FIELDS <= len(values) <= MAX_FIELDS:
        count = len(values) if isinstance(values, dict) else 0
        raise SweepError(f"A sweep varies {MIN_FIELDS} or {MAX_FIELDS} hyperparameters, not {count}.")
    checked = {name: _checked_values(config, values, name) for name in values}
    runs = math.prod(len(column) for column in checked.values())
    if runs > MAX_RUNS:
        sizes = " x ".join(str(len(column)) for column in checked.values())
        raise SweepError(f"A sweep has at most {MAX_RUNS} runs, not {sizes} = {runs}: choose fewer values.")
    configs = [
        dataclasses.replace(config, **dict(zip(checked, combination, strict=True)))
        for combination in itertools.product(*checked.values())
    ]
    for built in configs:
        try:
            check_config(built)
        except ConfigError as error:
            raise SweepError(f"The sidebar's network cannot be swept: {error}") from error
    return configs


def _checked_values(config: ModelConfig, values: dict, name) -> list:
    """One field's values, each one the panel offers, as the field's type."""
    if not isinstance(name, str) or name not in FIELDS:
        raise SweepError(f"{str(name)[:40]!r} is not a hyperparameter that can be swept.")
    spec = FIELDS[name]
    if spec.cnn_only and (config.family != "cnn" or "family" in values):
        raise SweepError(f"{spec.label} only changes a CNN: sweep it with the Family set to a CNN, not swept.")
    column = values[name]
    if not isinstance(column, list | tuple) or not MIN_VALUES <= len(column) <= MAX_VALUES:
        count = len(column) if isinstance(column, list | tuple) else 0
        raise SweepError(f"{spec.label}: choose {MIN_VALUES} to {MAX_VALUES} values, not {count}.")
    checked = [_checked_value(name, value) for value in column]
    if len(set(checked)) < len(checked):
        raise SweepError(f"{spec.label}: each value once (the list repeats one).")
    return checked


def _checked_value(name: str, value):
    """`value` as the field's type when the panel offers it (SweepError naming the field and the value if not)."""
    spec, kind = FIELDS[name], type(getattr(SEED, name))
    shown = repr(value)[:40]
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    if kind is not str and not (numeric and math.isfinite(value)):
        raise SweepError(f"{spec.label}: {shown} is not a number.")
    if kind is int and isinstance(value, float):
        if not value.is_integer():
            raise SweepError(f"{spec.label}: {shown} is not a whole number.")
        value = int(value)
    if kind is float:
        value = float(value)
    if not spec.allows(value):
        if spec.choices:
            allowed = ", ".join(spec.text(choice) for choice in spec.choices)
            raise SweepError(f"{spec.label}: {shown} is not one of {allowed}.")
        raise SweepError(f"{spec.label}: {shown} is outside {spec.low:g} to {spec.high:g}.")
    if not spec.choices and spec.snap(value) != value:
        raise SweepError(
            f"{spec.label}: {shown} is not on the slider (steps of {spec.step:g}; nearest "
            f"{spec.text(spec.snap(value))})."
        )
    return value


def parse_value(name: str, text: str):
    """A value typed for a numeric field, as a number (SweepError when it is not one); grid() checks its range."""
    spec = FIELDS.get(name)
    if spec is None:
        raise SweepError(f"{str(name)[:40]!r} is not a hyperparameter that can be swept.")
    if not isinstance(text, str):
        return text
    try:
        number = float(text.strip()[:40])
    except ValueError:
        raise SweepError(f"{spec.label}: {text.strip()[:40]!r} is not a number.") from None
    if not math.isfinite(number):
        raise SweepError(f"{spec.label}: {text.strip()[:40]!r} is not a number.")
    return number


def suggested_values(name: str, current) -> list:
    """Values to offer for a field: its choices, or up to about SUGGESTED_VALUES round points of a slider's range
    (powers of two when it spans a factor of 16 or more), with the current value among them."""
    spec = FIELDS[name]
    if spec.choices:
        return list(spec.choices)
    kind = type(getattr(SEED, name))
    steps = round((spec.high - spec.low) / spec.step)
    if spec.widget == "number_input":  # the seed: a handful of seeds is what a sweep over it means
        points = list(range(int(spec.low), int(spec.low) + SUGGESTED_VALUES - 1))
    elif spec.low > 0 and spec.high / spec.low >= 16:
        points = [2**power for power in range(math.ceil(math.log2(spec.low)), int(math.log2(spec.high)) + 1)]
        points.append(spec.high)
    else:
        stride = max(1, math.ceil(steps / (SUGGESTED_VALUES - 1)))
        points = [spec.low + index * spec.step for index in range(0, steps + 1, stride)]
        points.append(spec.high)
    offered = {kind(spec.snap(kind(point))) for point in points}
    offered = {value for value in offered if spec.allows(value) and spec.snap(value) == value}
    if spec.allows(current) and spec.snap(current) == current:
        offered.add(kind(current))
    return sorted(offered)


def starting_values(name: str, current) -> list:
    """Two values to start a field's choice from: the current one and the next offered (the one before, at the end)."""
    offered = suggested_values(name, current)
    at = offered.index(current) if current in offered else 0
    return offered[at : at + 2] if at + 1 < len(offered) else offered[at - 1 : at + 1]


# ---- A sweep sent to the cluster ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sweep:
    """A grid sent to the cluster: one normal run per configuration, each recording `sweep_id`."""

    sweep_id: str
    owner: str  # who may stop it (a hash, never shown)
    fields: tuple[str, ...]  # the swept hyperparameters, in the order chosen
    run_ids: tuple[str, ...]  # in grid order
    configs: tuple[ModelConfig, ...]
    dataset: str
    limit: int | None = None
    name: str = ""  # the owner's display name when it started

    def to_dict(self) -> dict:
        values = dataclasses.asdict(self)
        values["configs"] = [dataclasses.asdict(config) for config in self.configs]
        return values

    @classmethod
    def from_dict(cls, values: dict) -> Sweep:
        known = {field.name for field in dataclasses.fields(ModelConfig)}
        configs = tuple(ModelConfig(**{k: v for k, v in config.items() if k in known}) for config in values["configs"])
        return cls(
            values["sweep_id"],
            owner_key(values["owner"]),
            tuple(values["fields"]),
            tuple(values["run_ids"]),
            configs,
            values["dataset"],
            values.get("limit"),
            values.get("name", ""),
        )


def best_index(accuracies: list[float | None]) -> int | None:
    """The position of the highest test accuracy (the first of equals), None when no run has one yet."""
    scored = [(accuracy, -index) for index, accuracy in enumerate(accuracies) if accuracy is not None]
    return -max(scored)[1] if scored else None


class SweepBook:
    """Every sweep started on a model folder, by id (core.state.SWEEPS_FILE)."""

    def __init__(self, root: Path | str):
        self.file = JsonFile(Path(root) / SWEEPS_FILE)

    def get(self, sweep_id: str) -> Sweep | None:
        """A sweep by id, or None (also for an entry this version cannot read)."""
        entry = self.file.read().get(sweep_id)
        try:
            return Sweep.from_dict(entry) if entry else None
        except (KeyError, TypeError, ValueError):
            return None

    def latest(self, owner: str) -> Sweep | None:
        """The owner's latest sweep, found again after a reload or on another server; None."""
        if not owner:
            return None
        mine = [
            sweep_id
            for sweep_id, entry in self.file.read().items()
            if isinstance(entry, dict) and owner_key(entry.get("owner", "")) == owner_key(owner)
        ]
        return self.get(max(mine)) if mine else None

    @contextlib.contextmanager
    def adding(self, sweep: Sweep):
        """Keep `sweep` once the block ends without an error; one block at a time across servers."""
        with self.file.updating() as sweeps:
            yield
            sweeps[sweep.sweep_id] = sweep.to_dict()
