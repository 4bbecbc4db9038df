"""Fooling the network: how many correctly read test digits an attack flips, for each preset.

Each preset is trained as the app trains it (core.training.train_model), then the first 1,000 MNIST test digits
it reads correctly are attacked with FGSM and with PGD (10 steps) at epsilon 0.05, 0.1 and 0.2: no pixel moves by
more than epsilon (on 0..1; 0.1 is about 26 gray levels of 255). A digit counts as flipped when the model's answer
after the attack is no longer the right one. For comparison, random noise of the same size (every pixel moved by
+epsilon or -epsilon at random), and targeted PGD at 0.2 toward the next digit (label + 1).

Prints one table row per preset and a final JSON line. On 2 cores, all of MNIST: ~5 minutes, mostly training the
Robust CNN; `--limit 5000 --presets "Seed notebook"` takes ~15 s.
Run: python bench/adversarial.py [--limit N] [--digits 1000] [--presets "Seed notebook" "Robust CNN"]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.adversarial import fgsm, pgd, probabilities_of  # noqa: E402
from core.config import PRESETS  # noqa: E402
from core.data import load_dataset  # noqa: E402
from core.training import train_model  # noqa: E402

EPSILONS = (0.05, 0.1, 0.2)
TARGETED_EPSILON = 0.2
NOISE_SEED = 0


def answers(model, images: np.ndarray) -> np.ndarray:
    return probabilities_of(model, images).argmax(axis=1)


def flip_rates(model, images: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Share of the (correctly read) images whose answer is no longer the label, per attack and epsilon."""
    rates = {}
    noise = np.random.default_rng(NOISE_SEED).choice([-1.0, 1.0], size=images.shape).astype(np.float32)
    for epsilon in EPSILONS:
        for name, attack in (("FGSM", fgsm), ("PGD", pgd)):
            rates[f"{name} {epsilon:g}"] = float(np.mean(answers(model, attack(model, images, epsilon)) != labels))
        noisy = np.clip(images + epsilon * noise, 0.0, 1.0)
        rates[f"noise {epsilon:g}"] = float(np.mean(answers(model, noisy) != labels))
    targets = (labels + 1) % 10
    reached = answers(model, pgd(model, images, TARGETED_EPSILON, target=targets)) == targets
    rates[f"targeted PGD {TARGETED_EPSILON:g}"] = float(np.mean(reached))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=None, help="train on this many MNIST images (default: all)")
    parser.add_argument("--digits", type=int, default=1000, help="correctly read test digits to attack")
    parser.add_argument("--presets", nargs="+", default=list(PRESETS), choices=list(PRESETS))
    args = parser.parse_args()
    mnist = load_dataset("mnist")
    x_test, y_test = mnist.x_test.astype(np.float32) / mnist.pixel_max, mnist.y_test
    print(
        f"MNIST, trained on {args.limit or 'all'} images; the first {args.digits:,} test digits each model reads "
        "correctly are attacked. Cells: share flipped at epsilon 0.05 / 0.1 / 0.2."
    )
    header = f"{'preset':20} {'train s':>7} {'test acc':>8} {'FGSM':>22} {'PGD (10 steps)':>22} {'random noise':>20}"
    print(header + f" {'targeted PGD 0.2':>16} {'attack s':>8}")
    results = {}
    for name in args.presets:
        started = time.perf_counter()
        model = train_model(PRESETS[name].config, "mnist", limit=args.limit)
        trained = time.perf_counter() - started
        predicted = answers(model, x_test)
        right = np.flatnonzero(predicted == y_test)[: args.digits]
        started = time.perf_counter()
        rates = flip_rates(model, x_test[right], y_test[right])
        attacked = time.perf_counter() - started
        accuracy = float(np.mean(predicted == y_test))
        results[name] = {
            "train_seconds": round(trained, 1),
            "test_accuracy": round(accuracy, 4),
            "digits": len(right),
            "attack_seconds": round(attacked, 1),
            **{key: round(value, 3) for key, value in rates.items()},
        }
        cells = [" / ".join(f"{rates[f'{kind} {e:g}']:.1%}" for e in EPSILONS) for kind in ("FGSM", "PGD", "noise")]
        print(
            f"{name:20} {trained:7.0f} {accuracy:8.2%} {cells[0]:>22} {cells[1]:>22} {cells[2]:>20} "
            f"{rates['targeted PGD 0.2']:16.1%} {attacked:8.1f}",
            flush=True,
        )
    print(json.dumps({"limit": args.limit, "epsilons": EPSILONS, "presets": results}))


if __name__ == "__main__":
    main()
