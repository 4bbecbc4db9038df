"""What a web server crash costs a class: the real app on the embedded training cluster, kill -9 of the server in
the middle of a run, and the same command started again.

Prints, per repeat: seconds from the restart command to the server answering, and to the run showing live again
in Chromium (its link opened at once); the epochs the run lost (goal: 0); then, with no run left, how long the
orphaned embedded cluster lives after its last server was killed (it closes itself after IDLE_CLUSTER_SECONDS
with nothing to do) and whether anything of it is left; with --step-mode, a learner started step mode on that
last server and clicked Step before it was killed, so the step network's own idle limit (STEPPER_IDLE_SECONDS)
comes first.
Run: python bench/restart.py [--repeats 3] [--epochs 30] [--no-orphan] [--step-mode]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.cluster_client import IDLE_CLUSTER_SECONDS, TrainingCluster  # noqa: E402
from core.stepper import STEPPER_IDLE_SECONDS  # noqa: E402
from core.store import MODEL_DIR_ENV, RunStore  # noqa: E402
from harness.chromium import chromium_browser, new_visitor, start_a_run, step_once, wait_for_app
from harness.server import AppServer, shut_down_embedded_cluster
from harness.waiting import wait_until


def crash_and_restart(browser, folder: str, epochs: int) -> dict:
    """One run killed under its server at epoch 2 and the server started again; what it cost."""
    server = AppServer({MODEL_DIR_ENV: folder}).start()
    page = new_visitor(browser).new_page()
    store = RunStore(folder)
    try:
        run_id = start_a_run(page, server.url, epochs)
        wait_until(lambda: (progress := store.progress(run_id)) and progress.epoch >= 2, 300, "epoch 2")
        server.kill()
        started = time.perf_counter()
        server.start()
        answering = time.perf_counter() - started
        page.goto(f"{server.url}/training?run={run_id}")
        wait_for_app(page)
        page.get_by_text("samples/s").wait_for(timeout=120_000)
        live = time.perf_counter() - started
        wait_until(lambda: store.progress(run_id).ended, 600, "the run's end")
        progress = store.progress(run_id)
        return {
            "answering_s": answering,
            "live_s": live,
            "state": progress.state.value,
            "epochs_lost": epochs - store.epochs_saved(run_id),
        }
    finally:
        page.close()
        server.stop()


def orphan_lifetime(browser, folder: str, step_mode: bool) -> tuple[float, bool]:
    """Seconds the embedded cluster lives after its last server is killed with no run active (a step-mode network
    left on it, with `step_mode`); whether any of its processes is left after that."""
    server = AppServer({MODEL_DIR_ENV: folder}).start()
    cluster = TrainingCluster(state_dir=folder)
    cluster.client()  # the server's cluster (started by the runs before, or now)
    pid = cluster.embedded_pid()
    cluster.close()
    if step_mode:
        page = new_visitor(browser).new_page()
        step_once(page, server.url)
        page.close()
    server.kill()
    started = time.perf_counter()
    limit = IDLE_CLUSTER_SECONDS + (STEPPER_IDLE_SECONDS if step_mode else 0)
    wait_until(lambda: not Path(f"/proc/{pid}").exists(), limit * 2, "the orphaned cluster's exit", every=0.05)
    lifetime = time.perf_counter() - started

    def left() -> list[Path]:
        return [path for path in Path("/proc").glob("[0-9]*/cmdline") if folder.encode() in _read(path)]

    with contextlib.suppress(AssertionError):
        wait_until(lambda: not left(), 30, "its workers and forkserver to follow it")
    return lifetime, bool(left())


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=30, help="of the seed network on 10,000 images")
    parser.add_argument("--no-orphan", action="store_true", help="skip the orphaned cluster's lifetime (minutes)")
    parser.add_argument("--step-mode", action="store_true", help="leave a step-mode network on the orphaned cluster")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="digitlab-restart-") as folder, chromium_browser() as browser:
        try:
            results = [crash_and_restart(browser, folder, args.epochs) for _ in range(args.repeats)]
            for index, result in enumerate(results, start=1):
                print(
                    f"restart {index}: server answering after {result['answering_s']:.1f} s, the run live again "
                    f"in Chromium after {result['live_s']:.1f} s; it {result['state']} with "
                    f"{result['epochs_lost']} epochs lost"
                )
            print(
                f"median: answering {statistics.median(r['answering_s'] for r in results):.1f} s, live "
                f"{statistics.median(r['live_s'] for r in results):.1f} s; epochs lost in all: "
                f"{sum(r['epochs_lost'] for r in results)}"
            )
            if not args.no_orphan:
                lifetime, left = orphan_lifetime(browser, folder, args.step_mode)
                waits = f"{IDLE_CLUSTER_SECONDS} s with nothing to do"
                if args.step_mode:
                    waits = f"{STEPPER_IDLE_SECONDS} s for a click on its step-mode network, then {waits}"
                print(
                    f"orphaned embedded cluster: exited {lifetime:.0f} s after its last server was killed "
                    f"(it waits {waits}); processes left: {'some' if left else 'none'}"
                )
        finally:
            shut_down_embedded_cluster({MODEL_DIR_ENV: folder})


if __name__ == "__main__":
    main()
