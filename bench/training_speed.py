"""Seconds per epoch on real MNIST: the notebook's plain `model.fit` vs Digit Lab's training job.

Prints, side by side: plain fit, fast fit (XLA + steps_per_execution) without live updates, the job (fast
fit + its progress callback), and the job watched as the page does (progress read and curves drawn every
second). Live updates cost = watched job / fast fit - 1.
Run: python bench/training_speed.py [--epochs 3] [--repeats 2]
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

from core.charts import LiveCurves  # noqa: E402
from core.data import load_dataset  # noqa: E402
from core.model import SEED, build_model  # noqa: E402
from core.training import FAST_COMPILE, PLAIN_COMPILE, TrainingData, TrainingJob  # noqa: E402

REFRESH_SECONDS = 1.0  # the Training page's live view redraws this often


class EpochTimer(keras.callbacks.Callback):
    """Epoch-level hooks only, so Keras skips per-batch callback work."""

    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.start)


def fit_seconds(data: TrainingData, options: dict, epochs: int) -> list[float]:
    model = build_model(SEED, data.x_train.shape[1:], compile_options=options)
    timer = EpochTimer()
    model.fit(data.x_train, data.y_train, epochs=epochs, batch_size=SEED.batch_size, callbacks=[timer], verbose=0)
    return timer.seconds


def job_seconds(data: TrainingData, options: dict, epochs: int, watched: bool) -> tuple[list[float], float | None]:
    """The job's own fit; `watched` adds what the page does: read the progress and draw the curves every second."""
    timer = EpochTimer()
    job = TrainingJob(dataclasses.replace(SEED, epochs=epochs), data, compile_options=options, callbacks=[timer])
    job.start()
    curves = LiveCurves()
    while not job.wait(REFRESH_SECONDS if watched else None):
        progress = job.progress()  # what the page's live view does each second
        curves.figure(progress.run_id, progress.history, progress.epochs).to_json()
    return timer.seconds, job.progress().test_accuracy


def steady(seconds: list[float]) -> float:
    """Median epoch time, leaving out the first epoch (graph tracing and XLA compilation)."""
    return statistics.median(seconds[1:] if len(seconds) > 1 else seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    data = TrainingData.from_dataset(load_dataset("mnist"), SEED)
    names = ("plain fit (notebook)", "fast fit, no live updates", "job: fast fit + live", "job, watched at 1 Hz")
    results: dict[str, list[float]] = {name: [] for name in names}
    firsts: dict[str, list[float]] = {name: [] for name in results}
    for _ in range(args.repeats):  # interleaved, so machine noise hits every variant alike
        for name, seconds in (
            ("plain fit (notebook)", fit_seconds(data, PLAIN_COMPILE, args.epochs)),
            ("fast fit, no live updates", fit_seconds(data, FAST_COMPILE, args.epochs)),
            ("job: fast fit + live", job_seconds(data, FAST_COMPILE, args.epochs, watched=False)[0]),
            ("job, watched at 1 Hz", job_seconds(data, FAST_COMPILE, args.epochs, watched=True)[0]),
        ):
            results[name].append(steady(seconds))
            firsts[name].append(seconds[0])
    plain = statistics.median(results["plain fit (notebook)"])
    fast = statistics.median(results["fast fit, no live updates"])
    print(f"real MNIST, 60,000 images, batch {SEED.batch_size}, {args.epochs} epochs x {args.repeats} repeats")
    print(f"{'variant':30} {'s/epoch':>8} {'1st epoch':>10} {'vs plain':>9}")
    for name, values in results.items():
        value = statistics.median(values)
        print(f"{name:30} {value:8.2f} {statistics.median(firsts[name]):10.2f} {plain / value:8.2f}x")
    watched = statistics.median(results["job, watched at 1 Hz"])
    print(f"live-update overhead (watched job / fast fit without updates - 1): {watched / fast - 1:+.1%}")


if __name__ == "__main__":
    main()
