"""Saved runs on disk: a `.keras` model and a JSON record per run, written atomically."""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from core.data import Dataset
from core.model import evaluate_model, model_input_shape

MODEL_DIR_ENV = "DIGITLAB_MODEL_DIR"
DEFAULT_MODEL_DIR = "models"
MODEL_FILE = "model.keras"
RECORD_FILE = "run.json"
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
ACCEPTED_INPUT_SHAPES = {(784,): "mnist", (28, 28, 1): "mnist", (64,): "digits", (8, 8, 1): "digits"}


def new_run_id() -> str:
    """Sortable and unique: the UTC time, then six random hex digits."""
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


class UploadError(Exception):
    """An uploaded model was refused; the message is meant for the user."""


@dataclass
class RunRecord:
    """What a run leaves behind besides its weights."""

    run_id: str
    dataset: str
    config: dict
    state: str
    history: dict[str, list[float]] = field(default_factory=dict)
    test_loss: float | None = None
    test_accuracy: float | None = None
    duration_s: float = 0.0
    train_samples: int = 0
    source: str = "trained"  # or "uploaded"
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def epochs_done(self) -> int:
        return len(self.history.get("loss", []))

    @property
    def train_accuracy(self) -> float | None:
        values = self.history.get("accuracy")
        return values[-1] if values else None


def record_of(job) -> RunRecord:
    """The record a finished or stopped training job leaves."""
    progress = job.progress()
    return RunRecord(
        run_id=job.run_id,
        dataset=job.dataset_name,
        config=dataclasses.asdict(job.config),
        state=job.final_state or progress.state,
        history=progress.history,
        test_loss=progress.test_loss,
        test_accuracy=progress.test_accuracy,
        duration_s=round(progress.elapsed, 2),
        train_samples=len(job.data.x_train),
    )


def default_store_root() -> Path:
    return Path(os.environ.get(MODEL_DIR_ENV) or DEFAULT_MODEL_DIR)


class RunStore:
    """A folder of runs: `<root>/<run_id>/model.keras` and `run.json`."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    def save(self, record: RunRecord, model) -> None:
        """Write the model, then the record; each lands whole or not at all."""
        folder = self.root / record.run_id
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f".partial-{os.getpid()}.keras"
        model.save(partial)
        os.replace(partial, folder / MODEL_FILE)
        write_atomically(folder / RECORD_FILE, json.dumps(dataclasses.asdict(record), indent=2).encode())

    def save_job(self, job) -> None:
        """Keep a training job's run if it learned anything (at least one epoch, no NaN)."""
        record = record_of(job)
        if record.epochs_done > 0 and record.state in ("finished", "stopped") and job.model is not None:
            self.save(record, job.model)

    def save_upload(self, model, dataset: Dataset, filename: str) -> RunRecord:
        """Keep an uploaded model as a run, with its accuracy on the dataset's test set."""
        loss, accuracy = evaluate_model(model, dataset)
        record = RunRecord(
            run_id=new_run_id(), dataset=dataset.name, config={}, state="uploaded", test_loss=loss,
            test_accuracy=accuracy, source=f"uploaded: {filename}",
        )  # fmt: skip
        self.save(record, model)
        return record

    def records(self) -> list[RunRecord]:
        """Every complete run, newest first; unreadable records are skipped."""
        records = []
        for path in self.root.glob(f"*/{RECORD_FILE}"):
            try:
                records.append(RunRecord(**json.loads(path.read_text())))
            except (OSError, ValueError, TypeError):
                continue
        return sorted(records, key=lambda record: record.created, reverse=True)

    def get(self, run_id: str) -> RunRecord | None:
        return next((record for record in self.records() if record.run_id == run_id), None)

    def model_path(self, run_id: str) -> Path:
        return self.root / run_id / MODEL_FILE

    def load_model(self, run_id: str):
        import keras

        return keras.models.load_model(self.model_path(run_id), safe_mode=True)


def write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename it over `path`."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".partial-")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load_uploaded_model(data: bytes, max_bytes: int = MAX_UPLOAD_BYTES):
    """Check an uploaded `.keras` file and load it; returns (model, dataset name)."""
    import keras

    if not data:
        raise UploadError("The file is empty.")
    if len(data) > max_bytes:
        raise UploadError(f"The file is {len(data) / 2**20:.1f} MB; the limit is {max_bytes / 2**20:.0f} MB.")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "upload.keras"
        path.write_bytes(data)
        if not zipfile.is_zipfile(path):
            raise UploadError("This is not a .keras file: a .keras model is a zip archive, and this file is not one.")
        try:
            model = keras.models.load_model(path, safe_mode=True, compile=False)
        except ValueError as error:
            if "safe_mode" in str(error) or "lambda" in str(error).lower():
                raise UploadError("The model contains arbitrary code (a Lambda layer); it was not loaded.") from error
            raise UploadError(f"Keras could not load this model: {first_line(error)}") from error
        except Exception as error:
            raise UploadError(f"Keras could not load this model: {first_line(error)}") from error
    input_shape = model_input_shape(model)
    if input_shape not in ACCEPTED_INPUT_SHAPES:
        accepted = ", ".join(str(shape) for shape in ACCEPTED_INPUT_SHAPES)
        raise UploadError(
            f"The model reads inputs of shape {input_shape}; Digit Lab's datasets need one of {accepted}."
        )
    output_shape = tuple(model.outputs[0].shape[1:])
    if output_shape != (10,):
        raise UploadError(f"The model has output shape {output_shape}; a digit classifier needs 10 outputs.")
    return model, ACCEPTED_INPUT_SHAPES[input_shape]


def first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
