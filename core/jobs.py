"""Training jobs seen from the web server: each run trains in a Dask worker process; the server only watches.

The cluster is an embedded `LocalCluster` started on the first training in a process of its own (one worker
per core, at most four, each one thread, scaled to zero after a minute idle so their memory comes back), or
the existing scheduler named by DIGITLAB_DASK_SCHEDULER. Only small things cross the process boundary: the
request out; progress (a Dask Variable per run), a stop flag (a Dask Event per run) and the outcome back.
A worker that dies fails its job with a message; the web server and every other job carry on.

No TensorFlow here: the server does not need it to train.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import subprocess
import sys
import threading
import weakref
from collections.abc import Callable
from pathlib import Path

from distributed import Client, Event, KilledWorker, Variable
from distributed.client import FutureCancelledError

from core.runs import Progress, RunState, TrainingOutcome, TrainingRequest, first_line

SCHEDULER_ENV = "DIGITLAB_DASK_SCHEDULER"
MAX_LOCAL_WORKERS = 4
IDLE_WORKER_SECONDS = 60  # an embedded worker idle this long is closed; the next training starts a fresh one
POLL_SECONDS = 0.25
CONNECT_TIMEOUT = "10s"  # to an external scheduler
LOCAL_CONNECT_TIMEOUT = "3s"  # to the embedded one, on loopback: also how long a lost one is waited for
PROGRESS_TIMEOUT = 5  # seconds for the scheduler to answer with a run's progress (it answers at once when alive)
START_TIMEOUT = 60  # seconds for the embedded cluster's process to report its address
PROJECT_ROOT = Path(__file__).resolve().parent.parent
WORKER_LOST = (
    "The training worker stopped unexpectedly (it was killed or ran out of memory). Nothing was saved; "
    "the other runs carry on. Press Train to try again."
)
CLUSTER_LOST = "The connection to the training cluster was lost. Nothing was saved; press Train to try again."

log = logging.getLogger(__name__)


class JobError(Exception):
    """A job could not be started; the message is meant for the user."""


class TrainingCluster:
    """The Dask cluster that trains: connected (or started) on first use, and again if it went away.

    Embedded: `python -m core.cluster` in a child process (see core/cluster.py for why). External: the scheduler
    at DIGITLAB_DASK_SCHEDULER, whose workers must be able to import this project's `core`.
    """

    def __init__(
        self, address: str | None = None, max_workers: int | None = None, idle_seconds: float = IDLE_WORKER_SECONDS
    ):
        self.address = address  # None: the embedded cluster
        self.max_workers = max_workers or min(os.cpu_count() or 1, MAX_LOCAL_WORKERS)
        self.idle_seconds = idle_seconds
        self._process: subprocess.Popen | None = None
        self._client: Client | None = None
        self._lock = threading.Lock()
        _clusters.add(self)  # closed at exit (close_all)

    @classmethod
    def from_environment(cls) -> TrainingCluster:
        """The scheduler at DIGITLAB_DASK_SCHEDULER when it is set, else the embedded cluster."""
        return cls(address=os.environ.get(SCHEDULER_ENV, "").strip() or None)

    @property
    def embedded(self) -> bool:
        return self.address is None

    def client(self) -> Client:
        """A running client, connecting (or starting the embedded cluster) if needed."""
        with self._lock:
            if self._client is None or self._client.status != "running" or self.lost():
                self._close()
                self._client = self._connect()
            return self._client

    @property
    def scheduler_address(self) -> str:
        return self.client().scheduler.address

    def lost(self) -> bool:
        """Whether the embedded cluster's process has exited since it started."""
        process = self._process
        return process is not None and process.poll() is not None

    def workers(self) -> dict[str, int]:
        """Address -> process id of each worker now connected (tests use it to kill one)."""
        client = self.client()
        return client.run(os.getpid) if client.scheduler_info()["workers"] else {}

    def close(self) -> None:
        with self._lock:
            self._close()

    def _connect(self) -> Client:
        if not self.embedded:
            log.info("Training on the Dask scheduler at %s", self.address)
            return Client(self.address, timeout=CONNECT_TIMEOUT, set_as_default=False)
        python_path = os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
        command = [sys.executable, "-m", "core.cluster", "--workers", str(self.max_workers)]
        self._process = subprocess.Popen(
            [*command, "--idle", str(self.idle_seconds)], cwd=PROJECT_ROOT, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": python_path},
        )  # fmt: skip
        address = self._read_address()
        log.info("Started the embedded training cluster at %s (up to %d workers)", address, self.max_workers)
        return Client(address, timeout=LOCAL_CONNECT_TIMEOUT, set_as_default=False)

    def _read_address(self) -> str:
        """The first line the cluster's process prints: its scheduler's address."""
        ready = threading.Event()
        line: list[str] = []
        reader = threading.Thread(
            target=lambda: (line.append(self._process.stdout.readline()), ready.set()), daemon=True
        )
        reader.start()
        if not ready.wait(START_TIMEOUT) or not line[0].startswith("tcp://"):
            self._close()
            raise OSError("the embedded training cluster did not start")
        return line[0].strip()

    def _close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
        if self._process is not None:
            with contextlib.suppress(OSError):
                self._process.stdin.close()  # the cluster's process exits when its stdin closes
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self._client = self._process = None


