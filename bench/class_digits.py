"""What training on the class's digits does, on the digits kept back from it: a simulated class labels hand-style
digits (bench/handstyle.py's held-out fonts and pens, a seed of their own), then each preset is trained twice as
the app trains it, on MNIST alone and on MNIST plus the class's digits (core.my_digits: one in five kept back, the
rest oversampled), and both read the kept-back digits through the page's default preprocessing.

Prints one row per preset: accuracy on the kept-back digits without and with the class's digits, MNIST test both
ways, and the two training times.
Run: python bench/class_digits.py [--labelled 500] [--presets "Seed notebook" "Robust CNN"]
"""

from __future__ import annotations

import argparse
import functools
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.handstyle import hand_style_set  # noqa: E402
from core.config import PRESETS  # noqa: E402
from core.my_digits import MyDigitsStore, read_digits, repeats_for, training_share  # noqa: E402
from core.preprocess import grayscale_to_mnist  # noqa: E402
from core.runs import LocalReporter, TrainingRequest  # noqa: E402
from core.store import RunStore, new_run_id  # noqa: E402
from core.training import run_training  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--labelled", type=int, default=500, help="digits the simulated class labels")
    parser.add_argument("--presets", nargs="+", default=["Seed notebook"], choices=list(PRESETS))
    args = parser.parse_args()
    read = functools.partial(grayscale_to_mnist, deslant=True, normalize_width=True)  # the page's defaults
    drawn = hand_style_set("held-out", args.labelled // 10, seed=7, preprocess=read)
    with tempfile.TemporaryDirectory(prefix="digitlab-class-") as root:
        store = MyDigitsStore(root, "mnist")
        for image, label in zip(drawn.images, drawn.labels, strict=True):
            store.add(image, int(label), "class")
        train, back = training_share(store.load())
        print(
            f"{len(drawn.labels)} labelled digits: {len(train)} trained on (each x {repeats_for(len(train))}), "
            f"{len(back)} kept back"
        )
        print(
            f"{'preset':20} {'kept back: MNIST only':>22} {'+ class':>8} {'MNIST test':>11} {'+ class':>8} "
            f"{'seconds':>8} {'+ class':>8}"
        )
        for name in args.presets:
            scores, tests, seconds = [], [], []
            for with_class in (False, True):
                run_id, started = new_run_id(), time.perf_counter()
                request = TrainingRequest(
                    run_id, PRESETS[name].config, "mnist", store_root=root, class_digits=with_class
                )
                progress = run_training(request, LocalReporter())
                seconds.append(time.perf_counter() - started)
                scores.append(read_digits(RunStore(root).load_model(run_id), back).accuracy)
                tests.append(progress.result.test_accuracy)
            print(
                f"{name:20} {scores[0]:22.1%} {scores[1]:8.1%} {tests[0]:11.2%} {tests[1]:8.2%} "
                f"{seconds[0]:8.0f} {seconds[1]:8.0f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
