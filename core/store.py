"""Runs on disk, one folder each: the training worker writes its run as it trains, web servers only read.

    <root>/<run_id>/run.json              the record: config, owner, state, history, test metrics
    <root>/<run_id>/progress.json         live progress, rewritten by the worker a few times a second
    <root>/<run_id>/model.keras           the model after the latest epoch, with its optimizer's state
    <root>/<run_id>/epochs/epoch-003.npz  the weights after epoch 3 (the Inside page replays them)
    <root>/<run_id>/logs/                 TensorBoard event files (`tensorboard --logdir <root>`)

(core.state names every file, with who writes and reads it.)

Every file is written under a temporary name and renamed into place, so a reader never sees half a file; a
run is listed only once it has ended with a model (or its worker was lost after an epoch: "interrupted", to
be continued). A live run's worker refreshes progress.json every second: a live run silent for longer than
STALE_SECONDS lost its worker. Uploaded models are written whole into a hidden `.partial-*` folder and renamed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import secrets
import shutil
import threading
import time
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from core.files import fsync_folder, replacing, write_atomically
from core.owners import owner_key
from core.runs import INTERRUPTED_MESSAGE, Progress, RunResult, RunState
from core.snapshots import Snapshot, read_snapshot, save_snapshot
from core.state import (
    EPOCHS_FOLDER,
    LOGS_FOLDER,
    MODEL_FILE,
    PARTIAL_PREFIX,
    PROGRESS_FILE,
    RECORD_FILE,
    SPOOL_FOLDER,
    TEMPORARY_PREFIX,
    epoch_file,
)

MODEL_DIR_ENV = "DIGITLAB_MODEL_DIR"
DEFAULT_MODEL_DIR = "models"
HEARTBEAT_SECONDS = 1.0  # a live run's worker rewrites its progress at least this often
STALE_SECONDS = 15.0  # a live run whose progress is older than this lost its worker (clocks must agree: NTP)
STALE_PARTIAL_SECONDS = 600  # a partial folder this old belongs to no save in progress
RUN_ID_CHARACTERS = set("0123456789abcdef-")
RUN_ID_TIME = "%Y%m%d-%H%M%S"  # a run id starts with its UTC start time

log = logging.getLogger(__name__)


class StoreError(Exception):
    """A run could not be saved or read; the message is meant for the user."""


def new_run_id() -> str:
    """Sortable and unique: the UTC time, then six random hex digits."""
    return datetime.now(UTC).strftime(RUN_ID_TIME + "-") + secrets.token_hex(3)


def run_started(run_id: str) -> float:
    """When a run started (seconds since the epoch), from its id; 0 for an id of another shape."""
    try:
        return datetime.strptime(run_id[:15], RUN_ID_TIME).replace(tzinfo=UTC).timestamp()
    except ValueError:
        return 0.0


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
    owner: str = ""  # who may stop or continue it: a hash of the starting browser's cookie, never shown
    message: str = ""  # how it ended, in words
    name: str = ""  # its owner's display name (core.names), cleaned; escaped wherever it is shown
    sweep: str = ""  # the sweep it belongs to (core.sweeps), if any
    bytes: int = 0  # its folder's size on disk when it ended (0: still training, or kept before it was counted)
    robustness: dict = field(default_factory=dict)  # its accuracy under corruptions (core.robustness), once measured

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
        values["owner"] = owner_key(values.get("owner", ""))
        values["result"] = RunResult(**values["result"])
        return cls(**values)


def default_store_root() -> Path:
    return Path(os.environ.get(MODEL_DIR_ENV) or DEFAULT_MODEL_DIR)


class RunStore:
    """A folder of runs; see the module's docstring for the layout."""

    def __init__(self, root: Path | str):
        self.root = Path(root)
        # Records already read, by run id, with the (inode, mtime, size) of the run.json they came from: a listing
        # reads only what changed (every write replaces the file: a new inode), so its cost is a stat per run.
        self._read: dict[str, tuple[tuple[int, int, int], RunRecord]] = {}

    # -- writing --

    def save(self, record: RunRecord, model_bytes: bytes) -> None:
        """Write a whole run folder (an uploaded model), or nothing: StoreError (and no leftovers) when it cannot."""
        if not is_run_id(record.run_id):
            raise StoreError(f"{record.run_id!r} is not a run id.")
        record = dataclasses.replace(record, bytes=len(model_bytes) + len(record.to_json()))
        partial = self.root / f"{PARTIAL_PREFIX}{record.run_id}-{secrets.token_hex(3)}"
        try:
            partial.mkdir(parents=True)
            (partial / MODEL_FILE).write_bytes(model_bytes)
            (partial / RECORD_FILE).write_text(record.to_json())
            fsync_folder(partial)
            partial.rename(self.root / record.run_id)
        except OSError as error:
            shutil.rmtree(partial, ignore_errors=True)
            reason = error.strerror or str(error)
            raise StoreError(f"Run {record.run_id} could not be saved in {self.root}: {reason}.") from error

    # -- reading --

    def records(self) -> list[RunRecord]:
        """Every run with a model to use, newest first: finished and uploaded ones, and stopped or interrupted ones
        (to be continued) that kept an epoch. Never change a record it returns: they are shared."""
        return [
            r
            for r in self._records()
            if r.state in LISTED and (not r.state.continuable or self.model_path(r.run_id).is_file())
        ]

    def live_records(self) -> list[RunRecord]:
        """The runs training now (their worker reported within STALE_SECONDS), newest first."""
        return [record for record in self._records() if not record.state.ended]

    def _records(self) -> list[RunRecord]:
        try:
            names = [entry.name for entry in os.scandir(self.root) if is_run_id(entry.name) and entry.is_dir()]
        except OSError:
            names = []
        for gone in set(self._read) - set(names):  # removed (by the teacher, by hand): forgotten
            self._read.pop(gone, None)
        records = [record for name in names if (record := self.get(name)) is not None]
        return sorted(records, key=lambda record: record.created, reverse=True)

    def progress(self, run_id: str) -> Progress | None:
        """A run's latest progress as its worker wrote it; a live run whose worker went silent is INTERRUPTED."""
        if not is_run_id(run_id):
            return None
        try:
            progress = Progress.from_dict(json.loads((self.root / run_id / PROGRESS_FILE).read_text()))
        except (OSError, ValueError, TypeError, KeyError):
            return None
        if progress.active and time.time() - progress.updated > STALE_SECONDS:
            progress.state, progress.message, progress.seconds_left = RunState.INTERRUPTED, INTERRUPTED_MESSAGE, None
        return progress

    def get(self, run_id: str) -> RunRecord | None:
        """A run's record (None when there is none, or it cannot be read); a live run whose worker went silent
        reads INTERRUPTED. Never change the record it returns: it is shared."""
        record = self._record(run_id) if is_run_id(run_id) else None
        if record is not None and not record.state.ended:
            progress = self.progress(run_id)
            if progress is None or progress.state is RunState.INTERRUPTED:
                return dataclasses.replace(record, state=RunState.INTERRUPTED, message=INTERRUPTED_MESSAGE)
        return record

    def _record(self, run_id: str) -> RunRecord | None:
        """run.json as last written, read again only when it changed."""
        path = self.root / run_id / RECORD_FILE
        try:
            stat = path.stat()
            version = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            if (known := self._read.get(run_id)) is not None and known[0] == version:
                return known[1]
            record = RunRecord.from_json(path.read_text())
        except (OSError, ValueError, TypeError, KeyError):
            self._read.pop(run_id, None)
            return None
        self._read[run_id] = (version, record)
        return record

    def update(self, run_id: str, **fields) -> bool:
        """Change fields of an ended run's record (its robustness report); False when the run is training again."""
        path = self.root / run_id / RECORD_FILE
        record = RunRecord.from_json(path.read_text())
        if not record.state.ended:
            return False
        write_atomically(path, dataclasses.replace(record, **fields).to_json())
        return True

    def bytes_of(self, record: RunRecord) -> int:
        """A run's size on disk: as its worker measured it when it ended, else measured now (a run kept before
        sizes were recorded, or one still training)."""
        return record.bytes or folder_bytes(self.root / record.run_id)

    def model_path(self, run_id: str) -> Path:
        if not is_run_id(run_id):
            raise StoreError(f"{run_id!r} is not a run id.")
        return self.root / run_id / MODEL_FILE

    def logs_path(self, run_id: str) -> Path:
        return self.model_path(run_id).parent / LOGS_FOLDER

    def epochs_saved(self, run_id: str) -> int:
        """How many per-epoch snapshots the run has (0 for uploads and older runs)."""
        return len(list((self.model_path(run_id).parent / EPOCHS_FOLDER).glob("epoch-*.npz")))

    def load_model(self, run_id: str, epoch: int | None = None, compile: bool = False):
        """The run's final model, or the model as it was after `epoch` (1-based) when snapshots were kept (after
        its last epoch that is the final model itself, exact; earlier ones from 8-bit snapshots); `compile` restores
        its optimizer and its state too (to continue training it)."""
        import keras

        model = keras.models.load_model(self.model_path(run_id), compile=compile, safe_mode=True)
        if epoch is not None and epoch != self.epochs_saved(run_id):
            model.set_weights(self.epoch_weights(run_id, epoch))
        return model

    def epoch_weights(self, run_id: str, epoch: int) -> list[np.ndarray]:
        """The weights after `epoch` (1-based), as `model.get_weights()` gave them."""
        return self.epoch_snapshot(run_id, epoch).weights()

    def epoch_snapshot(self, run_id: str, epoch: int) -> Snapshot:
        """The weights after `epoch` (1-based) as they are kept (8 bits where they were saved so)."""
        path = self.model_path(run_id).parent / EPOCHS_FOLDER / epoch_file(epoch)
        if not path.is_file():
            raise StoreError(f"Run {run_id} has no snapshot after epoch {epoch}.")
        return read_snapshot(path)

    # -- housekeeping --

    def clean_up(self) -> list[str]:
        """Remove what interrupted saves left, recover models that lost their record; returns what it did."""
        done = []
        if not self.root.is_dir():
            return done
        for folder in self.root.iterdir():
            if not folder.is_dir() or time.time() - folder.stat().st_mtime < STALE_PARTIAL_SECONDS:
                continue  # a save or a run may be writing it now
            if folder.name.startswith(PARTIAL_PREFIX):
                shutil.rmtree(folder, ignore_errors=True)
                done.append(f"removed the unfinished save {folder.name}")
            elif not (folder / RECORD_FILE).exists() and is_run_id(folder.name):
                done.append(self._recover(folder))
        leftovers = [self.root.glob(f"{pattern}{TEMPORARY_PREFIX}*") for pattern in ("", "*/", "*/*/")]
        for leftover in (path for paths in leftovers for path in paths):
            if time.time() - leftover.stat().st_mtime > STALE_PARTIAL_SECONDS:
                leftover.unlink(missing_ok=True)
                done.append(f"removed {leftover.name}, a file a killed writer left half written")
        for spooled in (self.root / SPOOL_FOLDER).glob("*"):
            if time.time() - spooled.stat().st_mtime > STALE_PARTIAL_SECONDS:  # its task and its server are gone
                spooled.unlink(missing_ok=True)
                done.append(f"removed the upload {spooled.name}, which no worker read")
        for line in done:
            log.warning("Run store %s: %s", self.root, line)
        return done

    def remove(self, run_id: str) -> bool:
        """Delete a run that is not training (the teacher's clean-up); False when it is live or unknown."""
        record = self.get(run_id)
        if record is None or not record.state.ended:
            return False
        folder = self.root / run_id
        doomed = self.root / f"{PARTIAL_PREFIX}removed-{run_id}"
        folder.rename(doomed)  # gone from every listing at once; clean_up() finishes it if this process dies now
        shutil.rmtree(doomed, ignore_errors=True)
        return True

    def forget_weights(self, run_id: str) -> None:
        """Remove a run's model, snapshots and logs (a run that ended with nothing to keep)."""
        folder = self.model_path(run_id).parent
        (folder / MODEL_FILE).unlink(missing_ok=True)
        for name in (EPOCHS_FOLDER, LOGS_FOLDER):
            shutil.rmtree(folder / name, ignore_errors=True)

    def _recover(self, folder: Path) -> str:
        """A run folder without a record: keep a complete model under a minimal record, remove anything else."""
        model = folder / MODEL_FILE
        for leftover in folder.glob(f"{PARTIAL_PREFIX}*"):
            leftover.unlink(missing_ok=True)
        if model.is_file() and zipfile.is_zipfile(model):
            record = RunRecord(
                folder.name,
                dataset_of_model_file(model),
                {},
                RunState.FINISHED,
                source="recovered: its record was lost",
            )
            write_atomically(folder / RECORD_FILE, record.to_json())
            return f"recovered the model of run {folder.name}, whose record was lost"
        shutil.rmtree(folder, ignore_errors=True)
        return f"removed the incomplete run {folder.name}"


