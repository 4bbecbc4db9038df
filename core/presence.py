"""Who is in the lesson and where: each learner's open page writes down, every few seconds, which page it shows
(presence/<owner>.json in the model folder, so every replica's learners count); the Teacher page reads them into
the class at a glance (core.presence.class_at_a_glance), one row a learner.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from core.files import write_atomically
from core.names import generated_name
from core.owners import owner_key
from core.runs import Progress
from core.state import PRESENCE_FOLDER
from core.store import RunRecord, run_started

CONNECTED_SECONDS = 15  # a page that wrote within this long is open now (pages write every 5 s)
IDLE_MINUTES = 10  # a learner seen this long without starting a run is marked
MAX_PAGE = 40  # characters of a page's title kept


@dataclass(frozen=True)
class Seen:
    owner: str
    page: str
    first: float  # when this learner was first seen in the lesson (epoch seconds)
    last: float


class Presence:
    """presence/ in a model folder: one small file a learner, replaced whole."""

    def __init__(self, root: Path | str):
        self.folder = Path(root) / PRESENCE_FOLDER

    def seen(self, owner: str, page: str, now: float | None = None) -> None:
        """This learner's page is open now; `first` is kept from an earlier write."""
        now = time.time() if now is None else now
        key = owner_key(owner)
        path = self.folder / f"{key}.json"
        earlier = self._read(path)
        first = earlier.first if earlier is not None else now
        self.folder.mkdir(parents=True, exist_ok=True)
        record = {"owner": key, "page": str(page)[:MAX_PAGE], "first": first, "last": now}
        write_atomically(path, json.dumps(record), durable=False)

    def everyone(self) -> list[Seen]:
        if not self.folder.is_dir():
            return []
        return [seen for path in sorted(self.folder.glob("*.json")) if (seen := self._read(path)) is not None]

    def clear(self) -> None:
        """A new lesson: nobody has been seen in it yet."""
        for path in self.folder.glob("*.json"):
            path.unlink(missing_ok=True)

    @staticmethod
    def _read(path: Path) -> Seen | None:
        try:
            values = json.loads(path.read_text())
            return Seen(str(values["owner"]), str(values["page"]), float(values["first"]), float(values["last"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None


@dataclass(frozen=True)
class LearnerRow:
    name: str
    page: str
    last_active_seconds: float
    connected: bool
    runs_started: int
    runs_finished: int
    best_test_accuracy: float | None
    digits_labelled: int
    training_now: str  # "epoch 2 of 5", or ""
    no_run_yet: bool  # seen for IDLE_MINUTES or more without starting a run


def class_at_a_glance(
    seen: list[Seen],
    records: list[RunRecord],
    live: list[Progress],
    names: dict[str, str],
    digit_owners: list[str],
    now: float | None = None,
    idle_minutes: float = IDLE_MINUTES,
) -> list[LearnerRow]:
    """One row a learner seen in this lesson, the most recently active first; runs counted since they were first
    seen (a run's id starts with its UTC start time)."""
    now = time.time() if now is None else now
    live_by_run = {progress.run_id: progress for progress in live}
    digits = Counter(owner_key(owner) for owner in digit_owners)
    rows = []
    for person in seen:
        since = int(person.first)  # run ids hold whole seconds
        mine = [r for r in records if owner_key(r.owner) == person.owner and run_started(r.run_id) >= since]
        finished = [r for r in mine if r.state.ended and r.run_id not in live_by_run]
        training = [live_by_run[r.run_id] for r in mine if r.run_id in live_by_run and live_by_run[r.run_id].active]
        accuracies = [r.result.test_accuracy for r in finished if r.result.test_accuracy is not None]
        rows.append(
            LearnerRow(
                name=names.get(person.owner) or generated_name(person.owner),
                page=person.page,
                last_active_seconds=max(now - person.last, 0.0),
                connected=now - person.last <= CONNECTED_SECONDS,
                runs_started=len(mine),
                runs_finished=len(finished),
                best_test_accuracy=max(accuracies, default=None),
                digits_labelled=digits.get(person.owner, 0),
                training_now=f"epoch {min(training[0].epoch + 1, training[0].epochs)} of {training[0].epochs}"
                if training
                else "",
                no_run_yet=not mine and now - person.first >= idle_minutes * 60,
            )
        )
    return sorted(rows, key=lambda row: row.last_active_seconds)
