"""Speed of the Inside the network views for one digit, on the seed network trained on real MNIST.

Prints integrated gradients (64 steps) alone, then the server work of every Inside view for one new digit:
what pages/inside.py computes and the figures it sends (built and serialised), with the per-run hidden map
and epoch snapshots already loaded, as they are after a page's first visit. Median and p95 over 30 digits.
Run: python bench/insight_speed.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core import charts, insight_charts  # noqa: E402
from core.config import SEED  # noqa: E402
from core.data import load_dataset  # noqa: E402
from core.insight import (  # noqa: E402
    EpochReplay,
    first_layer_responses,
    hidden_map,
    integrated_gradients,
    layer_outputs,
    unit_order,
    weight_images,
)
from core.model import predict_probabilities  # noqa: E402
from core.runs import LocalReporter, TrainingRequest  # noqa: E402
from core.store import RunStore, new_run_id  # noqa: E402
from core.training import run_training  # noqa: E402

DIGITS = 30


def every_view(model, replay: EpochReplay, projected, image: np.ndarray) -> None:
    """What the page does for one digit, figures serialised as Streamlit sends them."""
    probabilities = predict_probabilities(model, image.reshape(1, 784))[0]
    figures = [charts.image_heatmap(image), charts.probability_bars(probabilities)]
    images = weight_images(model)
    order = unit_order(images, first_layer_responses(model, image))[:32]
    figures.append(insight_charts.weight_grid(images[order], [f"#{unit}" for unit in order]))
    outputs = dict(layer_outputs(model, image))
    hidden = outputs[model.layers[0].name]
    top = np.argsort(-hidden)[:8]
    figures += [
        insight_charts.activation_strip(hidden),
        insight_charts.weight_grid(images[top], [str(u) for u in top], columns=4),
    ]
    ranked = np.argsort(-probabilities)
    for digit in ranked[:2]:
        figures.append(insight_charts.attribution_overlay(image, integrated_gradients(model, image, int(digit)), ""))
    star = projected.place(outputs[projected.layer])
    figures.append(insight_charts.hidden_map_scatter(projected.coordinates, projected.labels, star))
    figures.append(insight_charts.epoch_probabilities(replay.probabilities(image), replay.epochs))
    for figure in figures:
        figure.to_json()


def timings(step, images) -> str:
    seconds = []
    for image in images:
        started = time.perf_counter()
        step(image)
        seconds.append((time.perf_counter() - started) * 1000)
    return f"median {statistics.median(seconds):6.1f} ms, p95 {np.percentile(seconds, 95):6.1f} ms"


def main() -> None:
    mnist = load_dataset("mnist")
    images = [mnist.x_test[index] / 255.0 for index in range(DIGITS)]
    with tempfile.TemporaryDirectory() as folder:
        run_id = new_run_id()
        progress = run_training(TrainingRequest(run_id, SEED, "mnist", store_root=folder), LocalReporter())
        store = RunStore(folder)
        model = store.load_model(run_id)
        replay = EpochReplay(store.load_model(run_id), [store.epoch_snapshot(run_id, k) for k in range(1, 6)])
    projected = hidden_map(model, mnist.x_test, mnist.y_test)
    every_view(model, replay, projected, images[0])  # traces the gradient function once, as the page's first visit
    print(f"seed network, test accuracy {progress.result.test_accuracy:.2%}; {DIGITS} test digits")
    print(f"integrated gradients, 64 steps:   {timings(lambda image: integrated_gradients(model, image), images)}")
    views = timings(lambda image: every_view(model, replay, projected, image), images)
    print(f"every Inside view for one digit:  {views}")


if __name__ == "__main__":
    main()
