"""core.config: the one table of hyperparameters, the presets, and links that share a configuration."""

import dataclasses

import pytest

from core.config import (
    FIELDS,
    PRESETS,
    SEED,
    ConfigError,
    ModelConfig,
    check_config,
    config_from_query,
    config_to_query,
    matching_preset,
    snap_to_panel,
)


def test_every_config_field_is_in_the_table_and_the_seed_fits_it():
    assert set(FIELDS) == {field.name for field in dataclasses.fields(ModelConfig)}
    check_config(SEED)
    for name, spec in FIELDS.items():
        assert spec.allows(getattr(SEED, name)), name
        assert bool(spec.choices) != (spec.low is not None), f"{name}: choices or a range, not both"


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_fits_the_table_and_is_found_again(name):
    config = PRESETS[name].config
    check_config(config)
    assert snap_to_panel(config) == config and matching_preset(config) == name


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"units": 5000}, "units"),
        ({"activation": "swish"}, "activation"),
        ({"epochs": 0}, "epochs"),
        ({"learning_rate": float("nan")}, "learning_rate"),
        ({"batch_size": 100_000}, "batch_size"),
    ],
)
def test_out_of_range_values_are_refused_with_the_field_named(change, field):
    with pytest.raises(ConfigError, match=field):
        check_config(dataclasses.replace(SEED, **change))


def test_values_snap_to_the_nearest_step_the_panel_offers():
    snapped = snap_to_panel(dataclasses.replace(SEED, units=100, learning_rate=0.0025, batch_size=100, dropout=0.33))
    assert (snapped.units, snapped.learning_rate, snapped.batch_size, snapped.dropout) == (96, 0.002, 128, 0.35)


def test_query_parameters_round_trip():
    config = ModelConfig(
        hidden_layers=2,
        units=256,
        dropout=0.25,
        optimizer="sgd",
        learning_rate=0.02,
        batch_size=64,
        epochs=12,
        validation_split=0.1,
        seed=7,
        activation="tanh",
        l2=1e-4,
    )
    params = config_to_query(config)
    assert config_from_query(params) == (config, [])
    assert config_to_query(SEED) == {}


def test_bad_query_values_are_ignored_with_a_note():
    config, problems = config_from_query(
        {"units": "lots", "epochs": "99", "optimizer": "adam", "learning_rate": "nan", "seed": "1" * 500}
    )
    assert config == dataclasses.replace(SEED, optimizer="adam")
    assert [problem.split("=")[0] for problem in problems] == [
        "Ignored units",
        "Ignored learning_rate",
        "Ignored epochs",
        "Ignored seed",
    ]
    assert all(len(problem) < 200 for problem in problems)  # a long value is cut, never echoed whole