LISTED = (RunState.FINISHED, RunState.STOPPED, RunState.INTERRUPTED, RunState.UPLOADED)


class RunWriter:
    """The training worker's side of a run in the store: its record, live progress, and a checkpoint per epoch.

    `publish` may be called from the training thread; a heartbeat thread rewrites the latest progress every
    HEARTBEAT_SECONDS, so a run that compiles or evaluates for a while is not taken for a lost one.
    """

    def __init__(self, store: RunStore, record: RunRecord):
        if not is_run_id(record.run_id):
            raise StoreError(f"{record.run_id!r} is not a run id.")
        self.store, self.record = store, record
        self.folder = store.root / record.run_id
        self._latest: dict | None = None
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._started, self._seconds_before = time.perf_counter(), record.result.seconds  # a continued run's earlier
        self._heartbeat = threading.Thread(target=self._beat, name=f"heartbeat-{record.run_id}", daemon=True)

    def start(self, progress: Progress) -> RunWriter:
        self.record = dataclasses.replace(self.record, robustness={})  # it will no longer describe the model
        (self.folder / EPOCHS_FOLDER).mkdir(parents=True, exist_ok=True)
        self.publish(progress)
        self._write_record(progress)
        self._heartbeat.start()
        return self

    def publish(self, progress: Progress) -> None:
        """The latest progress, for every web server to read."""
        snapshot = progress.to_dict()
        with self._lock:
            self._latest = snapshot
            self._write_progress()

    def epoch_end(self, model, progress: Progress) -> None:
        """After an epoch: its weights (8-bit, core.snapshots), the model with its optimizer's state (to continue
        from), the record."""
        progress.result.seconds = self.seconds()  # so a run that is interrupted later still says how long it took
        save_snapshot(self.folder / EPOCHS_FOLDER / epoch_file(progress.epoch), model.get_weights())
        with replacing(self.folder / MODEL_FILE) as temporary:
            model.save(temporary)
        self._write_record(progress)
        self.publish(progress)

    def seconds(self) -> float:
        """How long the run has trained so far, its earlier sessions included."""
        return round(self._seconds_before + time.perf_counter() - self._started, 2)

    def finish(self, progress: Progress, model=None) -> None:
        """The run ended: its final record and progress; a run with nothing to keep keeps only those two, and a run
        that cannot be continued (finished) keeps its model without the optimizer's state, half its size."""
        self._stopped.set()
        if not (progress.state.kept and progress.epoch > 0):
            self.store.forget_weights(self.record.run_id)
        elif not progress.state.continuable and model is not None and model.optimizer is not None:
            optimizer, model.optimizer = model.optimizer, None  # Keras saves whatever optimizer the model holds
            try:
                with replacing(self.folder / MODEL_FILE) as temporary:
                    model.save(temporary)
            finally:
                model.optimizer = optimizer
        self.record.bytes = folder_bytes(self.folder)
        self._write_record(progress)
        self.publish(progress)

    def _write_record(self, progress: Progress) -> None:
        record = dataclasses.replace(
            self.record,
            state=progress.state,
            result=progress.result,
            message=progress.message if progress.ended else "",
        )
        write_atomically(self.folder / RECORD_FILE, record.to_json())

    def _write_progress(self) -> None:
        self._latest["updated"] = time.time()
        write_atomically(self.folder / PROGRESS_FILE, json.dumps(self._latest), durable=False)

    def _beat(self) -> None:
        while not self._stopped.wait(HEARTBEAT_SECONDS):
            with self._lock, contextlib.suppress(OSError):
                self._write_progress()


def folder_bytes(folder: Path) -> int:
    """What a folder's files take, in bytes (0 when it is gone)."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def dataset_of_model_file(path: Path) -> str:
    """Which dataset a saved model reads, from the input shape in its config (no model is built)."""
    try:
        with zipfile.ZipFile(path) as archive:
            text = json.dumps(json.loads(archive.read("config.json")))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return "unknown"
    return "digits" if "[null, 64]" in text or "[null, 8, 8" in text else "mnist"
