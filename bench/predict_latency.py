"""Server-side latency of one drawn digit: canvas PNG -> RGBA -> MNIST-style 28x28 -> model -> probabilities.

Times what the Draw & predict page does after each stroke (decode the canvas image, preprocess, run the
model's traced forward pass), against Keras' `predict` for comparison. Prints the median and p95 in ms.
Run: python bench/predict_latency.py [--repeats 300]
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.config import SEED  # noqa: E402
from core.data import load_dataset  # noqa: E402
from core.model import build_model, predict_probabilities  # noqa: E402
from core.preprocess import canvas_to_mnist  # noqa: E402

STROKES = {  # a few digits as polylines on a 280x280 canvas
    "1": [(140, 40), (140, 240)],
    "7": [(70, 56), (210, 56), (126, 238)],
    "4": [(170, 230), (170, 40), (60, 170), (220, 170)],
}


def canvas_png(points) -> bytes:
    image = Image.new("RGBA", (280, 280), (0, 0, 0, 255))
    ImageDraw.Draw(image).line(points, fill=(255, 255, 255, 255), width=22, joint="curve")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def percentiles(milliseconds: list[float]) -> str:
    return f"median {np.median(milliseconds):6.2f} ms   p95 {np.percentile(milliseconds, 95):6.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args()
    config = dataclasses.replace(SEED, epochs=1)
    model = build_model(config, (784,))
    mnist = load_dataset("mnist")
    model.fit(mnist.x_train[:5000].reshape(-1, 784) / 255.0, mnist.y_train[:5000], epochs=1, verbose=0)
    pngs = [canvas_png(points) for points in STROKES.values()]

    def direct(png: bytes) -> np.ndarray:
        rgba = np.asarray(Image.open(io.BytesIO(png)))
        image = canvas_to_mnist(rgba)
        return predict_probabilities(model, image.reshape(1, 784))[0]

    def with_predict(png: bytes) -> np.ndarray:
        image = canvas_to_mnist(np.asarray(Image.open(io.BytesIO(png))))
        return model.predict(image.reshape(1, 784), verbose=0)[0]

    for name, step in (("page path: traced forward pass", direct), ("same with model.predict", with_predict)):
        step(pngs[0])  # warm up: the page's cached model is traced once when loaded
        timings = []
        for index in range(args.repeats):
            started = time.perf_counter()
            step(pngs[index % len(pngs)])
            timings.append((time.perf_counter() - started) * 1000)
        print(f"{name:32} {percentiles(timings)}   ({args.repeats} strokes)")
    preprocess = []
    for index in range(args.repeats):
        rgba = np.asarray(Image.open(io.BytesIO(pngs[index % len(pngs)])))
        started = time.perf_counter()
        canvas_to_mnist(rgba)
        preprocess.append((time.perf_counter() - started) * 1000)
    print(f"{'of which canvas_to_mnist':32} {percentiles(preprocess)}")


if __name__ == "__main__":
    main()