_clusters: weakref.WeakSet[TrainingCluster] = weakref.WeakSet()


@atexit.register
def close_all() -> None:
    """Close every cluster connection of this process (at exit: no client left waiting for a scheduler),
    connections to other schedulers before the embedded clusters they may point at."""
    for cluster in sorted(_clusters, key=lambda cluster: cluster.embedded):
        cluster.close()


class SchedulerReporter:
    """The worker's side of a job's channel: progress into a Dask Variable, the stop flag from a Dask Event."""

    def __init__(self, run_id: str):
        self._progress = Variable(progress_key(run_id))
        self._stop = Event(stop_key(run_id))

    def publish(self, progress: Progress) -> None:
        self._progress.set(progress.to_dict())

    def stop_requested(self) -> bool:
        return self._stop.is_set()


def train_run(request: TrainingRequest) -> TrainingOutcome:
    """The task a worker runs (TensorFlow is imported there, never in the web server)."""
    from core.training import run_training

    return run_training(request, SchedulerReporter(request.run_id))


def progress_key(run_id: str) -> str:
    return f"digitlab-progress-{run_id}"


def stop_key(run_id: str) -> str:
    return f"digitlab-stop-{run_id}"


class TrainingJob:
    """The server's handle on one run training in a worker: start, progress, stop, wait."""

    def __init__(
        self,
        request: TrainingRequest,
        cluster: TrainingCluster,
        owner: str = "",
        on_end: Callable[[TrainingJob, TrainingOutcome], None] | None = None,
    ):
        self.request = request
        self.owner = owner
        self._cluster = cluster
        self._on_end = on_end
        self._progress = Progress(
            request.run_id, epochs=request.config.epochs, message="Waiting for a training worker..."
        )
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._stop_asked = False
        self._future = None

    @property
    def run_id(self) -> str:
        return self.request.run_id

    @property
    def config(self):
        return self.request.config

    @property
    def dataset_name(self) -> str:
        return self.request.dataset_name

    def start(self) -> TrainingJob:
        """Send the request to the cluster; a thread watches it from here on."""
        try:
            client = self._cluster.client()
            Variable(progress_key(self.run_id), client=client).set(self._progress.to_dict())
            self._future = client.submit(train_run, self.request, pure=False)
        except Exception as error:
            raise JobError(f"The training cluster is not reachable: {first_line(error)}") from error
        threading.Thread(target=self._watch, name=f"watch-{self.run_id}", daemon=True).start()
        return self

    def progress(self) -> Progress:
        with self._lock:
            return self._progress.copy()

    def stop(self) -> None:
        """Ask the run to stop after the step in flight (it keeps what it learned), or before it starts."""
        self._stop_asked = True
        future = self._future
        with contextlib.suppress(Exception):
            if self.progress().state is RunState.WAITING and future is not None:
                future.cancel()
            Event(stop_key(self.run_id), client=self._cluster.client()).set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def owned_by(self, owner: str) -> bool:
        return bool(owner) and owner == self.owner

    # -- the watching thread --

    def _watch(self) -> None:
        """Mirror the worker's progress until the run ends; save what it hands back; only then say it ended."""
        client = self._future.client
        variable, stop_flag = Variable(progress_key(self.run_id), client=client), Event(stop_key(self.run_id), client)
        try:
            while not self._future.done():
                if self._cluster.lost():
                    raise ConnectionError("the embedded training cluster exited")
                self._set_progress(Progress.from_dict(variable.get(timeout=PROGRESS_TIMEOUT)))
                self._done.wait(POLL_SECONDS)
            outcome: TrainingOutcome = self._future.result()
            final = outcome.progress
            if final.state.kept and self._on_end is not None:
                saving = final.copy()
                saving.state, saving.message = RunState.RUNNING, "Saving the run..."
                self._set_progress(saving)
                try:
                    self._on_end(self, outcome)
                except Exception as error:  # a full disk, say: the result is still shown, as an error
                    final.state = RunState.FAILED
                    final.message = f"It trained, but the run could not be saved: {first_line(error)}"
            del outcome  # the model's bytes and snapshots: saved, and no longer needed here
        except Exception as error:
            final = self.progress()  # what the worker had done when it was lost
            final.state, final.message = self._ending_of(error)
            final.seconds_left = None
        finally:
            with contextlib.suppress(Exception):
                variable.delete()
                stop_flag.clear()
            self._future = None
        self._set_progress(final)
        self._done.set()

    def _ending_of(self, error: Exception) -> tuple[RunState, str]:
        """How a run ends when its future raised instead of returning an outcome."""
        if isinstance(error, KilledWorker):
            log.warning("Run %s: its training worker died", self.run_id)
            return RunState.FAILED, WORKER_LOST
        if isinstance(error, FutureCancelledError) and self._stop_asked:
            return RunState.STOPPED, "Stopped before it started."
        log.warning("Run %s failed: %s", self.run_id, first_line(error))
        if isinstance(error, FutureCancelledError | OSError | TimeoutError):
            return RunState.FAILED, CLUSTER_LOST
        return RunState.FAILED, f"Training failed: {first_line(error)}"

    def _set_progress(self, progress: Progress) -> None:
        with self._lock:
            self._progress = progress


