"""core.sweeps: the grid builder (values, order, every refusal); sweeps on a real cluster (marked cluster)."""

import dataclasses
import json

import pytest

from core.config import FIELDS, SEED
from core.sweeps import MAX_RUNS, Sweep, SweepError, best_index, grid, parse_value, suggested_values
from harness.waiting import wait_until
from tests.apptest import open_page, plain

SMALL_CNN = dataclasses.replace(SEED, family="cnn")


# ---- grid ---------------------------------------------------------------------------------------------------


def test_grid_is_the_product_in_order_the_last_field_fastest_on_top_of_the_config():
    base = dataclasses.replace(SEED, epochs=2, dropout=0.2)
    configs = grid(base, {"units": [64, 128], "optimizer": ["adam", "sgd", "rmsprop"]})
    assert [(c.units, c.optimizer) for c in configs] == [
        (64, "adam"),
        (64, "sgd"),
        (64, "rmsprop"),
        (128, "adam"),
        (128, "sgd"),
        (128, "rmsprop"),
    ]
    assert all(c.epochs == 2 and c.dropout == 0.2 for c in configs)  # the rest is the sidebar's


def test_grid_of_three_fields_and_sixteen_runs():
    configs = grid(SEED, {"learning_rate": [0.001, 0.01], "batch_size": [32, 64, 128, 256], "hidden_layers": [1, 2]})
    assert len(configs) == MAX_RUNS == len(set(configs))
    assert (configs[0].learning_rate, configs[0].batch_size, configs[0].hidden_layers) == (0.001, 32, 1)
    assert (configs[1].learning_rate, configs[1].batch_size, configs[1].hidden_layers) == (0.001, 32, 2)
    assert (configs[-1].learning_rate, configs[-1].batch_size, configs[-1].hidden_layers) == (0.01, 256, 2)


def test_values_become_the_fields_type():
    [first, _] = grid(SEED, {"units": [32.0, 64], "dropout": [0, 0.5]})[::2]
    assert type(first.units) is int and first.units == 32
    assert type(first.dropout) is float
    assert grid(SMALL_CNN, {"filters": [8, 16], "l2": [0, 1e-4]})[0].l2 == 0.0


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"units": [32, 64]}, "2 or 3 hyperparameters, not 1"),
        ({"units": [32, 64], "dropout": [0.1, 0.2], "epochs": [1, 2], "seed": [1, 2]}, "not 4"),
        ([("units", [32, 64])], "not 0"),
        ({"units": [32, 64], "colour": ["red", "blue"]}, "'colour' is not a hyperparameter"),
        ({"units": [32, 64], 7: [1, 2]}, "'7' is not a hyperparameter"),
        ({"units": [32], "dropout": [0.1, 0.2]}, "Units per hidden layer: choose 2 to 4 values, not 1"),
        ({"units": [16, 32, 48, 64, 80], "dropout": [0.1, 0.2]}, "choose 2 to 4 values, not 5"),
        ({"units": "32,64", "dropout": [0.1, 0.2]}, "choose 2 to 4 values, not 0"),
        ({"units": [32, 32], "dropout": [0.1, 0.2]}, "each value once"),
        ({"units": [32, 2048], "dropout": [0.1, 0.2]}, "Units per hidden layer: 2048 is outside 16 to 1024"),
        ({"units": [32, 40], "dropout": [0.1, 0.2]}, "40 is not on the slider (steps of 16; nearest 48)"),
        ({"units": [32, 64.5], "dropout": [0.1, 0.2]}, "64.5 is not a whole number"),
        ({"units": [32, True], "dropout": [0.1, 0.2]}, "True is not a number"),
        ({"units": [32, "64"], "dropout": [0.1, 0.2]}, "'64' is not a number"),
        ({"units": [32, float("nan")], "dropout": [0.1, 0.2]}, "nan is not a number"),
        ({"dropout": [0.1, 0.9], "units": [32, 64]}, "Dropout: 0.9 is outside 0 to 0.7"),
        ({"optimizer": ["adam", "lbfgs"], "units": [32, 64]}, "'lbfgs' is not one of RMSprop, Adam, SGD + momentum"),
        ({"learning_rate": [0.001, 0.003], "units": [32, 64]}, "Learning rate: 0.003 is not one of"),
        ({"filters": [8, 16], "units": [32, 64]}, "Conv filters only changes a CNN"),
        (
            {"units": [16, 32, 64, 128], "dropout": [0.0, 0.1, 0.2, 0.3], "epochs": [1, 2]},
            "at most 16 runs, not 4 x 4 x 2 = 32",
        ),
    ],
)
def test_grid_refuses_with_a_message_naming_the_field_and_value(values, message):
    with pytest.raises(SweepError) as refused:
        grid(SEED, values)
    assert message in str(refused.value)


