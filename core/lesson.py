"""The teacher steers the lesson: which pages learners see, which hyperparameters they may change and within what
bounds, whether they may sweep, a message to the class, and a network pushed to everyone's sidebar.

Kept in the model folder (lesson.json), so every replica follows; a server reads it again only when the file
changed (one stat a call). The pages show the controls, and the server applies them to every run a learner
starts (core.lesson.LessonControls.apply), so a link or a hand-made request cannot get around them. The teacher's
own browser (with the key) is never held by them.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.config import FIELDS, ConfigError, ModelConfig, check_config, snap_to_panel
from core.files import JsonFile
from core.state import LESSON_FILE
from core.store import run_started

PAGES = {  # url path -> title, the pages a teacher may close (Home and Teacher always stay)
    "dataset": "Dataset",
    "model": "Model",
    "training": "Training",
    "predict": "Draw & predict",
    "inside": "Inside the network",
    "leaderboard": "Leaderboard",
}
MAX_ANNOUNCEMENT = 500  # characters
MAX_LESSON_NAME = 60


@dataclass(frozen=True)
class Lesson:
    """A lesson the teacher started; it lasts until the next one starts. Runs belong to the lesson they started
    in (a run id begins with its UTC start time), labelled digits to the one they were labelled in."""

    lesson_id: str
    name: str
    started: float  # seconds since the epoch

    def holds(self, moment: float, lessons: tuple[Lesson, ...]) -> bool:
        """Whether `moment` falls in this lesson (from its start to the next lesson's)."""
        later = [lesson.started for lesson in lessons if lesson.started > self.started]
        return self.started <= moment < min(later, default=float("inf"))


def in_lesson(moment: float, lesson: Lesson | None, lessons: tuple[Lesson, ...]) -> bool:
    """Whether `moment` belongs to `lesson` (None: every lesson, and the time before the first)."""
    return lesson is None or lesson.holds(moment, lessons)


def runs_in(rows: list, lesson: Lesson | None, lessons: tuple[Lesson, ...]) -> list:
    """The rows (anything with a run_id) of runs started in `lesson` (None: all)."""
    return [row for row in rows if in_lesson(run_started(row.run_id), lesson, lessons)]


def digits_in(digits, lesson: Lesson | None, lessons: tuple[Lesson, ...]):
    """The labelled digits (core.my_digits.LabelledDigits) labelled in `lesson` (None: all)."""
    return digits.select(np.array([in_lesson(float(t), lesson, lessons) for t in digits.times], dtype=bool))


@dataclass(frozen=True)
class LessonControls:
    hidden_pages: tuple[str, ...] = ()
    fixed: dict = field(default_factory=dict)  # hyperparameter -> the value learners get
    max_epochs: int | None = None
    sweeps: bool = True
    announcement: str = ""
    pushed: dict = field(default_factory=dict)  # a configuration for every sidebar; empty: none
    pushed_id: str = ""  # changes with every push: a sidebar takes each push once
    lessons: tuple[Lesson, ...] = ()  # every lesson started, oldest first

    @property
    def lesson(self) -> Lesson | None:
        """The lesson now: the latest started (None before the first)."""
        return self.lessons[-1] if self.lessons else None

    @property
    def lesson_id(self) -> str:
        return self.lesson.lesson_id if self.lesson else ""

    def apply(self, config: ModelConfig) -> tuple[ModelConfig, list[str]]:
        """`config` within the teacher's controls, and a note per value that was changed."""
        changes, notes = {}, []
        for name, value in self.fixed.items():
            if getattr(config, name) != value:
                changes[name] = value
                notes.append(f"Your teacher fixed {FIELDS[name].label.lower()} at {FIELDS[name].text(value)}.")
        if self.max_epochs is not None and config.epochs > self.max_epochs and "epochs" not in changes:
            changes["epochs"] = self.max_epochs
            notes.append(f"Your teacher allows at most {self.max_epochs} epochs: this run trains {self.max_epochs}.")
        return dataclasses.replace(config, **changes), notes

    def pushed_config(self) -> ModelConfig | None:
        try:
            return ModelConfig(**self.pushed) if self.pushed else None
        except TypeError:
            return None

    def to_dict(self) -> dict:
        return {
            **dataclasses.asdict(self),
            "hidden_pages": list(self.hidden_pages),
            "lessons": [dataclasses.asdict(lesson) for lesson in self.lessons],
        }

    @classmethod
    def from_dict(cls, values: dict) -> LessonControls:
        """Controls from lesson.json; anything unknown or out of range is left out (a hand-edited file)."""
        fixed = {}
        for name, value in dict(values.get("fixed") or {}).items():
            if name in FIELDS and FIELDS[name].allows(value):
                fixed[name] = value
        epochs = values.get("max_epochs")
        lessons = []
        for lesson in values.get("lessons") or ():
            try:
                lessons.append(Lesson(str(lesson["lesson_id"]), str(lesson["name"]), float(lesson["started"])))
            except (KeyError, TypeError, ValueError):
                continue
        return cls(
            hidden_pages=tuple(page for page in values.get("hidden_pages") or () if page in PAGES),
            fixed=fixed,
            max_epochs=int(epochs) if isinstance(epochs, int) and FIELDS["epochs"].allows(epochs) else None,
            sweeps=bool(values.get("sweeps", True)),
            announcement=str(values.get("announcement") or "")[:MAX_ANNOUNCEMENT],
            pushed=dict(values.get("pushed") or {}),
            pushed_id=str(values.get("pushed_id") or ""),
            lessons=tuple(lessons),
        )


class LessonBook:
    """lesson.json in a model folder, read again only when it changed."""

    def __init__(self, root: Path | str):
        self.file = JsonFile(Path(root) / LESSON_FILE)
        self._known: tuple[tuple[int, int, int], LessonControls] | None = None

    def read(self) -> LessonControls:
        try:
            stat = self.file.path.stat()
        except OSError:
            return LessonControls()
        version = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if self._known is None or self._known[0] != version:
            self._known = (version, LessonControls.from_dict(self.file.read()))
        return self._known[1]

    def version(self) -> str:
        """Changes whenever the controls do (a page reruns when it sees a new one)."""
        try:
            stat = self.file.path.stat()
        except OSError:
            return ""
        return f"{stat.st_ino}-{stat.st_mtime_ns}-{stat.st_size}"

    def set(self, **changes) -> LessonControls:
        """Change some controls (the Teacher page); checked as from_dict checks them."""
        if "announcement" in changes and len(changes["announcement"]) > MAX_ANNOUNCEMENT:
            raise ConfigError(f"An announcement has at most {MAX_ANNOUNCEMENT} characters.")
        with self.file.updating() as values:
            values.update({key: list(value) if isinstance(value, tuple) else value for key, value in changes.items()})
            controls = LessonControls.from_dict(values)
            values.clear()
            values.update(controls.to_dict())
        return controls

    def start_lesson(self, name: str, now: float | None = None) -> Lesson:
        """A new lesson from now on: runs, digits, the leaderboard and the challenge start afresh in it; earlier
        lessons stay browsable."""
        name = " ".join(str(name).split())[:MAX_LESSON_NAME] or time.strftime("Lesson of %Y-%m-%d %H:%M")
        lesson = Lesson(secrets.token_hex(4), name, time.time() if now is None else now)
        with self.file.updating() as values:
            values["lessons"] = [*(values.get("lessons") or []), dataclasses.asdict(lesson)]
        return lesson

    def push(self, config: ModelConfig) -> LessonControls:
        """Every learner's sidebar takes `config` on its next rerun (within the controls)."""
        check_config(config)
        return self.set(pushed=dataclasses.asdict(snap_to_panel(config)), pushed_id=secrets.token_hex(4))
