"""The embedded training cluster, in a process of its own: `python -m core.cluster --workers N --idle S`.

It starts a Dask LocalCluster on loopback (worker processes of one thread each, scaled between zero and N,
a worker closed after S idle seconds so its memory comes back) and prints the scheduler's address on stdout.
It runs at a lower CPU priority than the web server, and its workers inherit that: a stroke on the canvas is
answered before the next training step. It exits when its parent closes its stdin, or dies.

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
import logging
import multiprocessing
import os
import sys

NICENESS = 10
# The scheduler's settings Digit Lab relies on: a run is never retried behind the user's back (its progress
# would jump back to epoch 1), a worker takes one run at a time, and adaptive scaling sees runs as long tasks.
SCHEDULER_SETTINGS = {
    "distributed.scheduler.allowed-failures": 0,
    "distributed.scheduler.worker-saturation": 1.0,
    "distributed.scheduler.default-task-durations": {"train_run": "1h"},
    "distributed.worker.multiprocessing-method": "forkserver",
}
WORKER_PRELOAD = ["distributed", "core.training"]  # imported once by the forkserver, inherited by every worker


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, required=True, help="most worker processes at once")
    parser.add_argument("--idle", type=float, required=True, help="seconds before an idle worker is closed")
    args = parser.parse_args()

    import dask
    from distributed import LocalCluster
    from distributed.utils import get_mp_context

    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    dask.config.set(SCHEDULER_SETTINGS)
    get_mp_context()  # Dask names its own forkserver preload on first use: name ours after it, before the first worker
    multiprocessing.get_context("forkserver").set_forkserver_preload(WORKER_PRELOAD)
    with LocalCluster(
        n_workers=0, threads_per_worker=1, processes=True, host="127.0.0.1", scheduler_port=0,
        dashboard_address=None, silence_logs=logging.WARNING,
    ) as cluster:  # fmt: skip
        cluster.adapt(minimum=0, maximum=args.workers, target_duration="1s", interval="1s",
                      wait_count=max(1, round(args.idle)))  # fmt: skip
        print(cluster.scheduler_address, flush=True)
        sys.stdin.read()  # until the web server closes the pipe or exits


if __name__ == "__main__":
    main()