class JobBoard:
    """All jobs of this server: at most one active job per owner; ended jobs are kept for their progress only."""

    def __init__(
        self,
        cluster: TrainingCluster | None = None,
        on_end: Callable[[TrainingJob, TrainingOutcome], None] | None = None,
        keep: int = 64,
    ):
        self.cluster = cluster or TrainingCluster.from_environment()
        self.keep = keep  # ended jobs remembered (their runs are in the store)
        self._on_end = on_end
        self._jobs: dict[str, TrainingJob] = {}
        self._active_by_owner: dict[str, str] = {}
        self._lock = threading.Lock()

    def start(self, owner: str, request: TrainingRequest) -> TrainingJob:
        with self._lock:
            current = self._jobs.get(self._active_by_owner.get(owner, ""))
            if current is not None and current.progress().active:
                raise JobError(
                    f"Run {current.run_id} is still training: stop it or wait for it before starting another."
                )
            job = TrainingJob(request, self.cluster, owner=owner, on_end=self._on_end)
            self._forget_old_jobs()
            self._jobs[job.run_id] = job
            self._active_by_owner[owner] = job.run_id
        return job.start()

    def get(self, run_id: str | None) -> TrainingJob | None:
        with self._lock:
            return self._jobs.get(run_id or "")

    def stop(self, run_id: str, owner: str) -> bool:
        """Stop a run for its owner only; False (and nothing happens) for anyone else."""
        job = self.get(run_id)
        if job is None or not job.owned_by(owner):
            return False
        job.stop()
        return True

    def _forget_old_jobs(self) -> None:
        ended = [run_id for run_id, job in self._jobs.items() if job.progress().ended]
        for run_id in ended[: max(0, len(ended) - self.keep)]:
            del self._jobs[run_id]
