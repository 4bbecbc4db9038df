"""The Dask cluster that trains, as a web server reaches it: connected (or, embedded, found again or started) on
first use.

- Embedded (the default): `python -m core.cluster` in a process of its own session, detached from the server that
  started it; it leaves its address in the model folder (core.state.CLUSTER_FILE), where a restarted server or a
  replica finds it, and it closes itself when no server has been connected and no run active for
  IDLE_CLUSTER_SECONDS.
- External: DIGITLAB_DASK_SCHEDULER names a scheduler whose scheduler and workers import this project's `core`.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path

from distributed import Client

from core.files import locked
from core.runs import first_line
from core.state import CLUSTER_FILE, CLUSTER_LOCK, CLUSTER_LOG

SCHEDULER_ENV = "DIGITLAB_DASK_SCHEDULER"
LINGER_ENV = "DIGITLAB_CLUSTER_LINGER_SECONDS"
MAX_LOCAL_WORKERS = 4
IDLE_WORKER_SECONDS = 60  # an embedded worker idle this long is closed; the next training starts a fresh one
IDLE_CLUSTER_SECONDS = 180  # the embedded cluster closes itself after this long with no server and no run
CONNECT_TIMEOUT = "10s"  # to an external scheduler
LOCAL_CONNECT_TIMEOUT = "3s"  # to the embedded one, on loopback
RETRY_SECONDS = 5  # after a failed connection, pages do not wait for the cluster again this soon
START_TIMEOUT = 60  # seconds for the embedded cluster's process to report its address
PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOG_ROTATE_BYTES = 5 * 2**20  # the embedded cluster's log is rotated past this when the next cluster starts

log = logging.getLogger(__name__)


class TrainingCluster:
    """The Dask cluster that trains: connected (or, embedded, found again or started) on first use.

    Embedded: `python -m core.cluster` in a process of its own session, found through CLUSTER_FILE in
    `state_dir` (the model folder). External: the scheduler at `address`, whose scheduler and workers must be
    able to import this project's `core` (`pip install -r requirements.txt` installs it).
    """

    def __init__(
        self,
        address: str | None = None,
        max_workers: int | None = None,
        idle_seconds: float = IDLE_WORKER_SECONDS,
        state_dir: Path | str | None = None,
        linger_seconds: float = IDLE_CLUSTER_SECONDS,
    ):
        self.address = address  # None: the embedded cluster
        self.max_workers = max_workers or min(os.cpu_count() or 1, MAX_LOCAL_WORKERS)
        self.idle_seconds = idle_seconds
        self.linger_seconds = linger_seconds
        self.state_file = Path(state_dir or ".").resolve() / CLUSTER_FILE
        self._client: Client | None = None
        self._unreachable_until = 0.0  # after a failed connection, do not try again at once
        self._lock = threading.RLock()
        _clusters.add(self)  # connections closed at exit (close_all)

    @classmethod
    def from_environment(cls, state_dir: Path | str) -> TrainingCluster:
        """The scheduler at DIGITLAB_DASK_SCHEDULER when it is set, else the embedded cluster of `state_dir`, which
        lingers DIGITLAB_CLUSTER_LINGER_SECONDS (or IDLE_CLUSTER_SECONDS) once nothing needs it."""
        try:
            linger = max(1.0, float(os.environ.get(LINGER_ENV) or IDLE_CLUSTER_SECONDS))
        except ValueError:
            linger = IDLE_CLUSTER_SECONDS
        return cls(
            address=os.environ.get(SCHEDULER_ENV, "").strip() or None, state_dir=state_dir, linger_seconds=linger
        )

    @property
    def embedded(self) -> bool:
        return self.address is None

    def client(self) -> Client:
        """A running client; the embedded cluster is found again, or started when there is none."""
        with self._lock:
            self._unreachable_until = 0.0
            client = self.existing_client()
            if client is not None:
                return client
            if not self.embedded:
                raise OSError(f"the scheduler at {self.address} is not reachable")
            with locked(self.state_file.with_name(CLUSTER_LOCK)):  # two servers must not start two clusters
                client = self.existing_client()
                if client is None:
                    self._client = self._start_embedded()
                return self._client

    def existing_client(self) -> Client | None:
        """A client of the cluster if it is running now, without starting one (None otherwise)."""
        with self._lock:
            if self._client is not None and self._client.status == "running" and self._alive():
                return self._client
            self._close_client()
            if time.monotonic() < self._unreachable_until:
                return None
            try:
                if not self.embedded:
                    self._client = Client(self.address, timeout=CONNECT_TIMEOUT, set_as_default=False)
                elif (state := self._embedded_state()) is not None:
                    self._client = Client(state["address"], timeout=LOCAL_CONNECT_TIMEOUT, set_as_default=False)
                    if self._client.scheduler_info()["id"] != state["scheduler_id"]:
                        raise OSError("another scheduler answers at the embedded cluster's address")
            except (OSError, TimeoutError) as error:
                log.warning("The training cluster is not reachable: %s", first_line(error))
                self._close_client()
                self._unreachable_until = time.monotonic() + RETRY_SECONDS
            return self._client

    @property
    def scheduler_address(self) -> str:
        return self.client().scheduler.address

    def workers(self) -> dict[str, int]:
        """Address -> process id of each worker now connected (tests use it to kill one)."""
        client = self.client()
        return client.run(os.getpid) if client.scheduler_info()["workers"] else {}

    def embedded_pid(self) -> int | None:
        """The process id of the embedded cluster, when one is running."""
        state = self._embedded_state()
        return state["pid"] if state else None

    def close(self) -> None:
        """Close this server's connection; an embedded cluster lives on and closes itself when idle."""
        self._close_client()

    def shutdown(self) -> None:
        """End the embedded cluster now, with its workers (tests, benchmarks)."""
        pid = self.embedded_pid() if self.embedded else None
        self._close_client()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)  # its own session: the scheduler, nannies, forkserver, workers
            _wait_for_exit(pid, timeout=15)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            self.state_file.unlink(missing_ok=True)

    # -- inside --

    def _alive(self) -> bool:
        return not self.embedded or self._embedded_state() is not None

    def _embedded_state(self) -> dict | None:
        """What CLUSTER_FILE says, when its process is alive and is our cluster."""
        try:
            state = json.loads(self.state_file.read_text())
            command_line = Path(f"/proc/{state['pid']}/cmdline").read_bytes()
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return state if b"core.cluster" in command_line else None

    def _start_embedded(self) -> Client:
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        self.state_file.unlink(missing_ok=True)
        python_path = os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
        settings = {
            "--workers": self.max_workers,
            "--idle": self.idle_seconds,
            "--linger": self.linger_seconds,
            "--state-file": self.state_file,
        }
        command = [sys.executable, "-m", "core.cluster", *(str(part) for item in settings.items() for part in item)]
        # A session of its own: a signal to the server's process group (Ctrl-C, a kill) does not reach it.
        log_path = rotated(self.state_file.with_name(CLUSTER_LOG))
        with open(log_path, "ab") as log_file:
            process = subprocess.Popen(
                command,
                cwd=PROJECT_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
                env={**os.environ, "PYTHONPATH": python_path},
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while (state := self._embedded_state()) is None or state["pid"] != process.pid:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise OSError("the embedded training cluster did not start")
            time.sleep(0.05)
        log.info("Started the embedded training cluster at %s (up to %d workers)", state["address"], self.max_workers)
        return Client(state["address"], timeout=LOCAL_CONNECT_TIMEOUT, set_as_default=False)

    def _close_client(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close(timeout=2)
        self._client = None


_clusters: weakref.WeakSet[TrainingCluster] = weakref.WeakSet()


def rotated(log_path: Path, limit: int = LOG_ROTATE_BYTES) -> Path:
    """`log_path`, moved to `<name>.1` first when it has grown past `limit` (one old log is kept)."""
    with contextlib.suppress(OSError):
        if log_path.stat().st_size > limit:
            log_path.replace(log_path.with_name(f"{log_path.name}.1"))
    return log_path


@atexit.register
def close_all() -> None:
    """Close every cluster connection of this process (at exit: no client left waiting for a scheduler)."""
    for cluster in list(_clusters):
        cluster.close()


def _wait_for_exit(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap it when this process started it
        time.sleep(0.05)


def forget_metadata(client: Client, key: str, entry: str) -> None:
    """Remove one entry of the scheduler's metadata dict `key` (Dask sets entries but never removes one), in the
    scheduler's own event loop, so that no other server's change to the dict in between is lost."""
    client.run_on_scheduler(_pop_metadata, key, entry)


def _pop_metadata(key: str, entry: str, dask_scheduler=None) -> None:
    metadata = dask_scheduler.task_metadata.get(key)
    if isinstance(metadata, dict):
        metadata.pop(entry, None)
