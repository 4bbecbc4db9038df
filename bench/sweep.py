"""A sweep on the training cluster: 4 runs of the seed network on 10,000 images, side by side on 2 workers, against
the same 4 runs one after another; and how long another learner's single run, sent while the sweep trains, waits
for a worker (the fair queue: it should start within one run's time, not after the whole sweep).

Everything goes through the app's own RunBoard and embedded cluster (2 workers, warmed up first) in a temporary
model folder: from the click to the last run written into the store by its worker. Prints a table and one JSON line.
--threads N starts the cluster with TensorFlow's intra-op threads (and OpenMP's) at N per worker (default:
TensorFlow's own choice, one per core), to see what two runs sharing two cores lose to oversubscription.
Run: nice -n 19 python bench/sweep.py [--repeats 1] [--limit 10000] [--threads N]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.cluster_client import TrainingCluster  # noqa: E402
from core.config import SEED  # noqa: E402
from core.run_board import RunBoard
from core.runs import RunState, TrainingRequest  # noqa: E402
from core.store import RunStore, new_run_id  # noqa: E402
from core.sweeps import grid  # noqa: E402

VALUES = {"learning_rate": [0.001, 0.002], "dropout": [0.0, 0.2]}  # 4 runs that cost the same
WORKERS = 2


def wait_for(condition, timeout: float = 900, poll: float = 0.02):
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise TimeoutError("timed out")
        time.sleep(poll)
    return result


def ended(board: RunBoard, run_id: str) -> bool:
    return (progress := board.progress(run_id)) is not None and progress.ended


def started(board: RunBoard, run_id: str) -> bool:
    return (progress := board.progress(run_id)) is not None and progress.state is not RunState.WAITING


def fit_seconds(board: RunBoard, run_ids) -> list[float]:
    """Each run's own time in its worker (data, fit, evaluation), as its record says."""
    return [board.store.get(run_id).result.seconds for run_id in run_ids]


def one_after_another(board: RunBoard, limit: int) -> dict:
    """The grid's 4 runs, each sent when the one before has ended."""
    run_ids, walls = [], []
    started_all = time.perf_counter()
    for config in grid(SEED, VALUES):
        began = time.perf_counter()
        run_ids.append(board.start("bench-sequential", TrainingRequest(new_run_id(), config, "mnist", limit)))
        wait_for(lambda run_id=run_ids[-1]: ended(board, run_id))
        walls.append(time.perf_counter() - began)
    return {"wall_s": time.perf_counter() - started_all, "run_walls_s": walls, "fits_s": fit_seconds(board, run_ids)}


def as_a_sweep(board: RunBoard, limit: int, owner: str) -> tuple[dict, object]:
    """The same grid sent at once as a sweep; returns its timings once every run has ended."""
    began = time.perf_counter()
    sweep = board.start_sweep(owner, SEED, VALUES, "mnist", limit)
    return {"began": began, "sweep": sweep}, sweep


def finish_sweep(board: RunBoard, sent: dict) -> dict:
    sweep = sent["sweep"]
    wait_for(lambda: all(p is not None and p.ended for p in board.sweep_progress(sweep)))
    states = {p.state.value for p in board.sweep_progress(sweep)}
    return {
        "wall_s": time.perf_counter() - sent["began"],
        "fits_s": fit_seconds(board, sweep.run_ids),
        "states": sorted(states),
    }


def with_another_learner(board: RunBoard, limit: int) -> dict:
    """A sweep, and once both workers train it, another learner's single run: its wait for a worker, its end."""
    sent, sweep = as_a_sweep(board, limit, "bench-sweeper")
    wait_for(lambda: sum(p is not None and p.state is RunState.RUNNING for p in board.sweep_progress(sweep)) == 2)
    sent_at = time.perf_counter()
    config = dataclasses.replace(SEED, learning_rate=0.0005)
    other = board.start("bench-other-learner", TrainingRequest(new_run_id(), config, "mnist", limit))
    wait_for(lambda: started(board, other))
    waited = time.perf_counter() - sent_at
    sweep_left = sum(p is not None and p.state is RunState.WAITING for p in board.sweep_progress(sweep))
    wait_for(lambda: ended(board, other))
    other_done = time.perf_counter() - sent_at
    finished = finish_sweep(board, sent)
    return {
        "wait_s": waited,
        "done_s": other_done,
        "sweep_runs_still_waiting": sweep_left,
        "sweep_wall_s": finished["wall_s"],
        "sweep_fits_s": finished["fits_s"],
    }


