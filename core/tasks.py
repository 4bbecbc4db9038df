"""Short jobs that must not run in the web server, five of them: importing a zip of digits, checking and
evaluating an uploaded model, the learning-rate finder, reading the class's labelled digits with every saved
run (the leaderboard's scores), and measuring a run under corruptions (its robustness report). Like training, they
run on the Dask cluster, so a large upload never holds up anyone's strokes; unlike a training run they belong to
the page that asked (a server that dies takes them along; the user asks again).

A task reports its progress through a Dask Variable, listens for Cancel on a Dask Event, and stops itself with a
clear message once it has used its time budget. The uploaded bytes reach the worker through a spool file in the
model folder (shared with the workers, as runs need it anyway), not through the scheduler; only small things
cross back: a dataset's name, a run id.
"""

from __future__ import annotations

import contextlib
import gc
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from distributed import Client, Event, Future, Variable

from core.files import write_atomically
from core.runs import Stopped, first_line
from core.state import task_cancel, task_progress

BUDGET_SECONDS = 300  # a task still busy after this long stops itself
REPORT_SECONDS = 0.2  # progress is sent at most this often
CANCELLED = "Cancelled."


class TaskStopped(Stopped):
    """A task was cancelled or ran out of time; the message is meant for the user."""


@dataclass(frozen=True)
class TaskState:
    """Where a task stands, as the page shows it."""

    fraction: float
    message: str
    finished: bool = False
    result: str | None = None  # what the task returned (a dataset name, a run id)
    error: str | None = None  # why it failed, in words for the user


# ---- In the worker ------------------------------------------------------------------------------------------


class TaskContext:
    """The worker's side: progress out, Cancel and the time budget in."""

    def __init__(self, task_id: str, budget_seconds: float):
        self._progress = Variable(task_progress(task_id))
        self._cancel = Event(task_cancel(task_id))
        self._deadline = time.monotonic() + budget_seconds
        self._budget = budget_seconds
        self._last_report = 0.0

    def report(self, fraction: float, message: str) -> None:
        """Say how far the task is (at most every REPORT_SECONDS), then stop if asked to or out of time."""
        if time.monotonic() - self._last_report >= REPORT_SECONDS or fraction >= 1.0:
            self._last_report = time.monotonic()
            self._progress.set({"fraction": min(max(fraction, 0.0), 1.0), "message": message})
        self.check()

    def check(self) -> None:
        if self._cancel.is_set():
            raise TaskStopped(CANCELLED)
        if time.monotonic() > self._deadline:
            raise TaskStopped(f"It took longer than the {self._budget:.0f} s a task may take, and was stopped.")

    def should_stop(self) -> bool:
        try:
            self.check()
        except TaskStopped:
            return True
        return False


def import_digits(task_id: str, upload: str, name: str, folder: str, budget_seconds: float) -> str:
    """A zip of digit pictures (spooled at `upload`) -> a dataset kept in `folder`; returns its name."""
    from core.data import DatasetError
    from core.zip_import import dataset_from_zip, save_uploaded_dataset

    data = _take(upload)
    context = TaskContext(task_id, budget_seconds)
    context.report(0.0, "Reading the zip...")
    try:
        dataset = dataset_from_zip(
            data,
            name,
            should_stop=context.should_stop,
            progress=lambda done, total: context.report(0.95 * done / total, f"{done:,} of {total:,} pictures"),
        )
    except DatasetError:
        context.check()  # stopped between two pictures: say why (cancelled, or out of time)
        raise
    context.report(0.97, "Keeping the set...")
    return save_uploaded_dataset(dataset, Path(folder)).name


def check_model(task_id: str, upload: str, filename: str, store_root: str, budget_seconds: float) -> str:
    """An uploaded model file (spooled at `upload`) -> checked, fitted to Digit Lab, evaluated and kept as a run;
    returns its run id."""
    from core.store import RunStore
    from core.training import cached_dataset
    from core.upload_card import keep_upload, prepare_upload
    from core.uploads import load_uploaded_model

    data = _take(upload)
    context = TaskContext(task_id, budget_seconds)
    context.report(0.0, "Checking the file...")
    try:
        checked = load_uploaded_model(data)
        context.report(0.2, "Built; reading the test set...")
        reading = lambda done: context.report(0.2 + 0.75 * done, "Reading the test set...")  # noqa: E731
        prepared = prepare_upload(checked, cached_dataset(checked.dataset), progress=reading)
        context.report(0.97, "Keeping it as a run...")
        return keep_upload(RunStore(store_root), prepared, checked.dataset, filename).run_id
    finally:
        gc.collect()  # the model sits in reference cycles: the worker gives its memory back now (as after a run)


def find_learning_rate(task_id: str, upload: str, config: dict, dataset_name: str, budget_seconds: float) -> str:
    """The learning-rate finder (core.lr_finder) for a config; returns its sweep as JSON."""
    from core.config import ModelConfig
    from core.lr_finder import find_learning_rate as rate_finder

    context = TaskContext(task_id, budget_seconds)
    context.report(0.0, "Building the network...")
    try:
        rising = lambda done: context.report(done, "Raising the learning rate batch by batch...")  # noqa: E731
        return json.dumps(rate_finder(ModelConfig(**config), dataset_name, progress=rising).to_dict())
    finally:
        gc.collect()


