"""The class together: the leaderboard's rows, the teacher's challenge and the class's digits as a benchmark (the
teacher's key: core.teacher_gate). Plain data and small files in the model folder; no Streamlit.

The leaderboard ranks every saved and running run by test accuracy on its dataset, beside its accuracy on the
labelled digits the whole class drew (My digits, pooled): a benchmark that grows during the lesson. Those scores
are computed on the cluster (core.tasks.score_class_digits) and kept in class-scores.json, each with the version of
the digits it read, so a new digit makes every score stale and they are read again.
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from core.config import ModelConfig, config_to_query, parameter_count
from core.files import JsonFile
from core.my_digits import LabelledDigits, MyDigitsStore
from core.owners import owner_key
from core.runs import Progress
from core.state import CHALLENGE_FILE, SCORES_FILE
from core.store import RunRecord

# ---- The challenge -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Challenge:
    """A constraint the teacher sets for the class; None: no limit on that."""

    max_parameters: int | None = None
    max_epochs: int | None = None

    @property
    def active(self) -> bool:
        return self.max_parameters is not None or self.max_epochs is not None

    def describe(self) -> str:
        limits = [
            f"at most {self.max_parameters:,} parameters" if self.max_parameters is not None else "",
            f"at most {self.max_epochs} epochs" if self.max_epochs is not None else "",
        ]
        return " and ".join(limit for limit in limits if limit)

    def allows(self, parameters: int | None, epochs: int) -> bool:
        fits_parameters = self.max_parameters is None or (parameters is not None and parameters <= self.max_parameters)
        return fits_parameters and (self.max_epochs is None or epochs <= self.max_epochs)


def read_challenge(root: Path | str, lesson_id: str = "") -> Challenge:
    """The challenge of the lesson `lesson_id` (a challenge belongs to the lesson it was set in)."""
    values = JsonFile(Path(root) / CHALLENGE_FILE).read()
    if values.pop("lesson", "") != lesson_id:
        return Challenge()
    try:
        return Challenge(**{key: int(value) for key, value in values.items() if value is not None})
    except (TypeError, ValueError):
        return Challenge()


def set_challenge(root: Path | str, challenge: Challenge, lesson_id: str = "") -> None:
    with JsonFile(Path(root) / CHALLENGE_FILE).updating() as values:
        values.clear()
        values.update(asdict(challenge), lesson=lesson_id)


# ---- The leaderboard ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LeaderRow:
    """One run as the leaderboard shows it."""

    run_id: str
    name: str
    owner: str  # its owner id (core.owners): "mine" compares it, it is never shown
    state: str
    family: str
    dataset: str
    test_accuracy: float | None
    class_accuracy: float | None  # on the class's labelled digits; None until scored (or none drawn)
    class_digits: int
    corruptions: float | None  # mean accuracy under MNIST-C's corruptions (core.robustness); None until measured
    parameters: int | None
    epochs: int
    seconds: float
    qualifies: bool | None  # the challenge's verdict; None without a challenge
    sweep: str
    try_it: str  # the Training page's query that rebuilds its hyperparameters ("train this yourself")


def leaderboard(
    records: list[RunRecord],
    live: list[Progress],
    names: dict[str, str],
    scores: dict,
    digits_versions: dict[str, str],
    challenge: Challenge,
) -> list[LeaderRow]:
    """Saved and running runs, best test accuracy first (running ones by their latest held-out accuracy), then by
    the class's digits; each with its owner's name as chosen, or as recorded. `digits_versions`: the class's
    digits' version per image format (core.data.image_format_of), to tell fresh scores from stale ones."""
    from core.data import image_format_of
    from core.names import generated_name

    progress_of = {progress.run_id: progress for progress in live}
    rows = []
    for record in records:
        progress = progress_of.get(record.run_id)
        result = progress.result if progress is not None else record.result
        config = _config_of(record)
        image_format = image_format_of(record.dataset)
        shape = (8, 8) if image_format == "digits" else (28, 28)
        if record.card:
            parameters = record.card.get("parameters")
        else:
            parameters = parameter_count(config, shape) if config is not None else None
        owner = owner_key(record.owner)
        score = scores.get(record.run_id) or {}
        fresh = score.get("digits") == digits_versions.get(image_format)
        test = result.test_accuracy
        if test is None and result.history.get("test_accuracy"):
            test = result.history["test_accuracy"][-1]  # still training: its latest held-out reading
        epochs = result.epochs_done
        rows.append(
            LeaderRow(
                run_id=record.run_id,
                name=names.get(owner)
                or record.name
                or (generated_name(record.owner) if record.owner else "(no owner)"),
                owner=owner,
                state=(progress.state if progress is not None else record.state).value,
                family=config.family if config is not None else "uploaded",
                dataset=record.dataset,
                test_accuracy=test,
                class_accuracy=score.get("accuracy") if fresh else None,
                class_digits=int(score.get("count", 0)) if fresh else 0,
                corruptions=record.robustness.get("mean") if progress is None else None,
                parameters=parameters,
                epochs=epochs,
                seconds=result.seconds,
                qualifies=challenge.allows(parameters, epochs) if challenge.active else None,
                sweep=record.sweep,
                try_it=_query(config),
            )
        )
    return ranked(rows, "test_accuracy")


