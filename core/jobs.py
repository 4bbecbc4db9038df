"""Training runs as every web server sees them: each run trains in a Dask worker that writes it into the store;
a web server submits runs, reads them from the store, and asks them to stop. Nothing lives only in its memory,
so a server that crashes or is redeployed loses nothing, and replicas on one scheduler and one model folder
share every run.

- A run is submitted with `fire_and_forget`: it trains even when the server that sent it is gone.
- Until a worker takes it, a run waits in the scheduler's metadata (its owner and its progress), so any server
  finds it by run id; from then on its worker writes its record and live progress into the store.
- Stop is a Dask Event named after the run; only the run's owner may set it (a hash of the token in the
  browser's XSRF cookie, which the browser sends to every replica: Streamlit does not sign it).
- The embedded cluster (the default) runs detached from the server that started it and leaves its address in
  the model folder: a restarted server, or a replica, finds it there. It closes itself when no server has been
  connected and no run active for IDLE_CLUSTER_SECONDS. Or DIGITLAB_DASK_SCHEDULER names an existing scheduler.

No TensorFlow here: the server does not need it to train.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import gc
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

from distributed import Client, Event, Future, fire_and_forget, get_client

from core.runs import Progress, RunState, TrainingRequest, first_line
from core.store import JsonFile, RunStore, locked, new_run_id

SCHEDULER_ENV = "DIGITLAB_DASK_SCHEDULER"
MAX_LOCAL_WORKERS = 4
IDLE_WORKER_SECONDS = 60  # an embedded worker idle this long is closed; the next training starts a fresh one
IDLE_CLUSTER_SECONDS = 180  # the embedded cluster closes itself after this long with no server and no run
CONNECT_TIMEOUT = "10s"  # to an external scheduler
LOCAL_CONNECT_TIMEOUT = "3s"  # to the embedded one, on loopback
RETRY_SECONDS = 5  # after a failed connection, pages do not wait for the cluster again this soon
START_TIMEOUT = 60  # seconds for the embedded cluster's process to report its address
CLUSTER_FILE = ".cluster.json"  # in the model folder: the embedded cluster's address, process and scheduler id
PROJECT_ROOT = Path(__file__).resolve().parent.parent
WAITING = "digitlab-waiting"  # metadata: run id -> {"owner", "key", "sweep", "progress"} until a worker takes it
STOPPED_BEFORE_START = "Stopped before it started."
CLUSTER_LOST = "The training cluster could not be reached; press Train to try again."
SWEEPS_FILE = "sweeps.json"  # in the model folder: sweep id -> core.sweeps.Sweep.to_dict()
# Fair queue (Dask runs the highest priority first, on the scheduler and on each worker): a single run goes ahead of
# every sweep's waiting runs, so another learner's run takes the next free worker during a sweep; a sweep's k-th
# run has priority -k, so two learners' sweeps take turns instead of one waiting for the whole other. (Short tasks,
# core.tasks, have 10.)
SINGLE_RUN_PRIORITY = 0

log = logging.getLogger(__name__)


class JobError(Exception):
    """A run could not be started, stopped or continued; the message is meant for the user."""


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
        """The scheduler at DIGITLAB_DASK_SCHEDULER when it is set, else the embedded cluster of `state_dir`."""
        return cls(address=os.environ.get(SCHEDULER_ENV, "").strip() or None, state_dir=state_dir)

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
            with locked(self.state_file.with_suffix(".lock")):  # two servers must not start two clusters
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
        with open(self.state_file.with_suffix(".log"), "ab") as log_file:
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


# ---- In the worker ------------------------------------------------------------------------------------------


class SchedulerReporter:
    """The worker's side of a run's channel: progress goes into the store (core.training writes it); the first
    publish takes the run off the waiting list; the stop flag is a Dask Event."""

    def __init__(self, run_id: str):
        self.run_id = run_id
        self._stop = Event(stop_key(run_id))
        self._waiting = True

    def publish(self, progress: Progress) -> None:
        if self._waiting:
            get_client().set_metadata([WAITING, self.run_id], None)
            self._waiting = False

    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def ended_unpublished(self, progress: Progress) -> None:
        """A run that ended before it could publish anything (it failed before its folder was open): its final
        progress stays where watchers find it, in place of its waiting entry."""
        if self._waiting:
            client = get_client()
            entry = client.get_metadata([WAITING, self.run_id], default=None) or {}
            client.set_metadata([WAITING, self.run_id], {**entry, "progress": progress.to_dict()})


def train_run(request: TrainingRequest) -> str:
    """The task a worker runs (TensorFlow is imported there, never in the web server): the run's final state."""
    from core.training import run_training

    reporter = SchedulerReporter(request.run_id)
    try:
        progress = run_training(request, reporter)
    finally:
        # A run's model, data pipeline and traced functions sit in reference cycles: collected now, a worker stays
        # flat run after run (measured: +190 MB a seed run on all of MNIST without it, +0 with it).
        gc.collect()
    reporter.ended_unpublished(progress)
    return progress.state.value


