"""Training runs as every web server sees them: each run trains in a Dask worker that writes it into the store;
a web server submits runs, reads them from the store, and asks them to stop. Nothing lives only in its memory,
so a server that crashes or is redeployed loses nothing, and replicas on one scheduler and one model folder
share every run.

- A run is submitted with `fire_and_forget`: it trains even when the server that sent it is gone.
- Until a worker takes it, a run waits in the scheduler's metadata (core.state.WAITING: its owner and its
  progress), so any server finds it by run id; from then on its worker writes its record and live progress into
  the store. `RunBoard.progress` is the one reading of where a run stands, wherever that lives.
- Stop is a Dask Event named after the run; only the run's owner may set it (core.owners), or the teacher.

No TensorFlow here: the server does not need it to train.
"""

from __future__ import annotations

import dataclasses
import logging
import time

from distributed import Client, Event, Future, fire_and_forget

from core.cluster_client import TrainingCluster
from core.config import run_bytes
from core.data import image_shape_of
from core.retention import room_problem
from core.run_task import train_run
from core.runs import Progress, RunState, TrainingRequest, first_line
from core.state import WAITING, stop_event, training_task
from core.store import RunStore, new_run_id
from core.sweeps import Sweep, SweepBook, grid

STOPPED_BEFORE_START = "Stopped before it started."
# Fair queue (Dask runs the highest priority first, on the scheduler and on each worker): a single run goes ahead of
# every sweep's waiting runs, so another learner's run takes the next free worker during a sweep; a sweep's k-th
# run has priority -k, so two learners' sweeps take turns instead of one waiting for the whole other. (Short tasks,
# core.tasks, have 10.)
SINGLE_RUN_PRIORITY = 0

log = logging.getLogger(__name__)


class JobError(Exception):
    """A run could not be started, stopped or continued; the message is meant for the user."""


class RunBoard:
    """Start, find, stop and continue runs: the store holds them, the cluster trains them. At most one live run
    per owner, or one sweep (its runs, see start_sweep)."""

    def __init__(self, store: RunStore, cluster: TrainingCluster | None = None):
        self.store = store
        self.cluster = cluster or TrainingCluster.from_environment(store.root)
        self.sweeps = SweepBook(store.root)

    def start(self, owner: str, request: TrainingRequest) -> str:
        """Send a run to the cluster; returns its run id (JobError when it cannot start)."""
        request = dataclasses.replace(request, owner=owner, store_root=str(self.store.root.resolve()))
        self._refuse_without_room([request])
        try:
            client = self.cluster.client()
            self._refuse_a_second_run(owner)
            self._submit(client, owner, request, SINGLE_RUN_PRIORITY)
        except (OSError, TimeoutError) as error:
            raise JobError(f"The training cluster is not reachable: {first_line(error)}") from error
        return request.run_id

    def _submit(self, client: Client, owner: str, request: TrainingRequest, priority: int) -> None:
        Event(stop_event(request.run_id), client=client).clear()  # a continued run may have been stopped before
        key = training_task(request.run_id, time.time_ns())
        waiting = Progress(request.run_id, epochs=request.config.epochs, message="Waiting for a training worker...")
        client.set_metadata(
            [WAITING, request.run_id],
            {"owner": owner, "key": key, "sweep": request.sweep, "progress": waiting.to_dict()},
        )
        fire_and_forget(client.submit(train_run, request, key=key, pure=False, priority=priority))

    # -- sweeps --

    def start_sweep(
        self, owner: str, config, values: dict[str, list], dataset_name: str, limit: int | None = None, name: str = ""
    ) -> Sweep:
        """Send a grid (core.sweeps.grid: SweepError for values the panel does not offer) to the cluster at once,
        one normal run per configuration, each recording the sweep's id; returns the Sweep. JobError while the
        owner has a run or a sweep in flight: a learner trains one thing at a time, so a single run of their own
        cannot jump ahead of their sweep either."""
        configs = grid(config, values)
        run_ids = tuple(new_run_id() for _ in configs)
        sweep = Sweep(new_run_id(), owner, tuple(values), run_ids, tuple(configs), dataset_name, limit, name)
        root = str(self.store.root.resolve())
        self._refuse_without_room(
            [TrainingRequest(run_id, c, dataset_name) for run_id, c in zip(run_ids, configs, strict=True)]
        )
        try:
            client = self.cluster.client()
            with self.sweeps.adding(sweep):  # one at a time across servers: two tabs, one sweep
                self._refuse_a_second_run(owner)
                for index, (run_id, run_config) in enumerate(zip(run_ids, configs, strict=True)):
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
        except (OSError, TimeoutError) as error:
            raise JobError(f"The training cluster is not reachable: {first_line(error)}") from error
        return sweep

    def sweep_progress(self, sweep: Sweep) -> list[Progress | None]:
        """Where each of a sweep's runs stands, in grid order (None for a run that is gone)."""
        waiting = self._waiting()
        return [self._progress_from(run_id, waiting) for run_id in sweep.run_ids]

    def stop_sweep(self, sweep_id: str, owner: str) -> int:
        """Stop every live run of a sweep, for its owner only (the waiting ones first, so none starts on a worker
        freed meanwhile); returns how many were asked to stop."""
        sweep = self.sweeps.get(sweep_id)
        if sweep is None or not owner or sweep.owner != owner:
            return 0
        live = [(p.state is not RunState.WAITING, p.run_id) for p in self.sweep_progress(sweep) if p and p.active]
        return sum(self.stop(run_id, owner) for _, run_id in sorted(live))

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
            Event(stop_event(run_id), client=client).set()
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

    def _refuse_without_room(self, requests: list[TrainingRequest]) -> None:
        """JobError when these runs would not fit on the model folder's volume (and leave room for the rest)."""
        needed = sum(run_bytes(r.config, image_shape_of(r.dataset_name)) for r in requests)
        if (problem := room_problem(self.store.root, needed)) is not None:
            raise JobError(problem)

    def _sweep_of(self, run_id: str) -> str:
        record = self.store.get(run_id)
        if record is not None:
            return record.sweep
        return (self._waiting().get(run_id) or {}).get("sweep", "")
