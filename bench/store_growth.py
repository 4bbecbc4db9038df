"""What a term's store costs the pages: the same clicks with 10, 300 and 3,000 runs in the model folder.

A real seed run is trained once; the store is filled with copies of it (hard links: each copy has a run.json of
its own, 30 learners' names and owners, a month of dates, the model and snapshots shared on disk; a retention
policy that keeps them all). For each size,
the real app is started on it and a Chromium tab opens every page (navigation to the page settled: every chart
drawn, nothing changing for 0.6 s), then presses Train on the Training page (2 epochs on 10,000 images) and waits
for the first epoch's curve; the cluster is warm (one run trained before). Prints a table and one JSON line.
Target: every number at 3,000 runs within 1.2x of the same at 10.
Run: python bench/store_growth.py [--sizes 10 300 3000] [--repeats 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.config import SEED  # noqa: E402
from core.retention import Policy  # noqa: E402
from core.runs import LocalReporter, TrainingRequest  # noqa: E402
from core.state import RECORD_FILE  # noqa: E402
from core.store import MODEL_DIR_ENV, RunStore, new_run_id  # noqa: E402
from core.training import run_training  # noqa: E402
from harness.chromium import PAGES, chromium_browser, new_visitor, settle, train_button, wait_for_app  # noqa: E402
from harness.server import running_app  # noqa: E402

LEARNERS = 30


def fill(folder: Path, source: Path, count: int) -> None:
    """`count` copies of the run at `source`: records of their own, everything else hard-linked."""
    record = RunStore(source.parent).get(source.name)
    start = datetime.now(UTC) - timedelta(days=30)
    for index in range(count):
        created = start + timedelta(minutes=15 * index)
        run_id = created.strftime("%Y%m%d-%H%M%S-") + f"{index:06x}"
        target = folder / run_id
        for path in source.rglob("*"):
            if path.is_file() and path.name != RECORD_FILE:
                (target / path.relative_to(source)).parent.mkdir(parents=True, exist_ok=True)
                os.link(path, target / path.relative_to(source))
        learner = index % LEARNERS
        copy = dataclasses.replace(
            record,
            run_id=run_id,
            created=created.isoformat(timespec="seconds"),
            owner=f"{learner:016x}",
            name=f"Learner {learner}",
        )
        (target / RECORD_FILE).write_text(copy.to_json())
    Policy(keep_days=3650).keep(folder)  # the server's retention must not thin the store being measured


def timed_page(page, url: str) -> float:
    started = time.perf_counter()
    page.goto(url)
    settle(page)
    return time.perf_counter() - started


def timed_train(page, url: str) -> float:
    page.goto(f"{url}/training?epochs=2")
    wait_for_app(page)
    page.get_by_test_id("stMain").get_by_text("10,000", exact=True).first.click()
    wait_for_app(page)
    started = time.perf_counter()
    train_button(page).click()
    page.get_by_text(re.compile(r"^After epoch \d+:")).first.wait_for(timeout=300_000)  # the first curve drawn
    elapsed = time.perf_counter() - started
    page.get_by_text("Finished after 2 of 2 epochs").wait_for(timeout=300_000)
    return elapsed


def measure(store: Path, repeats: int) -> dict[str, float]:
    times: dict[str, list[float]] = {}
    with running_app(env={MODEL_DIR_ENV: str(store)}) as url, chromium_browser() as browser:
        page = new_visitor(browser).new_page()
        timed_train(page, url)  # the cluster starts, the caches fill: not counted
        for _ in range(repeats):
            for name, path in PAGES.items():
                times.setdefault(name, []).append(timed_page(page, f"{url}/{path}"))
            times.setdefault("Train click to epoch 1", []).append(timed_train(new_visitor(browser).new_page(), url))
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 300, 3000])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="digitlab-growth-") as work:
        seed_folder = Path(work) / "seed"
        run_id = new_run_id()
        run_training(TrainingRequest(run_id, SEED, "mnist", None, store_root=str(seed_folder)), LocalReporter())
        results = {}
        for size in args.sizes:
            store = Path(work) / f"store-{size}"
            fill(store, seed_folder / run_id, size)
            results[size] = measure(store, args.repeats)
            print(f"{size} runs: " + ", ".join(f"{k} {v:.2f} s" for k, v in results[size].items()), flush=True)
    first = results[args.sizes[0]]
    print(f"\n{'seconds':28}" + "".join(f"{size:>10,}" for size in args.sizes) + f"{'ratio':>8}")
    for name in first:
        cells = "".join(f"{results[size][name]:10.2f}" for size in args.sizes)
        print(f"{name:28}{cells}{results[args.sizes[-1]][name] / first[name]:8.2f}")
    print(json.dumps({"store_growth": {str(size): values for size, values in results.items()}}))


if __name__ == "__main__":
    main()