def warm_up(board: RunBoard, cluster: TrainingCluster) -> None:
    """Both workers up, TensorFlow imported and MNIST loaded in each (a tiny sweep of 2 runs per worker)."""
    tiny = dataclasses.replace(SEED, units=32, epochs=1)
    sweep = board.start_sweep("bench-warm-up", tiny, {"units": [32, 48], "dropout": [0.0, 0.1]}, "mnist", 2_000)
    wait_for(lambda: all(p is not None and p.ended for p in board.sweep_progress(sweep)))
    wait_for(lambda: len(cluster.workers()) == WORKERS, timeout=60, poll=0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--limit", type=int, default=10_000, help="training images per run")
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads per worker (0: TensorFlow's own)")
    args = parser.parse_args()
    if args.threads:  # the embedded cluster's process, its forkserver and its workers inherit them
        os.environ.update({"TF_NUM_INTRAOP_THREADS": str(args.threads), "OMP_NUM_THREADS": str(args.threads)})
    folder = tempfile.mkdtemp(prefix="digitlab-sweep-")
    cluster = TrainingCluster(max_workers=WORKERS, idle_seconds=600, state_dir=folder)
    board = RunBoard(RunStore(folder), cluster)
    load_before = os.getloadavg()[0]
    try:
        warm_up(board, cluster)
        rows = []
        for repeat in range(args.repeats):
            sequential = one_after_another(board, args.limit)
            sent, _ = as_a_sweep(board, args.limit, f"bench-sweep-{repeat}")
            parallel = finish_sweep(board, sent)
            other = with_another_learner(board, args.limit)
            rows.append((sequential, parallel, other))
        load_after = os.getloadavg()[0]
    finally:
        cluster.shutdown()
        shutil.rmtree(folder, ignore_errors=True)

    median = statistics.median
    sequential_s = median(s["wall_s"] for s, _, _ in rows)
    sweep_s = median(p["wall_s"] for _, p, _ in rows)
    one_run_s = median(wall for s, _, _ in rows for wall in s["run_walls_s"])
    wait_s = median(o["wait_s"] for _, _, o in rows)
    fit_alone = median(fit for s, _, _ in rows for fit in s["fits_s"])
    fit_side_by_side = median(fit for _, p, _ in rows for fit in p["fits_s"])
    # The wait's yardstick: one of that sweep's own runs, side by side with another, in the same minute of load.
    run_then = median(median(o["sweep_fits_s"]) for _, _, o in rows)
    print(
        f"4 runs of the seed network ({SEED.epochs} epochs) on {args.limit:,} MNIST images, {WORKERS} workers on "
        f"{os.cpu_count()} cores, intra-op threads {args.threads or 'TensorFlow default'} (load {load_before:.1f} "
        f"before, {load_after:.1f} after; median of {args.repeats})"
    )
    table = [
        ("one after another (send, wait for its end, send the next)", f"{sequential_s:.1f} s"),
        ("as a sweep (all 4 sent at once)", f"{sweep_s:.1f} s"),
        ("speed-up (goal: at least 1.6x)", f"{sequential_s / sweep_s:.2f}x"),
        ("one run alone: click to saved / its own time in the worker", f"{one_run_s:.1f} s / {fit_alone:.1f} s"),
        ("one run's own time beside another run (2 share 2 cores)", f"{fit_side_by_side:.1f} s"),
        (
            "another learner's run sent during a sweep: waits for a worker",
            f"{wait_s:.1f} s ({wait_s / run_then:.2f} of that sweep's runs, {run_then:.1f} s each; goal: at most 1)",
        ),
        (
            "... and is saved after",
            f"{median(o['done_s'] for _, _, o in rows):.1f} s (the sweep's runs still "
            f"waiting when it started: {min(o['sweep_runs_still_waiting'] for _, _, o in rows)} of 4)",
        ),
        ("the sweep with that run cutting in", f"{median(o['sweep_wall_s'] for _, _, o in rows):.1f} s"),
    ]
    width = max(len(label) for label, _ in table)
    for label, value in table:
        print(f"  {label:{width}}  {value}")
    print(
        json.dumps(
            {
                "bench": "sweep",
                "runs": 4,
                "images": args.limit,
                "workers": WORKERS,
                "cores": os.cpu_count(),
                "sequential_s": round(sequential_s, 2),
                "sweep_s": round(sweep_s, 2),
                "speedup": round(sequential_s / sweep_s, 3),
                "one_run_s": round(one_run_s, 2),
                "fit_alone_s": round(fit_alone, 2),
                "fit_side_by_side_s": round(fit_side_by_side, 2),
                "other_learner_wait_s": round(wait_s, 2),
                "sweep_run_then_s": round(run_then, 2),
                "other_learner_wait_runs": round(wait_s / run_then, 3),
                "sweep_runs_waiting_when_other_started": min(o["sweep_runs_still_waiting"] for _, _, o in rows),
                "states": sorted({state for _, p, _ in rows for state in p["states"]}),
                "load_before": round(load_before, 2),
                "load_after": round(load_after, 2),
                "repeats": args.repeats,
                "intra_op_threads": args.threads or None,
            }
        )
    )


if __name__ == "__main__":
    main()
