"""The embedded training cluster, in a process of its own:
`python -m core.cluster --workers N --idle S --linger L --state-file PATH`.

It starts a Dask LocalCluster on loopback (worker processes of one thread each, scaled between zero and N,
a worker closed after S idle seconds so its memory comes back) and writes its scheduler's address, its process
id and its scheduler's id into PATH (in the model folder), where every web server on that folder finds it.
It runs at a lower CPU priority than the web server (its process and its session's autogroup), and its workers
inherit that: a stroke on the canvas is answered before the next training step. It does not follow the server
that started it: a crashed or redeployed server finds it again, its runs still training. It exits after L
seconds with nothing to do (no web server connected, no task waiting or running, no step-mode network used within
its idle limit) and removes PATH. What Dask keeps for its own bookkeeping (fire-and-forget tasks, published
datasets, a worker's own client, metadata) is not work. It closes idle step-mode networks itself, on their own
clock, whether or not a web server is connected (core.stepper.close_idle).

Workers are forked from a forkserver that imports TensorFlow and `core.training` once, with the first worker:
every later worker (the second, one after an idle close, one the nanny restarts after a crash) starts training
within ~1-2 s instead of ~10 s spent importing TensorFlow. The forkserver keeps ~690 MB RSS (~270 MB of it its
own, the rest TensorFlow's libraries, shared with the web server) while the cluster lives.

Why a process of its own: a worker process re-runs its parent's `__main__`, which in a Streamlit server is
whatever page script is running at that moment.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import multiprocessing
import os
import time
from pathlib import Path

from core.files import write_atomically
from core.stepper import close_idle

NICENESS = 10
# The scheduler's settings Digit Lab relies on: a run is never retried behind the user's back (its progress
# would jump back to epoch 1), a worker takes one run at a time, and adaptive scaling sees runs as long tasks.
SCHEDULER_SETTINGS = {
    "distributed.scheduler.allowed-failures": 0,
    "distributed.scheduler.worker-saturation": 1.0,
    "distributed.scheduler.default-task-durations": {"train_run": "1h"},
    "distributed.worker.multiprocessing-method": "forkserver",
    "distributed.worker.preload": ["core.worker_setup"],  # its temporary files in its own folder
}
WORKER_PRELOAD = ["distributed", "core.training"]  # imported once by the forkserver, inherited by every worker


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, required=True, help="most worker processes at once")
    parser.add_argument("--idle", type=float, required=True, help="seconds before an idle worker is closed")
    parser.add_argument("--linger", type=float, required=True, help="seconds idle with no client before exiting")
    parser.add_argument("--state-file", type=Path, required=True, help="where to write the address")
    args = parser.parse_args()

    import dask
    from distributed import Client, LocalCluster
    from distributed.utils import get_mp_context

    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    # Linux schedules each session (an "autogroup", on by default) as one: the cluster, in a session of its own,
    # would compete with the web server as an equal whatever its nice says. Its whole autogroup is niced too
    # (bench/class_load.py: 30 learners' stroke p95 from 2-6 s down to 0.1-0.5 s beside two trainings).
    with contextlib.suppress(OSError):
        Path("/proc/self/autogroup").write_text(str(NICENESS))
    # A worker holding a step-mode network (a Dask actor, core.stepper) is never closed while it lives; the
    # memory manager says so every second the worker is idle.
    logging.getLogger("distributed.active_memory_manager").setLevel(logging.ERROR)
    dask.config.set(SCHEDULER_SETTINGS)
    get_mp_context()  # Dask names its own forkserver preload on first use: name ours after it, before the first worker
    multiprocessing.get_context("forkserver").set_forkserver_preload(WORKER_PRELOAD)
    with LocalCluster(
        n_workers=0,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        scheduler_port=0,
        dashboard_address=None,
        silence_logs=logging.WARNING,
    ) as cluster:
        cluster.adapt(
            minimum=0, maximum=args.workers, target_duration="1s", interval="1s", wait_count=max(1, round(args.idle))
        )
        state = {"address": cluster.scheduler_address, "pid": os.getpid(), "scheduler_id": cluster.scheduler.id}
        write_atomically(args.state_file, json.dumps(state))
        try:
            with Client(cluster.scheduler_address, set_as_default=False) as own:
                wait_until_idle(cluster.scheduler, own, args.linger)
        finally:
            with contextlib.suppress(OSError, ValueError):
                if json.loads(args.state_file.read_text())["pid"] == os.getpid():
                    args.state_file.unlink()


def is_web_server(client_id: str) -> bool:
    """Whether a scheduler's client is a web server's: not Dask's fire-and-forget holder, nor a published dataset's
    holder (a step-mode network's), nor the client a worker opens for a task's Events and Variables."""
    return client_id != "fire-and-forget" and not client_id.startswith(("Client-worker-", "published-"))


def wait_until_idle(scheduler, own, linger: float, poll: float = 1.0) -> None:
    """Return once the cluster has had nothing to do for `linger` seconds: no web server connected, no task
    queued or running, no step-mode network used within its idle limit. `own` is this process's client, which
    closes idle step-mode networks every `poll` seconds."""
    idle_since = time.monotonic()
    while time.monotonic() - idle_since < linger:
        time.sleep(poll)
        try:
            stepping = bool(close_idle(own))
        except (OSError, TimeoutError):
            stepping = True  # not readable now: not idle
        try:  # read from this thread while the scheduler's event loop changes them: a snapshot may fail
            clients = [name for name in list(scheduler.clients) if is_web_server(name) and name != own.id]
            workers = list(scheduler.workers.values())
            busy = scheduler.queued or scheduler.unrunnable or any(worker.processing for worker in workers)
        except RuntimeError:
            clients, busy = ["?"], True
        if clients or busy or stepping:
            idle_since = time.monotonic()


if __name__ == "__main__":
    main()