RANKINGS = {"test_accuracy": "test accuracy", "class_accuracy": "class's digits", "corruptions": "corruptions"}


def ranked(rows: list[LeaderRow], by: str) -> list[LeaderRow]:
    """Best first by one of RANKINGS (runs without that score last), then by the others."""
    order = [by, *(name for name in RANKINGS if name != by)]
    return sorted(rows, key=lambda row: (*(-(getattr(row, name) or -1) for name in order), row.run_id))


def _config_of(record: RunRecord) -> ModelConfig | None:
    try:
        return ModelConfig(**record.config) if record.config else None
    except TypeError:  # a record from a version with other fields
        return None


def _query(config: ModelConfig | None) -> str:
    from urllib.parse import urlencode

    return urlencode(config_to_query(config)) if config is not None else ""


def results_csv(rows: list[LeaderRow]) -> str:
    """The class's results for the teacher's export (names as text: a spreadsheet must not run them)."""
    buffer = io.StringIO()
    columns = [
        "rank",
        "name",
        "run_id",
        "state",
        "family",
        "dataset",
        "test_accuracy",
        "class_accuracy",
        "class_digits",
        "corruptions",
        "parameters",
        "epochs",
        "seconds",
        "qualifies",
        "sweep",
    ]
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for rank, row in enumerate(rows, start=1):
        values = {**asdict(row), "rank": rank, "name": _spreadsheet_safe(row.name)}
        writer.writerow([values[column] for column in columns])
    return buffer.getvalue()


def _spreadsheet_safe(text: str) -> str:
    """A cell a spreadsheet shows as text, never as a formula (=, +, -, @ first)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


# ---- The class's digits ------------------------------------------------------------------------------------------


def digits_version(store: MyDigitsStore) -> str:
    """Changes whenever a digit is added or removed: a score read on another version is stale."""
    try:
        stat = store.path.stat()
    except OSError:
        return "none"
    return f"{stat.st_mtime_ns}-{stat.st_size}"


def read_scores(root: Path | str) -> dict:
    return JsonFile(Path(root) / SCORES_FILE).read()


def keep_scores(root: Path | str, scores: dict) -> None:
    with JsonFile(Path(root) / SCORES_FILE).updating() as kept:
        kept.update(scores)


def digits_zip(digits: LabelledDigits) -> bytes:
    """The labelled digits as PNGs in folders 0-9: the layout "upload your own digits" reads."""
    from PIL import Image

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for index, (image, label) in enumerate(zip(digits.images, digits.labels, strict=True)):
            picture = io.BytesIO()
            Image.fromarray(np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)).save(picture, format="PNG")
            archive.writestr(f"{int(label)}/digit-{index:05d}.png", picture.getvalue())
    return buffer.getvalue()
