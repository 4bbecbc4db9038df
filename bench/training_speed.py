"""Training speed on real MNIST, per model family, and what the training cluster adds.

Prints the whole fit's seconds (compiling included) for the seed network and the Small CNN preset, on a 2,000
image slice and on all 60,000 images: the notebook's plain `model.fit`, 32 steps per call without XLA, and with
XLA; a star marks what the app chooses. Then one whole seed run through the app's embedded Dask cluster
(worker start, data loading, live progress, per-epoch checkpoints, evaluation, the run written into the store by
its worker) beside the same run in this process: on a cold cluster, with a worker up, and right after that worker
was killed (a new one is forked from the cluster's forkserver, TensorFlow already imported); then what the run's
life in the store costs: the live progress channel (one progress write and one stop check) and one epoch's
checkpoint (its weights, the model with its optimizer's state, the record), and the held-out curve's cost per epoch.
Run: python bench/training_speed.py [--repeats 2] [--cluster-only]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


from core.cluster_client import TrainingCluster  # noqa: E402
from core.config import PRESETS, SEED  # noqa: E402
from core.data import load_dataset  # noqa: E402
from core.model import build_model  # noqa: E402
from core.run_board import RunBoard
from core.run_task import SchedulerReporter
from core.runs import LocalReporter, Progress, RunResult, RunState, TrainingRequest  # noqa: E402
from core.store import RunRecord, RunStore, RunWriter, new_run_id  # noqa: E402
from core.training import (  # noqa: E402
    NO_XLA,
    PLAIN_COMPILE,
    PUBLISH_SECONDS,
    XLA,
    HeldOutCurve,
    TrainingData,
    compile_options_for,
    held_out_size,
    run_training,
)

FAMILIES = {"dense": SEED, "cnn": PRESETS["Small CNN"].config}


def channel_cost(cluster: TrainingCluster, folder: str, calls: int = 200) -> float:
    """Seconds for one progress write into the store plus one stop check through the scheduler, in a worker."""
    client = cluster.client()

    def measure() -> float:
        writer = RunWriter(RunStore(folder), RunRecord(new_run_id(), "mnist", {}, RunState.RUNNING))
        reporter = SchedulerReporter("bench-channel")
        snapshot = Progress("bench-channel", result=RunResult({"loss": [0.1] * 30, "accuracy": [0.9] * 30}))
        writer.start(snapshot)
        started = time.perf_counter()
        for _ in range(calls):
            writer.publish(snapshot)
            reporter.stop_requested()
        writer.finish(snapshot)
        return (time.perf_counter() - started) / calls

    return client.submit(measure, pure=False).result()


def held_out_cost(repeats: int = 5) -> tuple[float, float]:
    """(seconds of the held-out curve after one epoch, seconds of one epoch) for the seed network on all of MNIST,
    as the app trains it."""
    data = TrainingData.from_dataset(load_dataset("mnist"), SEED)
    model = build_model(SEED, data.x_train.shape[1:], compile_options=compile_options_for(SEED, len(data.x_train)))
    model.fit(data.x_train, data.y_train, epochs=1, batch_size=SEED.batch_size, verbose=0)  # compiled, warm
    started = time.perf_counter()
    model.fit(data.x_train, data.y_train, epochs=1, batch_size=SEED.batch_size, verbose=0)
    epoch = time.perf_counter() - started
    curve = HeldOutCurve(data.x_test, data.y_test, held_out_size(len(data.x_train), len(data.x_test)))
    curve.set_model(model)
    curve.on_epoch_end(0, {})  # traces the forward pass once, as the first epoch does
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        curve.on_epoch_end(0, {})
        timings.append(time.perf_counter() - started)
    return statistics.median(timings), epoch


def checkpoint_seconds(folder: str, repeats: int = 10) -> float:
    """Median seconds of one epoch's checkpoint of the seed network (compiled, optimizer built) in this process."""
    data = TrainingData.from_dataset(load_dataset("mnist"), SEED, 1_000)
    model = build_model(SEED, data.x_train.shape[1:])
    model.fit(data.x_train, data.y_train, epochs=1, verbose=0)
    progress = Progress("bench", result=RunResult({"loss": [0.1]}))
    writer = RunWriter(RunStore(folder), RunRecord(new_run_id(), "mnist", {}, RunState.RUNNING)).start(progress)
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        writer.epoch_end(model, progress)
        timings.append(time.perf_counter() - started)
    writer.finish(progress)
    return statistics.median(timings)