def stop_key(run_id: str) -> str:
    return f"digitlab-stop-{run_id}"


# ---- In the web server -------------------------------------------------------------------------------------


class RunBoard:
    """Start, find, stop and continue runs: the store holds them, the cluster trains them. At most one live run
    per owner, or one sweep (its runs, see start_sweep)."""

    def __init__(self, store: RunStore, cluster: TrainingCluster | None = None):
        self.store = store
        self.cluster = cluster or TrainingCluster.from_environment(store.root)

    def start(self, owner: str, request: TrainingRequest) -> str:
        """Send a run to the cluster; returns its run id (JobError when it cannot start)."""
        request = dataclasses.replace(request, owner=owner, store_root=str(self.store.root.resolve()))
        try:
            client = self.cluster.client()
            self._refuse_a_second_run(owner)
            self._submit(client, owner, request, SINGLE_RUN_PRIORITY)
        except (OSError, TimeoutError) as error:
            raise JobError(f"The training cluster is not reachable: {first_line(error)}") from error
        return request.run_id

    def _submit(self, client: Client, owner: str, request: TrainingRequest, priority: int) -> None:
        Event(stop_key(request.run_id), client=client).clear()  # a continued run may have been stopped before
        key = f"train-{request.run_id}-{time.time_ns()}"
        waiting = Progress(request.run_id, epochs=request.config.epochs, message="Waiting for a training worker...")
        client.set_metadata(
            [WAITING, request.run_id],
            {"owner": owner, "key": key, "sweep": request.sweep, "progress": waiting.to_dict()},
        )
        fire_and_forget(client.submit(train_run, request, key=key, pure=False, priority=priority))

    # -- sweeps --

    def start_sweep(
        self, owner: str, config, values: dict[str, list], dataset_name: str, limit: int | None = None, name: str = ""
    ):
        """Send a grid (core.sweeps.grid: SweepError for values the panel does not offer) to the cluster at once,
        one normal run per configuration, each recording the sweep's id; returns the core.sweeps.Sweep. JobError
        while the owner has a run or a sweep in flight: a learner trains one thing at a time, so a single run of
        their own cannot jump ahead of their sweep either."""
        from core.sweeps import Sweep, grid

        configs = grid(config, values)
        sweep = Sweep(
            new_run_id(),
            owner,
            tuple(values),
            tuple(new_run_id() for _ in configs),
            tuple(configs),
            dataset_name,
            limit,
            name,
        )
        root = str(self.store.root.resolve())
        try:
            client = self.cluster.client()
            with self._sweeps().updating() as sweeps:  # one at a time across servers: two tabs, one sweep
                self._refuse_a_second_run(owner)
                for index, (run_id, run_config) in enumerate(zip(sweep.run_ids, configs, strict=True)):
                    request = TrainingRequest(
                        run_id,
                        run_config,
                        dataset_name,
                        limit,
                        store_root=root,
                        owner=owner,
                        name=name,
                        sweep=sweep.sweep_id,
                    )
                    self._submit(client, owner, request, priority=-1 - index)
                sweeps[sweep.sweep_id] = sweep.to_dict()
        except (OSError, TimeoutError) as error:
            raise JobError(f"The training cluster is not reachable: {first_line(error)}") from error
        return sweep

    def sweep(self, sweep_id: str):
        """A sweep by id (a core.sweeps.Sweep), or None."""
        from core.sweeps import Sweep

        entry = self._sweeps().read().get(sweep_id)
        try:
            return Sweep.from_dict(entry) if entry else None
        except (KeyError, TypeError, ValueError):
            return None

    def latest_sweep(self, owner: str):
        """The owner's latest sweep (a core.sweeps.Sweep), found again after a reload or on another server; None."""
        if not owner:
            return None
        mine = [
            sweep_id
            for sweep_id, entry in self._sweeps().read().items()
            if isinstance(entry, dict) and entry.get("owner") == owner
        ]
        return self.sweep(max(mine)) if mine else None

    def sweep_progress(self, sweep) -> list[Progress | None]:
        """Where each of a sweep's runs stands, in grid order (None for a run that is gone)."""
        waiting = self._waiting()
        return [self._progress_from(run_id, waiting) for run_id in sweep.run_ids]

    def stop_sweep(self, sweep_id: str, owner: str) -> int:
        """Stop every live run of a sweep, for its owner only (the waiting ones first, so none starts on a worker
        freed meanwhile); returns how many were asked to stop."""
        sweep = self.sweep(sweep_id)
        if sweep is None or not owner or sweep.owner != owner:
            return 0
        live = [(p.state is not RunState.WAITING, p.run_id) for p in self.sweep_progress(sweep) if p and p.active]
        return sum(self.stop(run_id, owner) for _, run_id in sorted(live))

    def _sweeps(self) -> JsonFile:
        return JsonFile(self.store.root / SWEEPS_FILE)

    def continue_run(self, owner: str, run_id: str) -> str:
        """Train a stopped or interrupted run on from its last epoch, for its owner (JobError otherwise)."""
        from core.config import ModelConfig

        record = self.store.get(run_id)
        if record is None or record.owner != owner or not owner:
            raise JobError("Only the browser that started a run can continue it.")
        if not record.state.continuable or not self.store.epochs_saved(run_id):
            raise JobError(f"Run {run_id} has no finished epoch to continue from.")
        request = TrainingRequest(
            run_id, ModelConfig(**record.config), record.dataset, resume=True, limit=record.train_samples or None
        )
        return self.start(owner, request)

    def progress(self, run_id: str | None) -> Progress | None:
        """Where a run stands, from the store, or from the cluster while it waits for a worker; None if unknown."""
        if not run_id:
            return None
        return self._progress_from(run_id, self._waiting())

    def _progress_from(self, run_id: str, waiting_entries: dict[str, dict]) -> Progress | None:
        waiting = waiting_entries.get(run_id)
        queued = Progress.from_dict(waiting["progress"]) if waiting else None
        if queued is not None and queued.active:
            return queued  # also a run sent again (continued) that no worker has taken yet
        return self.store.progress(run_id) or queued

    def owner_of(self, run_id: str) -> str:
        record = self.store.get(run_id)
        if record is not None:
            return record.owner
        return (self._waiting().get(run_id) or {}).get("owner", "")

    def live(self) -> list[Progress]:
        """Every run waiting or training now, newest first."""
        waiting = [Progress.from_dict(entry["progress"]) for entry in self._waiting().values()]
        waiting = [progress for progress in waiting if progress.active]
        training = [progress for record in self.store.live_records() if (progress := self.progress(record.run_id))]
        return sorted([*waiting, *training], key=lambda progress: progress.run_id, reverse=True)

    def stop(self, run_id: str, owner: str, teacher: bool = False) -> bool:
        """Stop a run for its owner only, or for the teacher (False, and nothing happens, for anyone else): after
        the step in flight, keeping its whole epochs; a run still waiting for a worker never starts."""
        if not teacher and (not owner or self.owner_of(run_id) != owner):
            return False
        client = self.cluster.existing_client()
        if client is None:
            return False  # no cluster: nothing trains it (the store shows it interrupted)
        try:
            Event(stop_key(run_id), client=client).set()
            waiting = self._waiting().get(run_id)
            if waiting:
                client.cancel([Future(waiting["key"], client)], force=True)
                stopped = Progress.from_dict(waiting["progress"])
                stopped.state, stopped.message = RunState.STOPPED, STOPPED_BEFORE_START
                client.set_metadata([WAITING, run_id], {**waiting, "progress": stopped.to_dict()})
        except (OSError, TimeoutError) as error:  # the cluster went away meanwhile: its runs show interrupted
            log.warning("Run %s could not be stopped: %s", run_id, first_line(error))
            return False
        return True

    def _waiting(self) -> dict[str, dict]:
        """Run id -> what the scheduler keeps of runs no worker has taken yet (and those stopped before)."""
        client = self.cluster.existing_client()
        if client is None:
            return {}
        try:
            entries = client.get_metadata([WAITING], default={}) or {}
        except (OSError, TimeoutError):
            return {}
        return {run_id: entry for run_id, entry in entries.items() if entry}

    def _refuse_a_second_run(self, owner: str) -> None:
        live = [p for p in self.live() if p.active and self.owner_of(p.run_id) == owner]
        if live and (sweep := self._sweep_of(live[0].run_id)):
            raise JobError(
                f"Your sweep {sweep} is still training ({len(live)} of its runs waiting or training): "
                "stop it or wait for it before starting another run or sweep."
            )
        if live:
            raise JobError(f"Run {live[0].run_id} is still training: stop it or wait for it before starting another.")

    def _sweep_of(self, run_id: str) -> str:
        record = self.store.get(run_id)
        if record is not None:
            return record.sweep
        return (self._waiting().get(run_id) or {}).get("sweep", "")
