"""Training speed on real MNIST, per model family, and what the training cluster adds.

Prints seconds per epoch (median of the epochs after the first, which traces and compiles) for the notebook's
plain `model.fit` and for the compile options the app uses for that family; then one whole run through the
app's embedded Dask cluster (worker start, data loading, live progress, evaluation, the saved model) beside
the same run in this process; then the cost of the live progress channel (one publish and one stop check).
Run: python bench/training_speed.py [--epochs 3] [--families dense cnn]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import keras  # noqa: E402

from core.config import PRESETS, SEED  # noqa: E402
from core.data import load_dataset  # noqa: E402
from core.jobs import SchedulerReporter, TrainingCluster, TrainingJob  # noqa: E402
from core.model import build_model  # noqa: E402
from core.runs import LocalReporter, Progress, TrainingRequest  # noqa: E402
from core.store import new_run_id  # noqa: E402
from core.training import COMPILE_OPTIONS, PLAIN_COMPILE, PUBLISH_SECONDS, TrainingData, run_training  # noqa: E402

FAMILIES = {"dense": SEED, "cnn": dataclasses.replace(PRESETS["Small CNN"].config, validation_split=0.0)}


class EpochTimer(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.start)


def seconds_per_epoch(config, data: TrainingData, options: dict, epochs: int) -> tuple[float, float]:
    """(first epoch, median of the others) for a plain Keras fit with these compile options."""
    model = build_model(config, data.x_train.shape[1:], compile_options=options)
    timer = EpochTimer()
    model.fit(data.x_train, data.y_train, epochs=epochs, batch_size=config.batch_size, callbacks=[timer], verbose=0)
    return timer.seconds[0], statistics.median(timer.seconds[1:] or timer.seconds)


def channel_cost(cluster: TrainingCluster, calls: int = 200) -> float:
    """Seconds for one progress publish plus one stop check through the scheduler."""
    client = cluster.client()

    def measure() -> float:
        reporter = SchedulerReporter("bench-channel")
        snapshot = Progress("bench-channel", history={"loss": [0.1] * 30, "accuracy": [0.9] * 30})
        started = time.perf_counter()
        for _ in range(calls):
            reporter.publish(snapshot)
            reporter.stop_requested()
        return (time.perf_counter() - started) / calls

    return client.submit(measure, pure=False).result()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    args = parser.parse_args()
    mnist = load_dataset("mnist")
    print(f"real MNIST, 60,000 training images, {args.epochs} epochs; seconds per epoch (first epoch in brackets)")
    for family in args.families:
        config = dataclasses.replace(FAMILIES[family], epochs=args.epochs)
        data = TrainingData.from_dataset(mnist, config)
        for name, options in (
            ("plain fit (the notebook's)", PLAIN_COMPILE),
            ("the app's options", COMPILE_OPTIONS[family]),
        ):
            first, steady = seconds_per_epoch(config, data, options, args.epochs)
            print(f"  {family:5} {name:28} {steady:6.2f} s/epoch  ({first:.2f})  {options}")
    cluster = TrainingCluster(max_workers=1)
    try:
        config = dataclasses.replace(SEED, epochs=args.epochs)
        started = time.perf_counter()
        run_training(TrainingRequest(new_run_id(), config, "mnist"), LocalReporter())
        here = time.perf_counter() - started
        for label in ("cold: the cluster and its worker start", "warm: a worker is already up"):
            started = time.perf_counter()
            job = TrainingJob(TrainingRequest(new_run_id(), config, "mnist"), cluster).start()
            job.wait()
            seconds = time.perf_counter() - started
            print(f"seed run of {args.epochs} epochs through the cluster, {label}: {seconds:.1f} s "
                  f"(in this process: {here:.1f} s)")  # fmt: skip
        cost = channel_cost(cluster)
        print(f"live progress channel: {cost * 1000:.2f} ms per publish + stop check, at most every "
              f"{PUBLISH_SECONDS} s: {cost / PUBLISH_SECONDS:.2%} of a worker's time")  # fmt: skip
    finally:
        cluster.close()


if __name__ == "__main__":
    main()
