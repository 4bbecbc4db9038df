"""Your handwriting vs MNIST: each preset trained as the app trains it, then read on MNIST's test set and on the two
hand-style sets of bench/handstyle.py (tuning and held-out: fonts and pens never trained on, and never shared
between the two), through the app's own preprocessing (deslanted, as the page does by default), with and without
stroke-width normalization.

Prints one row per preset: epochs, seconds, MNIST test (as is, and with stroke-width normalization applied to the
test digits whose width lies outside MNIST's usual range), then each split without / with normalization. Then, per
preset, accuracy by stroke weight (the drawn width on the 28x28 image) on each requested split.
Tune on `--splits tuning` only; `--variant` trains a preset with changed fields, for tuning.
Run: python bench/handwriting.py [--per-digit 100] [--presets "Seed notebook" "Robust CNN"] [--splits tuning]
     [--variant "Robust CNN:elastic=34,stroke=0.5"]
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.handstyle import SPLITS, WEIGHT_BUCKETS, fonts_found, hand_style_set  # noqa: E402
from core.config import PRESETS, ModelConfig, check_config  # noqa: E402
from core.data import load_dataset  # noqa: E402
from core.model import predict_probabilities, to_model_input  # noqa: E402
from core.preprocess import MNIST_FORMAT, _ink, _ink_box, grayscale_to_mnist, stroke_width  # noqa: E402
from core.training import train_model  # noqa: E402


def predictions(model, images: np.ndarray) -> np.ndarray:
    x = to_model_input(images, 1.0, tuple(model.inputs[0].shape[1:]))
    return predict_probabilities(model, x).argmax(axis=1)


def normalized_mnist(images: np.ndarray) -> tuple[np.ndarray, int]:
    """MNIST's test digits with stroke-width normalization: the digits whose width is outside MNIST's usual range
    go through the preprocessing with it; the others are left as they are (the toggle changes nothing for them)."""
    low, high = MNIST_FORMAT.stroke_range
    out, changed = images.copy(), 0
    for index, image in enumerate(images):
        width = stroke_width(_ink(image[_ink_box(image)]))
        if not low <= width <= high:
            out[index] = grayscale_to_mnist(image, normalize_width=True)
            changed += 1
    return out, changed


def variant(text: str) -> tuple[str, ModelConfig]:
    """ "Preset:field=value,field=value" -> (a label, that preset's config with the fields changed)."""
    preset, _, changes = text.partition(":")
    config = PRESETS[preset].config
    for change in filter(None, changes.split(",")):
        name, _, value = change.partition("=")
        config = dataclasses.replace(config, **{name: type(getattr(config, name))(value)})
    check_config(config)
    return f"{preset} ({changes})", config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--per-digit", type=int, default=100, help="hand-style digits per class and split")
    parser.add_argument("--presets", nargs="*", default=list(PRESETS), choices=list(PRESETS))
    parser.add_argument("--variant", action="append", default=[], help='e.g. "Robust CNN:elastic=34"')
    parser.add_argument("--splits", nargs="+", default=list(SPLITS), choices=list(SPLITS))
    args = parser.parse_args()
    mnist = load_dataset("mnist")
    mnist_x, mnist_y = mnist.x_test / 255.0, mnist.y_test
    mnist_normalized, changed = normalized_mnist(mnist_x)
    sets = {}
    for split in args.splits:
        for normalize in (False, True):
            read = functools.partial(grayscale_to_mnist, deslant=True, normalize_width=normalize)
            sets[split, normalize] = hand_style_set(split, args.per_digit, seed=1, preprocess=read)
        print(f"{split} set: {len(sets[split, False].labels)} digits, {len(fonts_found(split=split))} fonts")
    print(f"MNIST test digits outside the usual stroke width {MNIST_FORMAT.stroke_range}: {changed}")
    columns = [f"{split}{' +norm' if normalize else ''}" for split, normalize in sets]
    print(
        f"{'model':44} {'epochs':>6} {'seconds':>7} {'MNIST':>7} {'+norm':>7} " + " ".join(f"{c:>14}" for c in columns)
    )
    configs = [(name, PRESETS[name].config) for name in args.presets] + [variant(text) for text in args.variant]
    details = []
    for label, config in configs:
        started = time.perf_counter()
        model = train_model(config, "mnist")
        seconds = time.perf_counter() - started
        scores = [
            np.mean(predictions(model, mnist_x) == mnist_y),
            np.mean(predictions(model, mnist_normalized) == mnist_y),
        ]
        for made in sets.values():
            scores.append(np.mean(predictions(model, made.images) == made.labels))
        print(
            f"{label[:44]:44} {config.epochs:6d} {seconds:7.0f} "
            + " ".join(f"{s:7.2%}" for s in scores[:2])
            + " "
            + " ".join(f"{s:14.2%}" for s in scores[2:]),
            flush=True,
        )
        for (split, normalize), made in sets.items():
            predicted = predictions(model, made.images)
            right = predicted == made.labels
            parts = [
                f"{name.split()[0]} {right[made.bucket(name)].mean():.1%} of {made.bucket(name).sum()}"
                for name in WEIGHT_BUCKETS
                if made.bucket(name).any()
            ]
            fonts = sorted({(right[made.sources == s].mean(), s) for s in set(made.sources)})[:3]
            weakest = ", ".join(f"{source} {share:.0%}" for share, source in fonts)
            pairs, counts = np.unique(
                [f"{made.labels[i]}->{predicted[i]}" for i in np.flatnonzero(~right)], return_counts=True
            )
            top = ", ".join(f"{pairs[i]} {counts[i]}" for i in np.argsort(-counts)[:4])
            name = f"{split}{' +norm' if normalize else ''}"
            details.append(f"  {label} on {name}: by weight: {'; '.join(parts)}; weakest: {weakest}; top: {top}")
    print("\n".join(details))


if __name__ == "__main__":
    main()
