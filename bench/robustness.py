"""How robust is each preset: MNIST's test set, MNIST-C's fifteen corruptions, and attacks.

Each preset is trained as the app trains it (core.training.train_model), then read:
- clean, on both halves of MNIST's test set: digits 5,000-9,999 chose the "Hard to fool" preset's settings
  (epsilon and epochs), digits 0-4,999 never did; both are reported;
- under each corruption of the first 2,000 test digits, as the app's robustness report reads them
  (core.robustness.measure), and their mean;
- attacked: the share of the first 1,000 correctly read digits of each half that FGSM and PGD (10 steps) flip at
  epsilon 0.1 and 0.2 (a flip: the answer is no longer right).

Prints the README's two tables (Markdown) and a final JSON line. All presets on all of MNIST, 2 cores: ~10 minutes.
Run: python bench/robustness.py [--limit N] [--presets "Seed notebook" "Hard to fool"]
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
from core.corruptions import CORRUPTIONS  # noqa: E402
from core.data import load_dataset  # noqa: E402
from core.robustness import measure  # noqa: E402
from core.training import train_model  # noqa: E402

HALVES = {"held out": slice(0, 5_000), "tuning": slice(5_000, 10_000)}
ATTACKS = {"FGSM 0.1": (fgsm, 0.1), "PGD 0.1": (pgd, 0.1), "PGD 0.2": (pgd, 0.2)}
ATTACKED_DIGITS = 1_000


def answers(model, images: np.ndarray) -> np.ndarray:
    return probabilities_of(model, images).argmax(axis=1)


def read_preset(name: str, limit: int | None, x_test: np.ndarray, y_test: np.ndarray) -> dict:
    started = time.perf_counter()
    model = train_model(PRESETS[name].config, "mnist", limit=limit)
    result = {"train_seconds": round(time.perf_counter() - started, 1)}
    predicted = answers(model, x_test)
    for half, part in HALVES.items():
        right = predicted[part] == y_test[part]
        result[f"clean {half}"] = float(right.mean())
        images, labels = x_test[part][right][:ATTACKED_DIGITS], y_test[part][right][:ATTACKED_DIGITS]
        for attack, (function, epsilon) in ATTACKS.items():
            result[f"{attack} {half}"] = float(np.mean(answers(model, function(model, images, epsilon)) != labels))
    report = measure(model)
    result.update(corruptions=report.corruptions, corruptions_mean=report.mean, clean_2000=report.clean)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=None, help="train on this many MNIST images (default: all)")
    parser.add_argument("--presets", nargs="+", default=list(PRESETS), choices=list(PRESETS))
    args = parser.parse_args()
    mnist = load_dataset("mnist")
    x_test, y_test = mnist.x_test.astype(np.float32) / mnist.pixel_max, mnist.y_test
    results = {}
    print(
        "| preset | train s | test accuracy (held out / tuning) | corruptions, mean | worst corruption | "
        "FGSM 0.1 flips | PGD 0.1 flips | PGD 0.2 flips |"
    )
    print("| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: |")
    for name in args.presets:
        r = results[name] = read_preset(name, args.limit, x_test, y_test)
        worst = min(r["corruptions"], key=r["corruptions"].get)
        flips = [f"{r[f'{attack} held out']:.1%} / {r[f'{attack} tuning']:.1%}" for attack in ATTACKS]
        print(
            f"| {name} | {r['train_seconds']:.0f} | {r['clean held out']:.2%} / {r['clean tuning']:.2%} | "
            f"{r['corruptions_mean']:.1%} | {CORRUPTIONS[worst].title} {r['corruptions'][worst]:.1%} | "
            + " | ".join(flips)
            + " |",
            flush=True,
        )
    print()
    print("| corruption | " + " | ".join(results) + " |")
    print("| --- |" + " ---: |" * len(results))
    print("| clean (the same 2,000) | " + " | ".join(f"{r['clean_2000']:.1%}" for r in results.values()) + " |")
    for corruption in CORRUPTIONS.values():
        cells = " | ".join(f"{r['corruptions'][corruption.name]:.1%}" for r in results.values())
        print(f"| {corruption.title} (severity {corruption.paper_severity}) | {cells} |")
    print(json.dumps({"limit": args.limit, "presets": results}))


if __name__ == "__main__":
    main()