def score_class_digits(task_id: str, upload: str, store_root: str, budget_seconds: float) -> str:
    """Read the class's labelled digits (My digits, everyone's) with every saved run whose score is stale, and
    keep the scores (core.classroom); returns how many runs were read. A run that trained on the class's digits
    is read on the share kept back from training (core.my_digits.training_share) only."""
    from core.classroom import digits_version, keep_scores, read_scores
    from core.data import image_format_of
    from core.my_digits import CLASS_DIGITS_SOURCE, MyDigitsStore, read_digits, training_share
    from core.store import RunStore

    context = TaskContext(task_id, budget_seconds)
    store, scores = RunStore(store_root), read_scores(store_root)
    digit_stores = {image_format: MyDigitsStore(store_root, image_format) for image_format in ("mnist", "digits")}
    versions = {image_format: digits_version(digits) for image_format, digits in digit_stores.items()}

    def is_stale(record) -> bool:
        return (scores.get(record.run_id) or {}).get("digits") != versions[image_format_of(record.dataset)]

    stale = [record for record in store.records() if is_stale(record)]
    fresh = {}
    try:
        for done, record in enumerate(stale):
            context.report(done / max(len(stale), 1), f"Reading the class's digits with run {done + 1} of {len(stale)}")
            image_format = image_format_of(record.dataset)
            digits = digit_stores[image_format].load()
            if CLASS_DIGITS_SOURCE in record.source:  # it trained on most of them: read it on those kept back
                digits = training_share(digits)[1]
            accuracy = read_digits(store.load_model(record.run_id), digits).accuracy if len(digits) else None
            fresh[record.run_id] = {"digits": versions[image_format], "accuracy": accuracy, "count": len(digits)}
    finally:
        keep_scores(store_root, fresh)  # what was read before a stop is kept
        gc.collect()
    return str(len(fresh))


def report_robustness(task_id: str, upload: str, store_root: str, run_id: str, budget_seconds: float) -> str:
    """Measure a saved run under MNIST-C's corruptions (core.robustness) and keep the report in its record; returns
    the run id. One measurement of a run at a time, whichever server asked."""
    from core.robustness import measure_run
    from core.store import RunStore

    context = TaskContext(task_id, budget_seconds)
    try:
        measure_run(RunStore(store_root), run_id, context.report)
    finally:
        gc.collect()
    return run_id


def _take(upload: str) -> bytes:
    """The spooled upload's bytes; the spool file is gone afterwards."""
    path = Path(upload)
    try:
        return path.read_bytes()
    finally:
        path.unlink(missing_ok=True)


# ---- In the web server -------------------------------------------------------------------------------------


class Task:
    """The page's handle on a task running on the cluster; `label` names it for the user (a file name)."""

    def __init__(
        self,
        client: Client,
        spool: Path,
        label: str,
        function: Callable[..., str],
        data: bytes | None,
        *args,
        budget_seconds: float = BUDGET_SECONDS,
    ):
        """`data`, when given, reaches the task through a spool file (its path is the task's second argument)."""
        self.task_id, self.label = secrets.token_hex(6), label
        self._client = client
        self._upload = spool.resolve() / f"{self.task_id}.upload"
        if data is not None:
            spool.mkdir(parents=True, exist_ok=True)
            write_atomically(self._upload, data, durable=False)
        waiting = {"fraction": 0.0, "message": "Waiting for a worker..."}
        Variable(task_progress(self.task_id), client=client).set(waiting)
        # Ahead of queued training runs; still behind runs in progress when every worker trains.
        self._future: Future = client.submit(
            function, self.task_id, str(self._upload), *args, budget_seconds, pure=False, priority=10
        )

    def state(self) -> TaskState:
        """Progress while it runs; then its result, or the reason it failed."""
        if not self._future.done():
            try:
                latest = Variable(task_progress(self.task_id), client=self._client).get(timeout=2)
            except (OSError, TimeoutError):
                latest = {"fraction": 0.0, "message": "Waiting for the cluster..."}
            return TaskState(latest["fraction"], latest["message"])
        self._forget()
        try:
            return TaskState(1.0, "Done.", finished=True, result=self._future.result())
        except Exception as error:  # its own refusal (DatasetError, UploadError, TaskStopped), or a lost worker
            reason = first_line(error)
            if not _explained(error):
                reason = f"The worker handling it stopped unexpectedly ({reason}); try again."
            return TaskState(1.0, "", finished=True, error=reason)

    def cancel(self) -> None:
        """Ask the task to stop at its next report (within REPORT_SECONDS of work; a waiting task at its start)."""
        with contextlib.suppress(Exception):
            Event(task_cancel(self.task_id), client=self._client).set()

    def _forget(self) -> None:
        self._upload.unlink(missing_ok=True)  # when no worker took it
        with contextlib.suppress(Exception):
            Variable(task_progress(self.task_id), client=self._client).delete()
            Event(task_cancel(self.task_id), client=self._client).clear()


def _explained(error: Exception) -> bool:
    """Whether an error carries a message meant for the user (the tasks' own refusals)."""
    from core.config import ConfigError
    from core.data import DatasetError
    from core.robustness import RobustnessError
    from core.uploads import UploadError

    return isinstance(error, ConfigError | DatasetError | UploadError | RobustnessError | TaskStopped)