def kill_the_worker(cluster: TrainingCluster) -> None:
    """kill -9 the cluster's one worker, and return once the scheduler has noticed; its nanny forks a new one."""
    killed = next(iter(cluster.workers().values()))
    os.kill(killed, signal.SIGKILL)
    while True:
        with contextlib.suppress(OSError):  # asking the workers may reach the dead one
            if killed not in cluster.workers().values():
                return
        time.sleep(0.01)


def fit_seconds(config, data: TrainingData, options: dict) -> float:
    model = build_model(config, data.x_train.shape[1:], compile_options=options)
    started = time.perf_counter()
    model.fit(data.x_train, data.y_train, epochs=config.epochs, batch_size=config.batch_size, verbose=0)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--cluster-only", action="store_true", help="skip the table of fits in this process")
    args = parser.parse_args()
    mnist = load_dataset("mnist")
    variants = {"plain fit (the notebook's)": PLAIN_COMPILE, "32 steps per call": NO_XLA, "32 steps, XLA": XLA}
    if not args.cluster_only:
        print(f"whole fit in seconds, compiling included (median of {args.repeats}); * = what the app chooses")
    for family, config in {} if args.cluster_only else FAMILIES.items():
        for limit in (2_000, None):
            data = TrainingData.from_dataset(mnist, config, limit)
            chosen = compile_options_for(config, len(data.x_train))
            cells = []
            for name, options in variants.items():
                if family == "cnn" and options is XLA and limit is None:
                    cells.append(f"{name}: skipped (2.4-3.5x slower per epoch)")
                    continue
                seconds = statistics.median(fit_seconds(config, data, options) for _ in range(args.repeats))
                cells.append(f"{name}{'*' if options == chosen else ''}: {seconds:.1f}")
            images = f"{len(data.x_train):,} images x {config.epochs} epochs"
            print(f"  {family:5} {images:28} " + "; ".join(cells), flush=True)
    folder = tempfile.mkdtemp(prefix="digitlab-speed-")
    cluster = TrainingCluster(max_workers=1, state_dir=folder)
    board = RunBoard(RunStore(folder), cluster)
    try:
        config = SEED
        started = time.perf_counter()
        run_training(TrainingRequest(new_run_id(), config, "mnist"), LocalReporter())
        here = time.perf_counter() - started
        cases = [("cold: the cluster and its worker start", False)]
        cases += [("warm: a worker is already up", False)] * args.repeats
        cases += [("a new worker: the last one was killed -9 (timed from the kill)", True)]
        for label, kill_first in cases:
            started = time.perf_counter()
            if kill_first:
                kill_the_worker(cluster)
            run_id = board.start("bench", TrainingRequest(new_run_id(), config, "mnist"))
            while (progress := board.progress(run_id)) is None or progress.state is RunState.WAITING:
                time.sleep(0.01)
            to_start = time.perf_counter() - started
            while (progress := board.progress(run_id)).active:
                time.sleep(0.01)
            seconds = time.perf_counter() - started
            print(
                f"seed run of {config.epochs} epochs through the cluster, {label}: training after {to_start:.1f} s, "
                f"{progress.state.value} and saved after {seconds:.1f} s, of which fit + evaluation "
                f"{progress.result.seconds:.1f} s (in this process, nothing saved: {here:.1f} s)"
            )
        cost = channel_cost(cluster, folder)
        print(
            f"live progress channel: {cost * 1000:.2f} ms per progress write + stop check, at most every "
            f"{PUBLISH_SECONDS} s: {cost / PUBLISH_SECONDS:.2%} of a worker's time"
        )
        print(f"one epoch's checkpoint of the seed network: {checkpoint_seconds(folder) * 1000:.0f} ms")
        curve, epoch = held_out_cost()
        print(
            f"held-out curve after each epoch (10,000 test digits): {curve * 1000:.0f} ms, {curve / epoch:.1%} of a "
            f"seed epoch on all of MNIST ({epoch:.2f} s)"
        )
    finally:
        cluster.shutdown()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
