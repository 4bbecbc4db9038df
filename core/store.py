"""Saved runs on disk, one folder each, written whole or not at all.

    <root>/<run_id>/run.json              the record: config, state, history, test metrics
    <root>/<run_id>/model.keras           the final model
    <root>/<run_id>/epochs/epoch-003.npz  the weights after epoch 3 (the Inside page replays them)
    <root>/<run_id>/logs/                 TensorBoard event files (`tensorboard --logdir <root>`)

A run is written into a hidden `.partial-*` folder and renamed into place, so a crash or a full disk never
leaves half a run: at startup the store sweeps what a killed save left behind.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
import secrets
import shutil
import time
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from core.runs import RunResult, RunState, TrainingOutcome

MODEL_DIR_ENV = "DIGITLAB_MODEL_DIR"
DEFAULT_MODEL_DIR = "models"
MODEL_FILE = "model.keras"
RECORD_FILE = "run.json"
EPOCHS_FOLDER = "epochs"
LOGS_FOLDER = "logs"
PARTIAL_PREFIX = ".partial-"
STALE_PARTIAL_SECONDS = 600  # a partial folder this old belongs to no save in progress
MAX_LOG_BYTES = 50 * 1024 * 1024  # TensorBoard logs coming back from a worker, unpacked
RUN_ID_CHARACTERS = set("0123456789abcdef-")

log = logging.getLogger(__name__)


class StoreError(Exception):
    """A run could not be saved or read; the message is meant for the user."""


def new_run_id() -> str:
    """Sortable and unique: the UTC time, then six random hex digits."""
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def is_run_id(text: str) -> bool:
    """Whether `text` has the shape of a run id (anything else from a link is never used as a path)."""
    return 0 < len(text) <= 40 and set(text) <= RUN_ID_CHARACTERS


@dataclass
class RunRecord:
    """What a run leaves behind besides its weights."""

    run_id: str
    dataset: str
    config: dict
    state: RunState
    result: RunResult = field(default_factory=RunResult)
    train_samples: int = 0
    source: str = "trained"  # or "uploaded: <file name>"
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    card: dict = field(default_factory=dict)  # an uploaded model's card: what it expects, its layers, notes

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> RunRecord:
        values = json.loads(text)
        if "result" not in values:  # written before results were one type: flat fields
            values["result"] = {
                "history": values.pop("history", {}),
                "test_loss": values.pop("test_loss", None),
                "test_accuracy": values.pop("test_accuracy", None),
                "seconds": values.pop("duration_s", 0.0),
            }
        values["state"] = RunState(values["state"])
        values["result"] = RunResult(**values["result"])
        return cls(**values)


def default_store_root() -> Path:
    return Path(os.environ.get(MODEL_DIR_ENV) or DEFAULT_MODEL_DIR)


class RunStore:
    """A folder of runs; see the module's docstring for the layout."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    # -- writing --

    def save(
        self,
        record: RunRecord,
        model_bytes: bytes,
        epoch_weights: list[list[np.ndarray]] = (),
        tensorboard_logs: bytes | None = None,
    ) -> None:
        """Write a whole run folder, or nothing: StoreError (and no leftovers) when it cannot be written."""
        if not is_run_id(record.run_id):
            raise StoreError(f"{record.run_id!r} is not a run id.")
        partial = self.root / f"{PARTIAL_PREFIX}{record.run_id}-{secrets.token_hex(3)}"
        try:
            partial.mkdir(parents=True)
            (partial / MODEL_FILE).write_bytes(model_bytes)
            if epoch_weights:
                (partial / EPOCHS_FOLDER).mkdir()
                for epoch, weights in enumerate(epoch_weights, start=1):
                    np.savez(partial / EPOCHS_FOLDER / epoch_file(epoch), *weights)
            if tensorboard_logs:
                unpack_logs(tensorboard_logs, partial / LOGS_FOLDER)
            (partial / RECORD_FILE).write_text(record.to_json())
            _fsync_folder(partial)
            partial.rename(self.root / record.run_id)
        except OSError as error:
            shutil.rmtree(partial, ignore_errors=True)
            reason = error.strerror or str(error)
            raise StoreError(f"Run {record.run_id} could not be saved in {self.root}: {reason}.") from error

    def save_outcome(
        self, run_id: str, dataset: str, config: dict, train_samples: int, outcome: TrainingOutcome,
        source: str = "trained",
    ) -> None:  # fmt: skip
        """Keep a training run that learned something (at least one epoch, no blow-up)."""
        progress = outcome.progress
        if not (progress.state.kept and progress.epoch > 0 and outcome.model_bytes):
            return
        record = RunRecord(run_id, dataset, config, progress.state, progress.result, train_samples, source)
        self.save(record, outcome.model_bytes, outcome.epoch_weights, outcome.tensorboard_logs)

    def save_upload(self, prepared, dataset: str, filename: str) -> RunRecord:
        """Keep an uploaded model, fitted to Digit Lab and evaluated (a core.uploads.PreparedUpload), as a run."""
        from core.model import model_to_bytes

        card = prepared.card
        result = RunResult(test_loss=card.test_loss, test_accuracy=card.test_accuracy)
        record = RunRecord(new_run_id(), dataset, {}, RunState.UPLOADED, result, source=f"uploaded: {filename[:80]}",
                           card=dataclasses.asdict(card))  # fmt: skip
        self.save(record, model_to_bytes(prepared.model))
        return record

    # -- reading --

    def records(self) -> list[RunRecord]:
        """Every complete run, newest first; unreadable records are skipped."""
        records = []
        for path in self.root.glob(f"*/{RECORD_FILE}"):
            if path.parent.name.startswith("."):
                continue
            try:
                records.append(RunRecord.from_json(path.read_text()))
            except (OSError, ValueError, TypeError, KeyError):
                continue
        return sorted(records, key=lambda record: record.created, reverse=True)

    def get(self, run_id: str) -> RunRecord | None:
        if not is_run_id(run_id):
            return None
        try:
            return RunRecord.from_json((self.root / run_id / RECORD_FILE).read_text())
        except (OSError, ValueError, TypeError, KeyError):
            return None

    def model_path(self, run_id: str) -> Path:
        if not is_run_id(run_id):
            raise StoreError(f"{run_id!r} is not a run id.")
        return self.root / run_id / MODEL_FILE

    def logs_path(self, run_id: str) -> Path:
        return self.model_path(run_id).parent / LOGS_FOLDER

    def epochs_saved(self, run_id: str) -> int:
        """How many per-epoch snapshots the run has (0 for uploads and older runs)."""
        return len(list((self.model_path(run_id).parent / EPOCHS_FOLDER).glob("epoch-*.npz")))

    def load_model(self, run_id: str, epoch: int | None = None):
        """The run's final model, or the model as it was after `epoch` (1-based) when snapshots were kept."""
        import keras

        model = keras.models.load_model(self.model_path(run_id), compile=False, safe_mode=True)
        if epoch is not None:
            model.set_weights(self.epoch_weights(run_id, epoch))
        return model

    def epoch_weights(self, run_id: str, epoch: int) -> list[np.ndarray]:
        """The weights after `epoch` (1-based), as `model.get_weights()` gave them."""
        path = self.model_path(run_id).parent / EPOCHS_FOLDER / epoch_file(epoch)
        if not path.is_file():
            raise StoreError(f"Run {run_id} has no snapshot after epoch {epoch}.")
        with np.load(path) as snapshot:
            return [snapshot[f"arr_{index}"] for index in range(len(snapshot.files))]

    # -- housekeeping --

    def sweep(self) -> list[str]:
        """Remove what interrupted saves left, recover models that lost their record; returns what it did."""
        done = []
        if not self.root.is_dir():
            return done
        for folder in self.root.iterdir():
            if not folder.is_dir():
                continue
            if folder.name.startswith(PARTIAL_PREFIX):
                if time.time() - folder.stat().st_mtime > STALE_PARTIAL_SECONDS:
                    shutil.rmtree(folder, ignore_errors=True)
                    done.append(f"removed the unfinished save {folder.name}")
            elif not (folder / RECORD_FILE).exists() and is_run_id(folder.name):
                done.append(self._recover(folder))
        for line in done:
            log.warning("Run store %s: %s", self.root, line)
        return done

    def _recover(self, folder: Path) -> str:
        """A run folder without a record: keep a complete model under a minimal record, remove anything else."""
        model = folder / MODEL_FILE
        for leftover in folder.glob(f"{PARTIAL_PREFIX}*"):
            leftover.unlink(missing_ok=True)
        if model.is_file() and zipfile.is_zipfile(model):
            record = RunRecord(folder.name, dataset_of_model_file(model), {}, RunState.FINISHED,
                               source="recovered: its record was lost")  # fmt: skip
            (folder / RECORD_FILE).write_text(record.to_json())
            return f"recovered the model of run {folder.name}, whose record was lost"
        shutil.rmtree(folder, ignore_errors=True)
        return f"removed the incomplete run {folder.name}"


def epoch_file(epoch: int) -> str:
    return f"epoch-{epoch:03d}.npz"


def unpack_logs(data: bytes, folder: Path) -> None:
    """Unpack a worker's zip of TensorBoard files: plain relative names, bounded in size."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = archive.infolist()
        if sum(member.file_size for member in members) > MAX_LOG_BYTES:
            return
        for member in members:
            parts = Path(member.filename).parts
            if member.is_dir() or Path(member.filename).is_absolute() or ".." in parts:
                continue
            target = folder.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(member))


def dataset_of_model_file(path: Path) -> str:
    """Which dataset a saved model reads, from the input shape in its config (no model is built)."""
    try:
        with zipfile.ZipFile(path) as archive:
            text = json.dumps(json.loads(archive.read("config.json")))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return "unknown"
    return "digits" if "[null, 64]" in text or "[null, 8, 8" in text else "mnist"


def _fsync_folder(folder: Path) -> None:
    """Flush every file of a folder to disk before it is renamed into place."""
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as file:
                os.fsync(file.fileno())