def test_a_cnn_only_field_is_refused_when_the_family_is_swept_too():
    with pytest.raises(SweepError, match="Conv filters only changes a CNN"):
        grid(SMALL_CNN, {"family": ["dense", "cnn"], "filters": [8, 16]})


def test_a_sidebar_config_outside_the_panel_is_refused():
    with pytest.raises(SweepError, match="cannot be swept: units must lie between"):
        grid(dataclasses.replace(SEED, units=5000), {"dropout": [0.0, 0.1], "epochs": [1, 2]})


def test_typed_values_are_parsed_then_checked_by_grid():
    assert parse_value("units", " 64 ") == 64.0 and parse_value("dropout", 0.2) == 0.2
    for text in ("lots", "inf", "nan", "1e999"):
        with pytest.raises(SweepError, match="Units per hidden layer: .* is not a number"):
            parse_value("units", text)
    assert grid(SEED, {"units": [parse_value("units", "64"), 128], "epochs": [1, 2]})[0].units == 64


def test_suggested_values_are_all_accepted_by_grid():
    for name, spec in FIELDS.items():
        offered = suggested_values(name, getattr(SEED, name))
        assert 2 <= len(offered) <= 19, name
        assert getattr(SEED, name) in offered or spec.choices, name
        base = SMALL_CNN if spec.cnn_only else SEED
        other = "epochs" if name != "epochs" else "units"
        grid(base, {name: offered[:2], other: suggested_values(other, 1)[:2]})  # no refusal
    assert suggested_values("units", 512) == [16, 32, 64, 128, 256, 512, 1024]


def test_a_sweep_record_survives_json_and_the_best_run_is_found():
    sweep = Sweep(
        "20261201-120000-abcdef",
        "owner",
        ("units", "epochs"),
        ("r1", "r2"),
        tuple(grid(SEED, {"units": [32, 64], "epochs": [1, 2]})[:2]),
        "mnist",
        2000,
        "Ada",
    )
    assert Sweep.from_dict(sweep.to_dict()) == sweep
    assert best_index([None, 0.91, 0.95, 0.95]) == 2 and best_index([None, None]) is None


# ---- On a real cluster --------------------------------------------------------------------------------------

TINY = dataclasses.replace(SEED, units=32, epochs=1)
TIMEOUT = 180


@pytest.fixture
def board(training_cluster, tmp_path):
    from core.run_board import RunBoard
    from core.store import RunStore

    return RunBoard(RunStore(tmp_path), training_cluster)


@pytest.mark.cluster
def test_a_sweep_trains_its_runs_with_its_id_one_sweep_per_owner_and_another_learner_is_not_queued_behind_it(board):
    from core.run_board import JobError
    from core.runs import RunState, TrainingRequest
    from core.store import new_run_id

    values = {"dropout": [0.0, 0.1, 0.2], "epochs": [1, 2]}  # 6 runs on 2 workers: 3 rounds
    sweep = board.start_sweep("alice", TINY, values, "mnist", limit=2_000, name="Alice")
    assert len(sweep.run_ids) == 6 and board.sweeps.latest("alice") == sweep and board.sweeps.latest("bob") is None
    with pytest.raises(JobError, match=f"Your sweep {sweep.sweep_id} is still training"):
        board.start_sweep("alice", TINY, {"units": [32, 64], "epochs": [1, 2]}, "mnist", limit=2_000)
    with pytest.raises(JobError, match="Your sweep .* is still training"):
        board.start("alice", TrainingRequest(new_run_id(), TINY, "mnist", 2_000))

    bob = board.start("bob", TrainingRequest(new_run_id(), TINY, "mnist", 2_000))
    wait_until(lambda: (p := board.progress(bob)) is not None and p.state is not RunState.WAITING, what="bob's start")
    still_waiting = [p for p in board.sweep_progress(sweep) if p is not None and p.state is RunState.WAITING]
    assert still_waiting, "bob's run was queued behind the whole sweep"

    wait_until(lambda: all(p is not None and p.ended for p in board.sweep_progress(sweep)), what="the sweep")
    records = {record.run_id: record for record in board.store.records()}
    for run_id, config in zip(sweep.run_ids, sweep.configs, strict=True):
        record = records[run_id]
        assert record.state is RunState.FINISHED and record.sweep == sweep.sweep_id and record.owner == "alice"
        assert record.name == "Alice" and record.config["dropout"] == config.dropout
    assert records[bob].sweep == ""
    second = board.start_sweep("alice", TINY, {"units": [32, 48], "epochs": [1, 2]}, "mnist", limit=2_000)
    assert board.sweeps.latest("alice") == second  # once the first ended, a second may start
    assert board.stop_sweep(second.sweep_id, "bob") == 0  # only its owner stops it
    assert board.stop_sweep(second.sweep_id, "alice") == 4
    # A run that a worker took just as the stop came reads "stopped before it started" (its waiting entry) until its
    # folder opens, running, and it stops: its last word comes when no worker holds a task any more.
    client = board.cluster.existing_client()
    wait_until(
        lambda: (
            not any(client.processing().values())
            and all(
                p is not None and p.state in (RunState.STOPPED, RunState.FINISHED) for p in board.sweep_progress(second)
            )
        ),
        what="every run of the stopped sweep stopped or finished, no worker busy",
    )


