"""A term's model folder: what it keeps, what it removes, and room for the next run.

The teacher's policy (core.state.RETENTION_FILE; every replica follows it) keeps, always: every run training now,
every run someone opened in a page in the last OPEN_MINUTES, each learner's best run and latest `keep_latest`, the
leaderboard's top `keep_top`; and, while the folder is under its quota, every run younger than `keep_days`. The rest
is removed whenever the policy is applied (by the web servers, every APPLY_MINUTES and within a minute of the
folder passing its quota, one replica at a time, and by the teacher's Apply now). Over the quota, the
youngest-but-unprotected go too, oldest first, until it fits.
A run's size is what its worker measured when it ended (RunRecord.bytes), so applying it reads no run folder.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from core.files import JsonFile, lock_path, locked
from core.state import OPEN_RUNS_FILE, RETENTION_FILE
from core.store import RunRecord, RunStore

QUOTA_ENV = "DIGITLAB_STORE_QUOTA"  # e.g. "2G", "500M": the folder's size the teacher allows
OPEN_MINUTES = 30  # a run someone opened in a page this recently is never removed
APPLY_MINUTES = 10  # how often the servers apply the policy
RESERVE_BYTES = 100 * 2**20  # what a run, a sweep or an import must leave free on the volume
NO_ROOM = "The server's disk is nearly full: ask your teacher to make room (Teacher page, Disk)."


@dataclass(frozen=True)
class Policy:
    keep_latest: int = 3  # per learner
    keep_top: int = 10  # the leaderboard's best
    keep_days: float = 14.0
    quota_bytes: int | None = None  # None: no limit but the volume's

    @classmethod
    def read(cls, root: Path | str) -> Policy:
        values = JsonFile(Path(root) / RETENTION_FILE).read().get("policy", {})
        try:
            policy = cls(**{k: v for k, v in values.items() if k in {f.name for f in dataclasses.fields(cls)}})
        except TypeError:
            policy = cls()
        if policy.quota_bytes is None and (quota := parse_size(os.environ.get(QUOTA_ENV, ""))) is not None:
            policy = dataclasses.replace(policy, quota_bytes=quota)
        return policy

    def keep(self, root: Path | str) -> None:
        with JsonFile(Path(root) / RETENTION_FILE).updating() as values:
            values["policy"] = dataclasses.asdict(self)


@dataclass(frozen=True)
class Plan:
    """What applying the policy would do now."""

    remove: list[RunRecord]
    kept: list[RunRecord]
    total_bytes: int  # the runs' size now
    after_bytes: int  # after the removals
    over_quota: bool  # still over the quota after every removable run went


def parse_size(text: str) -> int | None:
    """ "2G", "500M", "2000000": bytes; None for nothing or nonsense."""
    text = text.strip().upper().removesuffix("B")
    factor = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}.get(text[-1:], 1)
    try:
        value = float(text[:-1] if factor > 1 else text)
    except ValueError:
        return None
    return int(value * factor) if value > 0 else None


def plan(records: list[RunRecord], live: set[str], opened: set[str], policy: Policy, now: float, size_of=None) -> Plan:
    """Which runs go, by the policy's rules (see the module's docstring); `size_of(record)` its bytes on disk."""
    size_of = size_of or (lambda record: record.bytes)
    protected = set(live) | set(opened)
    by_learner: dict[str, list[RunRecord]] = {}
    for record in records:
        by_learner.setdefault(record.owner or "(uploaded)", []).append(record)
    for runs in by_learner.values():
        newest = sorted(runs, key=lambda r: r.created, reverse=True)
        protected |= {r.run_id for r in newest[: policy.keep_latest]}
        if scored := [r for r in runs if r.result.test_accuracy is not None]:
            protected.add(max(scored, key=lambda r: r.result.test_accuracy).run_id)
    ranked = sorted((r for r in records if r.result.test_accuracy is not None), key=lambda r: -r.result.test_accuracy)
    protected |= {r.run_id for r in ranked[: policy.keep_top]}
    young = {r.run_id for r in records if now - created_at(r) < policy.keep_days * 86400}
    remove = [r for r in records if r.run_id not in protected | young]
    total = sum(size_of(r) for r in records)
    after = total - sum(size_of(r) for r in remove)
    if policy.quota_bytes is not None:  # over the quota: the young go too, oldest first
        for record in sorted((r for r in records if r.run_id in young - protected), key=lambda r: r.created):
            if after <= policy.quota_bytes:
                break
            remove.append(record)
            after -= size_of(record)
    gone = {r.run_id for r in remove}
    kept = [r for r in records if r.run_id not in gone]
    over = policy.quota_bytes is not None and after > policy.quota_bytes
    return Plan(remove, kept, total, after, over)


def created_at(record: RunRecord) -> float:
    try:
        return datetime.fromisoformat(record.created).replace(tzinfo=UTC).timestamp()
    except ValueError:
        return 0.0


class Retention:
    """The policy applied to one model folder."""

    def __init__(self, store: RunStore):
        self.store = store

    def plan(self, now: float | None = None, policy: Policy | None = None) -> Plan:
        now = now or time.time()
        live = {record.run_id for record in self.store.live_records()}
        policy = policy or Policy.read(self.store.root)
        return plan(self.store.records(), live, self.opened(now), policy, now, self.store.bytes_of)

    def apply(self, now: float | None = None) -> list[str]:
        """Remove what the policy says, now; the run ids removed (a run that became live meanwhile stays)."""
        with locked(lock_path(self.store.root / "retention")):  # one server at a time (not retention.json's lock)
            removed = [record.run_id for record in self.plan(now).remove if self.store.remove(record.run_id)]
            with JsonFile(self.store.root / RETENTION_FILE).updating() as values:
                values["applied"] = now or time.time()
        return removed

    def due(self, now: float | None = None) -> bool:
        """Whether to apply the policy now: it was last applied (by any server) more than APPLY_MINUTES ago, or the
        folder is over its quota with runs the policy may remove (a lesson's runs fill it faster than that)."""
        now = now or time.time()
        applied = JsonFile(self.store.root / RETENTION_FILE).read().get("applied", 0)
        if now - applied >= APPLY_MINUTES * 60:
            return True
        policy = Policy.read(self.store.root)
        if policy.quota_bytes is None:
            return False
        scheduled = self.plan(now, policy)
        return scheduled.total_bytes > policy.quota_bytes and bool(scheduled.remove)

    def opened(self, now: float) -> set[str]:
        """The runs someone opened in a page within OPEN_MINUTES."""
        seen = JsonFile(self.store.root / OPEN_RUNS_FILE).read()
        return {run_id for run_id, moment in seen.items() if now - moment < OPEN_MINUTES * 60}

    def mark_opened(self, run_ids: list[str], now: float | None = None) -> None:
        """Pages call this (at most every few minutes a run): these runs are in someone's view."""
        now = now or time.time()
        with JsonFile(self.store.root / OPEN_RUNS_FILE).updating() as seen:
            for stale in [run_id for run_id, moment in seen.items() if now - moment >= OPEN_MINUTES * 60]:
                del seen[stale]
            seen.update(dict.fromkeys(run_ids, now))


class NoRoom(Exception):
    """Work refused for want of disk space; the message is meant for the user."""


def free_bytes(root: Path | str) -> int:
    """Free space on the volume that holds the model folder."""
    folder = Path(root)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return shutil.disk_usage(folder).free


def room_problem(root: Path | str, needed: int) -> str | None:
    """Why `needed` more bytes should not be written now (what the page says), or None."""
    free = free_bytes(root)
    if free - needed < RESERVE_BYTES:
        return f"{NO_ROOM} ({free / 2**20:,.0f} MB free, {needed / 2**20:,.1f} MB needed.)"
    return None
