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

from core.charts import training_curves  # noqa: E402
from core.data import load_dataset  # noqa: E402
from core.model import SEED, build_model  # noqa: E402
from core.training import FAST_COMPILE, PLAIN_COMPILE, ProgressCallback, TrainingData, TrainingJob  # noqa: E402

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
    started, redrawing = time.perf_counter(), 0.0
    while not job.wait(REFRESH_SECONDS if watched else None):
        redraw_start = time.perf_counter()
        progress = job.progress()  # what the page's live view does each second
        training_curves({progress.run_id: progress.history}, progress.epochs).to_json()
        redrawing += time.perf_counter() - redraw_start
    REDRAW_SHARES.append(redrawing / (time.perf_counter() - started))
    return timer.seconds, job.progress().test_accuracy


REDRAW_SHARES: list[float] = []  # share of wall time the watcher spends redrawing (Python holding the GIL)


def callback_seconds_per_call(data: TrainingData, calls: int = 20_000) -> float:
    """What the progress callback costs each time Keras calls it (every 32 steps), measured alone."""

    class NoModel:
        stop_training = False

    job = TrainingJob(SEED, data)
    job._update(batches_per_epoch=469)
    callback = ProgressCallback(job)
    callback.set_model(NoModel())
    started = time.perf_counter()
    for call in range(calls):
        callback.on_train_batch_end(call % 469, {"loss": 0.3, "accuracy": 0.9})
    return (time.perf_counter() - started) / calls


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
    print(f"wall clock, watched job / fast fit without updates - 1: {watched / fast - 1:+.1%} "
          "(this machine varies by +-30% from run to run: read the direct costs below)")  # fmt: skip
    per_call = callback_seconds_per_call(data)
    calls_per_epoch = 469 / FAST_COMPILE["steps_per_execution"]
    callback_share = per_call * calls_per_epoch / fast
    print(f"direct cost, progress callback: {per_call * 1e6:.1f} us x {calls_per_epoch:.0f} calls per epoch "
          f"= {callback_share:.3%} of an epoch")  # fmt: skip
    redraw_share = statistics.median(REDRAW_SHARES)
    print(f"direct cost, live view redraw each second: {redraw_share:.2%} of wall time")
    print(f"live-update overhead, direct: {callback_share + redraw_share:.2%} (target: under 3%)")


if __name__ == "__main__":
    main()
