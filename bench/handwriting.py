"""Your handwriting vs MNIST: each preset trained as the app trains it, then read on MNIST's test set and on a
held-out set of hand-style digits (bench/handstyle.py: handwriting fonts and scripted pen strokes, never trained
on), through the app's own preprocessing, with and without deslanting. Then, for the seed network, how accuracy
on the hand-style digits varies with their slant and stroke width.

Prints one table row per preset: epochs, seconds, MNIST test accuracy, hand-style accuracy, and hand-style
accuracy with deslanting. Takes about five minutes on 2 cores.
Run: python bench/handwriting.py [--per-digit 200] [--presets "Seed notebook" "Robust CNN"]
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.handstyle import fonts_found, hand_style_digits  # noqa: E402
from core.config import PRESETS  # noqa: E402
from core.data import load_dataset  # noqa: E402
from core.model import predict_probabilities, to_model_input  # noqa: E402
from core.preprocess import grayscale_to_mnist, slant_degrees  # noqa: E402
from core.training import train_model  # noqa: E402


def accuracy(model, images: np.ndarray, labels: np.ndarray) -> float:
    x = to_model_input(images, 1.0, tuple(model.inputs[0].shape[1:]))
    return float(np.mean(predict_probabilities(model, x).argmax(axis=1) == labels))


def stroke_width(image: np.ndarray) -> float:
    """Twice the mean distance from an ink pixel to the background: roughly the pen's width in pixels."""
    ink = image > 0.5
    return 2.0 * float(ndimage.distance_transform_edt(ink)[ink].mean()) if ink.any() else 0.0


def by_bucket(right: np.ndarray, values: np.ndarray, edges: list[float], unit: str) -> str:
    parts = []
    for low, high in zip(edges, edges[1:], strict=False):
        inside = (values >= low) & (values < high)
        if inside.any():
            parts.append(f"{low:g} to {high:g} {unit}: {right[inside].mean():.1%} of {inside.sum()}")
    return "; ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--per-digit", type=int, default=200, help="hand-style digits per class")
    parser.add_argument("--presets", nargs="+", default=list(PRESETS), choices=list(PRESETS))
    args = parser.parse_args()
    mnist = load_dataset("mnist")
    mnist_x, mnist_y = mnist.x_test / 255.0, mnist.y_test
    hand, labels = hand_style_digits(args.per_digit, seed=1)
    upright, _ = hand_style_digits(
        args.per_digit, seed=1, preprocess=functools.partial(grayscale_to_mnist, deslant=True)
    )
    print(f"hand-style set: {len(labels)} digits, {len(fonts_found())} handwriting fonts found, seed 1")
    print(f"{'preset':20} {'epochs':>6} {'seconds':>8} {'MNIST test':>11} {'hand-style':>11} {'deslanted':>10}")
    models = {}
    for name in args.presets:
        config = PRESETS[name].config
        started = time.perf_counter()
        models[name] = model = train_model(config, "mnist")
        seconds = time.perf_counter() - started
        scores = [accuracy(model, mnist_x, mnist_y), accuracy(model, hand, labels), accuracy(model, upright, labels)]
        print(f"{name:20} {config.epochs:6d} {seconds:8.0f} {scores[0]:11.2%} {scores[1]:11.2%} {scores[2]:10.2%}",
              flush=True)  # fmt: skip
    seed = models.get("Seed notebook")
    if seed is not None:
        x = to_model_input(hand, 1.0, (784,))
        right = predict_probabilities(seed, x).argmax(axis=1) == labels
        slants = np.array([slant_degrees(image) for image in hand])
        widths = np.array([stroke_width(image) for image in hand])
        print(
            "seed network on the hand-style digits, by slant:", by_bucket(right, slants, [-40, -10, 10, 25, 60], "deg")
        )
        print("  by stroke width on the 28x28 image:", by_bucket(right, widths, [0, 1.5, 2.5, 3.5, 9], "px"))


if __name__ == "__main__":
    main()
