"""The class together: parameter counts, the challenge, ranking, exports, the teacher's key; the Leaderboard and
Teacher pages."""

import csv
import dataclasses
import io
import shutil
import time

import numpy as np
import pytest

from core import classroom
from core.config import PRESETS, SEED, parameter_count
from core.my_digits import CLASS_DIGITS_SOURCE, LabelledDigits, kept_back
from core.runs import Progress, RunResult, RunState
from core.store import RunRecord, RunStore
from core.zip_import import dataset_from_zip
from harness.waiting import wait_until
from pages.common import caches
from tests.apptest import open_page


@pytest.mark.parametrize(
    "config",
    [
        SEED,
        PRESETS["Small CNN"].config,
        PRESETS["Wider with dropout"].config,
        dataclasses.replace(SEED, hidden_layers=0),
    ],
)
@pytest.mark.parametrize("shape", [(28, 28), (8, 8)])
def test_parameters_are_counted_as_keras_counts_them(config, shape):
    from core.model import build_model, input_shape_for

    model = build_model(config, input_shape_for(config, shape))
    assert parameter_count(config, shape) == model.count_params()


def record(
    run_id: str, accuracy: float | None, owner: str = "a" * 64, name: str = "", epochs: int = 5, **config
) -> RunRecord:
    history = {"loss": [1.0] * epochs, "accuracy": [0.9] * epochs}
    return RunRecord(
        run_id,
        "mnist",
        dataclasses.asdict(dataclasses.replace(SEED, epochs=epochs, **config)),
        RunState.FINISHED,
        RunResult(history, test_accuracy=accuracy, seconds=3.0),
        owner=owner,
        name=name,
    )


def test_runs_rank_by_test_accuracy_then_the_class_digits_and_the_challenge_marks_who_qualifies():
    records = [
        record("20260101-000001-aaaaaa", 0.95, units=32),
        record("20260101-000002-bbbbbb", 0.98),
        record("20260101-000003-cccccc", 0.98, units=64, epochs=2, owner="b" * 64, name="Bo"),
    ]
    running = RunRecord("20260101-000004-dddddd", "mnist", dataclasses.asdict(SEED), RunState.RUNNING)
    live = [
        Progress(
            running.run_id, state=RunState.RUNNING, epochs=5, result=RunResult({"loss": [0.3], "test_accuracy": [0.96]})
        )
    ]
    scores = {
        "20260101-000003-cccccc": {"digits": "v1", "accuracy": 0.9, "count": 40},
        "20260101-000002-bbbbbb": {"digits": "v0", "accuracy": 1.0, "count": 30},
    }
    challenge = classroom.Challenge(max_parameters=60_000, max_epochs=3)
    rows = classroom.leaderboard([*records, running], live, {"a" * 16: "Ada"}, scores, {"mnist": "v1"}, challenge)
    assert [row.run_id[-6:] for row in rows] == ["cccccc", "bbbbbb", "dddddd", "aaaaaa"]  # ties: the class's digits
    first, second, third, fourth = rows
    assert (first.name, first.class_accuracy, first.class_digits) == ("Bo", 0.9, 40)
    assert second.class_accuracy is None and second.name == "Ada"  # a score on older digits is stale
    assert third.state == "running" and third.test_accuracy == 0.96  # its latest held-out reading
    assert first.parameters == 784 * 64 + 64 + 65 * 10 and first.qualifies  # 50,890 parameters, 2 epochs
    assert not second.qualifies and not fourth.qualifies  # 5 epochs
    assert "units=64" in first.try_it and "epochs=2" in first.try_it
    assert challenge.describe() == "at most 60,000 parameters and at most 3 epochs"


def test_the_challenge_is_kept_and_cleared(tmp_path):
    assert not classroom.read_challenge(tmp_path).active
    classroom.set_challenge(tmp_path, classroom.Challenge(max_epochs=3))
    assert classroom.read_challenge(tmp_path) == classroom.Challenge(max_epochs=3)
    classroom.set_challenge(tmp_path, classroom.Challenge())
    assert not classroom.read_challenge(tmp_path).active


