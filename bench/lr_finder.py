"""The learning-rate finder on real MNIST: how long it takes, what it suggests, and whether the suggestion trains.

For each network below, runs `core.lr_finder.find_learning_rate` in this process (as a worker does), then trains
the network for one epoch on all 60,000 images at the finder's suggestion and at the rate the panel gave it (the
notebook's 0.001 for the seed), and reads MNIST's test set: the suggestion must train at least as well. The SGD
row is the case the finder is for: the panel's rate suits RMSprop, not plain momentum SGD.
Run: python bench/lr_finder.py [--networks seed sgd]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.config import PRESETS, SEED  # noqa: E402
from core.lr_finder import find_learning_rate  # noqa: E402
from core.model import loss_and_accuracy, predict_probabilities  # noqa: E402
from core.training import TrainingData, cached_dataset, train_model  # noqa: E402

NETWORKS = {
    "seed": SEED,
    "adam": dataclasses.replace(SEED, optimizer="adam"),
    "sgd": dataclasses.replace(SEED, optimizer="sgd"),
    "cnn": PRESETS["Small CNN"].config,
}


def one_epoch_accuracy(config, learning_rate: float) -> float:
    """MNIST test accuracy after one epoch on all training images at this rate."""
    trained = dataclasses.replace(config, learning_rate=learning_rate, epochs=1)
    model = train_model(trained, "mnist")
    data = TrainingData.from_dataset(cached_dataset("mnist"), trained)
    return loss_and_accuracy(predict_probabilities(model, data.x_test), data.y_test)[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", nargs="+", choices=list(NETWORKS), default=list(NETWORKS))
    args = parser.parse_args()
    rows = []
    print(
        f"{'network':8} {'finder s':>8} {'batches':>7} {'lowest at':>9} {'suggests':>8} "
        f"{'1 epoch at it':>13} {'panel rate':>10} {'1 epoch at panel':>16}"
    )
    for name in args.networks:
        config = NETWORKS[name]
        find_learning_rate(config, "mnist", batches=20)  # warm: TensorFlow's first graph is not the finder's cost
        curve = find_learning_rate(config, "mnist")
        at_suggestion = one_epoch_accuracy(config, curve.suggestion)
        at_panel = one_epoch_accuracy(config, config.learning_rate)
        rows.append(
            {
                "network": name,
                "finder_s": curve.seconds,
                "batches": len(curve.learning_rates),
                "lowest_at": curve.lowest_rate,
                "suggestion": curve.suggestion,
                "accuracy_at_suggestion": round(at_suggestion, 4),
                "panel_rate": config.learning_rate,
                "accuracy_at_panel_rate": round(at_panel, 4),
            }
        )
        print(
            f"{name:8} {curve.seconds:8.1f} {len(curve.learning_rates):7} {curve.lowest_rate:9.2g} "
            f"{curve.suggestion:8g} {at_suggestion:13.2%} {config.learning_rate:10g} {at_panel:16.2%}",
            flush=True,
        )
    print(json.dumps({"rule": "lowest smoothed loss / 10, snapped to the slider", "networks": rows}))


if __name__ == "__main__":
    main()