# ---- The Sweep section of the Training page (AppTest) -------------------------------------------------------

PAGE = "pages/training.py"


def sweep_button(app):
    return app.button(key="start_sweep")


def sweep_note(app) -> str:
    return next((plain(c.value) for c in app.caption if c.value.startswith("Not a sweep yet")), "")


def test_the_sweep_form_counts_runs_and_refuses_what_grid_refuses():
    app = open_page(PAGE, {"units": "32", "view": "sweep"})
    assert not app.exception
    assert app.pills(key="sweep_fields").value == ["units", "learning_rate"]
    assert app.pills(key="sweep_values_units").value == [32, 64]
    assert sweep_button(app).label == "Start sweep (4 runs)" and not sweep_button(app).disabled

    app.text_input(key="sweep_typed_units").input("<b>x</b>").run()  # typed values are text
    assert not app.exception and sweep_button(app).disabled
    assert sweep_note(app) == "Not a sweep yet: Units per hidden layer: '<b>x</b>' is not a number."
    app.text_input(key="sweep_typed_units").input("100").run()
    assert "100.0 is not on the slider (steps of 16; nearest 96)" in sweep_note(app)
    app.text_input(key="sweep_typed_units").input("96, 4096").run()
    assert "4096.0 is outside 16 to 1024" in sweep_note(app)

    app.text_input(key="sweep_typed_units").input("96").run()
    assert sweep_button(app).label == "Start sweep (6 runs)"  # 32, 64 and the typed 96, times two rates
    app.pills(key="sweep_values_units").set_value([32, 128]).run()
    app.pills(key="sweep_fields").set_value(["units", "learning_rate", "dropout"]).run()
    app.pills(key="sweep_values_learning_rate").set_value([0.001, 0.01, 0.1]).run()
    assert sweep_note(app) == "Not a sweep yet: A sweep has at most 16 runs, not 3 x 3 x 2 = 18: choose fewer values."
    app.pills(key="sweep_values_dropout").set_value([0.0]).run()
    assert "Dropout: choose 2 to 4 values, not 1" in sweep_note(app)
    app.pills(key="sweep_fields").set_value(["units"]).run()
    assert "2 or 3 hyperparameters, not 1" in sweep_note(app) and sweep_button(app).disabled
    app.pills(key="sweep_fields").set_value(["units", "learning_rate", "dropout", "l2"]).run()
    assert "2 or 3 hyperparameters, not 4" in sweep_note(app) and sweep_button(app).disabled
    assert not app.exception


@pytest.mark.cluster
def test_a_sweep_started_on_the_page_shows_its_runs_chart_and_links_and_a_second_is_refused():
    from core.config import config_from_query
    from pages.common import caches

    app = open_page(PAGE, {"units": "32", "epochs": "1", "view": "sweep"}, sweep_size="2,000 images")
    sweep_button(app).click().run()
    assert not app.exception
    sweep = caches.run_board().sweeps.latest(app.session_state["session_owner"])
    assert sweep is not None and len(sweep.run_ids) == 4 and sweep.limit == 2_000
    assert f"Your sweep {sweep.sweep_id}" in [s.value for s in app.subheader]
    sweep_button(app).click().run()
    assert any("is still training" in e.value for e in app.error) and not app.exception

    wait_until(lambda: all(p and p.ended for p in caches.run_board().sweep_progress(sweep)), what="the sweep")
    app.run()
    assert not app.exception
    table = next(frame.value for frame in app.dataframe if "train this yourself" in frame.value.columns)
    assert list(table["state"]) == ["finished"] * 4 and list(table[""]).count("★") == 1
    assert list(table["Units per hidden layer"]) == ["32", "32", "64", "64"]
    assert list(table["run"]) == [f"?run={run_id}" for run_id in sweep.run_ids]
    for link, config in zip(table["train this yourself"], sweep.configs, strict=True):
        params = dict(pair.split("=") for pair in link.lstrip("?").split("&"))
        assert config_from_query(params) == (config, [])  # the link trains the same network
    [chart] = [json.loads(chart.proto.spec) for chart in app.get("plotly_chart") if "parcoords" in chart.proto.spec]
    *hyperparameters, accuracy = chart["data"][0]["dimensions"]
    assert [axis["label"] for axis in hyperparameters] == ["Units per hidden layer", "Learning rate (log)"]
    assert accuracy["label"] == "test accuracy" and len(accuracy["values"]) == 4
    assert any(label.startswith("★") for label in accuracy["ticktext"])  # the best run, marked
    assert any(c.value.startswith("Best so far") for c in app.caption)