def test_results_csv_keeps_a_hostile_name_as_text():
    row = classroom.leaderboard(
        [record("20260101-000001-aaaaaa", 0.9, name='=HYPERLINK("x")')],
        [],
        {},
        {},
        {"mnist": "v"},
        classroom.Challenge(),
    )
    [header, line] = list(csv.reader(io.StringIO(classroom.results_csv(row))))
    assert header[:3] == ["rank", "name", "run_id"] and line[1] == '\'=HYPERLINK("x")'


def test_the_digits_zip_is_what_upload_your_own_digits_reads():
    rng = np.random.default_rng(0)
    digits = LabelledDigits(rng.random((12, 28, 28), dtype=np.float32), np.arange(12) % 10, np.array(["o"] * 12))
    dataset = dataset_from_zip(classroom.digits_zip(digits), "class")
    assert len(dataset.x_train) + len(dataset.x_test) == 12
    assert sorted([*dataset.y_train, *dataset.y_test]) == sorted(digits.labels.tolist())


def test_a_removed_run_is_gone_and_a_live_one_is_kept(tmp_path, trained_run, model_dir):
    store = RunStore(tmp_path)
    finished = record("20260101-000001-aaaaaa", 0.9)
    running = RunRecord("20260101-000002-bbbbbb", "mnist", {}, RunState.RUNNING)
    store.save(finished, RunStore(model_dir).model_path(trained_run).read_bytes())
    (tmp_path / running.run_id).mkdir()
    (tmp_path / running.run_id / "run.json").write_text(running.to_json())
    (tmp_path / running.run_id / "progress.json").write_text(json_progress(running.run_id))
    assert store.remove(finished.run_id) and store.get(finished.run_id) is None
    assert not list(tmp_path.glob(".partial-*"))
    assert not store.remove(running.run_id) and store.get(running.run_id) is not None


def json_progress(run_id: str) -> str:
    import json

    progress = Progress(run_id, state=RunState.RUNNING, epochs=5)
    progress.updated = time.time() + 3600  # fresh for the test's duration
    return json.dumps(progress.to_dict())


def test_the_leaderboard_page_ranks_the_class_and_filters_mine(trained_run):
    app = open_page("pages/leaderboard.py")
    assert not app.exception
    table = app.dataframe[0].value
    assert trained_run in " ".join(table["run"].tolist())
    app.toggle(key="board_mine").set_value(True).run()
    assert not app.exception and any("No run matches" in caption.value for caption in app.caption)


@pytest.mark.cluster
def test_the_leaderboard_reads_the_class_digits_on_the_cluster(trained_run, mnist, model_dir):
    digits = caches.my_digits("mnist")
    for index in range(20):
        digits.add(mnist.x_test[index] / 255.0, int(mnist.y_test[index]), owner="e" * 64)
    with_digits = "20260101-000009-eeeeee"  # the same model, as if it had trained on the class's digits
    shutil.copytree(model_dir / trained_run, model_dir / with_digits)
    copied = RunStore(model_dir).get(with_digits)
    copied = dataclasses.replace(copied, run_id=with_digits, source=f"trained {CLASS_DIGITS_SOURCE}")
    (model_dir / with_digits / "run.json").write_text(copied.to_json())
    try:
        app = open_page("pages/leaderboard.py")

        def row_read():
            app.run()
            assert not app.exception and not app.error
            table = app.dataframe[0].value
            row = table[table["run"] == f"training?run={trained_run}"].iloc[0].to_dict()
            return row if row["digits read"] == len(digits.load()) else None

        row = wait_until(row_read, timeout=180, what="the class's digits read", every=1)
        assert 0.5 <= row["class's digits"] <= 1.0  # a 90% model on 20 of MNIST's own test digits
        scores = classroom.read_scores(model_dir)
        assert scores[trained_run]["count"] >= 20 and scores[trained_run]["digits"] == classroom.digits_version(digits)
        kept = int(kept_back(digits.load()).sum())
        assert scores[with_digits]["count"] == kept < scores[trained_run]["count"]  # only what it never saw
    finally:
        digits.clear("e" * 64)
        RunStore(model_dir).remove(with_digits)
