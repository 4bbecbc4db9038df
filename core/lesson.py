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
from dataclasses import dataclass, field
from pathlib import Path

from core.config import FIELDS, ConfigError, ModelConfig, check_config, snap_to_panel
from core.files import JsonFile
from core.state import LESSON_FILE

PAGES = {  # url path -> title, the pages a teacher may close (Home and Teacher always stay)
    "dataset": "Dataset",
    "model": "Model",
    "training": "Training",
    "predict": "Draw & predict",
    "inside": "Inside the network",
    "leaderboard": "Leaderboard",
}
MAX_ANNOUNCEMENT = 500  # characters


@dataclass(frozen=True)
class LessonControls:
    hidden_pages: tuple[str, ...] = ()
    fixed: dict = field(default_factory=dict)  # hyperparameter -> the value learners get
    max_epochs: int | None = None
    sweeps: bool = True
    announcement: str = ""
    pushed: dict = field(default_factory=dict)  # a configuration for every sidebar; empty: none
    pushed_id: str = ""  # changes with every push: a sidebar takes each push once

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
        return {**dataclasses.asdict(self), "hidden_pages": list(self.hidden_pages)}

    @classmethod
    def from_dict(cls, values: dict) -> LessonControls:
        """Controls from lesson.json; anything unknown or out of range is left out (a hand-edited file)."""
        fixed = {}
        for name, value in dict(values.get("fixed") or {}).items():
            if name in FIELDS and FIELDS[name].allows(value):
                fixed[name] = value
        epochs = values.get("max_epochs")
        return cls(
            hidden_pages=tuple(page for page in values.get("hidden_pages") or () if page in PAGES),
            fixed=fixed,
            max_epochs=int(epochs) if isinstance(epochs, int) and FIELDS["epochs"].allows(epochs) else None,
            sweeps=bool(values.get("sweeps", True)),
            announcement=str(values.get("announcement") or "")[:MAX_ANNOUNCEMENT],
            pushed=dict(values.get("pushed") or {}),
            pushed_id=str(values.get("pushed_id") or ""),
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

    def push(self, config: ModelConfig) -> LessonControls:
        """Every learner's sidebar takes `config` on its next rerun (within the controls)."""
        check_config(config)
        return self.set(pushed=dataclasses.asdict(snap_to_panel(config)), pushed_id=secrets.token_hex(4))
