"""A term's model folder: the retention policy keeps exactly what it promises, the quota is held, work that would
not fit is refused before it starts, and the cluster's log is rotated."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime, timedelta

import pytest

from core import retention
from core.cluster_client import rotated
from core.config import SEED
from core.retention import Policy, Retention, plan
from core.run_board import JobError, RunBoard
from core.runs import RunResult, RunState, TrainingRequest
from core.state import RECORD_FILE
from core.store import RunRecord, RunStore, new_run_id
from pages.common import services

NOW = datetime(2026, 12, 4, 12, tzinfo=UTC)
MB = 2**20


def record(learner: int, days_ago: float, accuracy: float | None, index: int = 0, megabytes: float = 1) -> RunRecord:
    created = NOW - timedelta(days=days_ago)
    return RunRecord(
        created.strftime("%Y%m%d-%H%M%S-") + f"{learner:02x}{index:04x}",
        "mnist",
        {},
        RunState.FINISHED,
        RunResult(test_accuracy=accuracy),
        created=created.isoformat(timespec="seconds"),
        owner=f"{learner:016x}",
        bytes=int(megabytes * MB),
    )


def term() -> list[RunRecord]:
    """Three learners, eight runs each, one a day, 3 to 10 days old; learner 2's oldest run is the class's best."""
    runs = [record(learner, 3 + day, 0.90 + 0.001 * day, day) for learner in range(3) for day in range(8)]
    runs[-1] = dataclasses.replace(runs[-1], result=RunResult(test_accuracy=0.99))
    return runs


def test_the_policy_keeps_each_learners_latest_and_best_the_top_the_young_the_live_and_the_open():
    runs = term()
    policy = Policy(keep_latest=2, keep_top=1, keep_days=4)
    live, opened = {runs[5].run_id}, {runs[13].run_id}
    result = plan(runs, live, opened, policy, NOW.timestamp())
    kept = {r.run_id for r in result.kept}
    for learner in range(3):
        mine = sorted((r for r in runs if r.owner == f"{learner:016x}"), key=lambda r: r.created)
        assert {r.run_id for r in mine[-2:]} <= kept  # the latest two
        assert max(mine, key=lambda r: r.result.test_accuracy).run_id in kept  # the best
    assert runs[-1].run_id in kept  # the top of the leaderboard, and learner 2's best: its oldest
    assert live | opened <= kept
    assert all(r.run_id in kept for r in runs if (NOW - datetime.fromisoformat(r.created)).days < 4)
    assert len(result.remove) == 24 - len(kept) and result.remove  # everything else goes
    assert result.total_bytes == 24 * MB and result.after_bytes == len(kept) * MB and not result.over_quota


def test_over_the_quota_the_young_go_oldest_first_and_what_must_stay_is_reported():
    runs = term()
    policy = Policy(keep_latest=1, keep_top=0, keep_days=30, quota_bytes=10 * MB)  # all young: kept unless over
    result = plan(runs, set(), set(), policy, NOW.timestamp())
    assert result.after_bytes <= 10 * MB and not result.over_quota
    removed = sorted(result.remove, key=lambda r: r.created)
    assert max(r.created for r in removed) <= min(r.created for r in result.kept if r.created > removed[-1].created)
    tight = plan(runs, set(), set(), dataclasses.replace(policy, quota_bytes=2 * MB), NOW.timestamp())
    assert tight.over_quota and len(tight.kept) == 6  # each learner's latest and best (their oldest): protected


def test_applying_it_removes_the_folders_it_promised_and_leaves_a_run_opened_in_a_page(model_dir):
    store = RunStore(model_dir)
    now = time.time()
    runs = [
        dataclasses.replace(
            r,
            created=(datetime.fromtimestamp(now, UTC) - (NOW - datetime.fromisoformat(r.created))).isoformat(
                timespec="seconds"
            ),
        )
        for r in term()
    ]
    for run in runs:
        (model_dir / run.run_id).mkdir()
        (model_dir / run.run_id / RECORD_FILE).write_text(run.to_json())
        (model_dir / run.run_id / "model.keras").write_bytes(b"m" * 100)
    Policy(keep_latest=1, keep_top=0, keep_days=0).keep(model_dir)
    keeper = Retention(store)
    keeper.mark_opened([runs[3].run_id], now=now)  # neither a latest nor a best: kept only as open
    assert keeper.due(now)
    removed = keeper.apply(now)
    left = {r.run_id for r in store.records()}
    assert runs[3].run_id in left and runs[3].run_id not in removed  # open in someone's page
    assert len(left) == 3 + 3 + 1 and len(removed) == 24 - len(left)  # each one's latest and best, the open one
    assert all(not (model_dir / run_id).exists() for run_id in removed)
    assert not keeper.due(now + 60)  # applied: not again for a while, by any replica


def test_a_folder_past_its_quota_is_trimmed_within_the_minute_not_at_the_next_round(model_dir):
    store, keeper, now = RunStore(model_dir), Retention(RunStore(model_dir)), time.time()
    for minutes, accuracy in ((30, 0.99), (20, 0.90), (10, 0.91), (0, 0.92)):  # one learner's lesson, 1 MB each
        created = datetime.fromtimestamp(now - minutes * 60, UTC)
        run = dataclasses.replace(record(1, 0, accuracy, minutes), created=created.isoformat(timespec="seconds"))
        (model_dir / run.run_id).mkdir()
        (model_dir / run.run_id / RECORD_FILE).write_text(run.to_json())
    Policy(keep_latest=1, keep_top=0, keep_days=30).keep(model_dir)
    keeper.apply(now)  # all young, no quota: nothing goes
    assert len(store.records()) == 4 and not keeper.due(now + 60)
    Policy(keep_latest=1, keep_top=0, keep_days=30, quota_bytes=3 * MB).keep(model_dir)
    assert keeper.due(now + 60)  # over the quota with young runs it may remove: now, not in APPLY_MINUTES
    assert len(keeper.apply(now + 60)) == 1  # the oldest unprotected one (the best and the latest stay)
    assert not keeper.due(now + 120)  # back under it
    Policy(keep_latest=1, keep_top=0, keep_days=30, quota_bytes=1 * MB).keep(model_dir)
    keeper.apply(now + 120)
    assert len(store.records()) == 2 and not keeper.due(now + 180)  # over it, but only what must stay is left


def test_work_that_would_not_fit_is_refused_before_it_starts(model_dir, monkeypatch):
    monkeypatch.setattr(retention, "free_bytes", lambda root: 150 * MB)  # 50 MB past the reserve
    board = RunBoard(RunStore(model_dir))  # an embedded cluster that is never started: the refusal comes first
    big = dataclasses.replace(SEED, units=1024, hidden_layers=4, epochs=30)  # ~4 million weights: ~300 MB
    with pytest.raises(JobError, match="disk is nearly full"):
        board.start("alice", TrainingRequest(new_run_id(), big, "mnist"))
    with pytest.raises(JobError, match="disk is nearly full"):
        board.start_sweep("alice", big, {"units": [512, 1024], "epochs": [10, 30]}, "mnist")
    with pytest.raises(retention.NoRoom, match="disk is nearly full"):
        services.start_task("class.zip", print, b"z" * 20 * MB)
    assert list(model_dir.iterdir()) == []  # nothing was written


def test_on_a_full_volume_a_run_is_refused_with_its_reason(tiny_disk):
    with pytest.raises(JobError, match=r"disk is nearly full.*MB free"):
        RunBoard(RunStore(tiny_disk)).start("alice", TrainingRequest(new_run_id(), SEED, "mnist"))
    assert list(tiny_disk.iterdir()) == []


def test_the_clusters_log_is_rotated_past_its_limit(tmp_path):
    log = tmp_path / ".cluster.log"
    log.write_bytes(b"x" * 100)
    assert rotated(log, limit=1000) == log and log.exists()
    assert rotated(log, limit=50) == log and not log.exists() and (tmp_path / ".cluster.log.1").stat().st_size == 100


def test_a_server_remembers_only_the_runs_it_marked_lately(model_dir, monkeypatch):
    """mark_opened writes a run down at most every few minutes; what it remembers for that does not grow over
    a term of runs opened."""
    clock = [1_000_000.0]
    monkeypatch.setattr(services.time, "time", lambda: clock[0])
    services._marked.clear()
    for index in range(5):
        services.mark_opened(f"run-{index}")
        clock[0] += services.MARK_EVERY_SECONDS / 2
    opened = Retention(RunStore(model_dir)).opened(clock[0])
    assert {f"run-{index}" for index in range(5)} <= opened  # each written down for retention
    assert set(services._marked(str(model_dir))) == {"run-3", "run-4"}  # the others' minutes have passed
