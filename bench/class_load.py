"""A class on one server: simulated learners that speak Streamlit's own protocol to the real app.

Each learner is what a browser is to the server, and nothing more: it loads the page, reads the XSRF cookie from
`/_stcore/host-config`, opens the websocket at `/_stcore/stream` with that token in `Sec-WebSocket-Protocol`, and
exchanges `BackMsg` / `ForwardMsg` protobufs (`streamlit.proto`). It keeps the widget states the browser's
WidgetStateManager keeps (each widget's default from its element, one-shot button triggers, states dropped when a
page changes or a run no longer draws them), the browser's message cache (`cached_message_hashes`, `ref_hash`),
auto-reruns of `st.fragment(run_every=...)`, and the URL's query string. A stroke is the canvas component's real
widget value, as streamlit-drawable-canvas 0.13's frontend sends it 200 ms after mouse-up: a JSON state
`{"drawing": {"raw": <fabric.js canvas JSON, one Path per stroke>, "data": "data:image/png;base64,<280x280 RGBA
PNG, black background>"}}` in a rerun of the canvas's fragment (see tests/test_class_load.py, which checks that
every stroke's reply carries the Prediction the model gives for that PNG).

The class is harness/simulated_class.py's: learners drawing, visiting pages, the first K keeping full-MNIST
runs training.

Printed per kind of message (stroke, clear, page, auto-rerun): the time from the message sent to the
`script_finished` of the first run that began after it (p50, p95, p99, max); errors (an exception element in any
ForwardMsg, a failed run or connection) and timeouts; the web server's CPU seconds and peak RSS over the window;
the training cluster's PSS (the embedded cluster is a process of its own, found through `.cluster.json` in the
model folder); this load generator's own CPU seconds (it shares the machine's cores with the server); the load
averages. Ends with one JSON line. `--sweep` runs 10, 20, 30, 50, 80 learners (`--learners 30 60 100`: those) in turn
on the same server and prints a row for each and where p95 crosses 250 ms and 1 s.

The app runs on a fresh model folder holding the seed notebook's network, trained here first (full MNIST,
5 epochs), on a free loopback port; the server and its cluster are ended on exit. Before the class, the teacher
opens every page once, as before a lesson (their times are printed: a server's first visits load libraries and
data); `--cold` lets the class meet a server nobody has visited. `--url` uses a server that is
already running: its CPU and memory are measured when it is a local process (behind a proxy, name each replica's
own URL with `--replica`). `--nginx` starts two replicas on one model folder behind docs/deploy.md's nginx
configuration, run as written, and each learner comes from a loopback address of its own (`--spread`), as a
classroom's machines do: nginx keeps each address on one replica; the split is printed.
To see where the server's time goes: `pip install py-spy` (not a test requirement) and `--profile profile.svg`
(a flame graph) or `--profile profile.txt` (collapsed stacks, one line each) samples the web server with py-spy
during the window; or `py-spy top --pid <server pid>` while this runs (the pid is printed).
Run: python bench/class_load.py [--learners 30 ...] [--trainings 2] [--seconds 60] [--url URL [--replica URL ...]]
                                [--spread] [--nginx] [--sweep] [--profile FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.store import MODEL_DIR_ENV  # noqa: E402
from harness.drawing import make_pool  # noqa: E402
from harness.processes import percentile  # noqa: E402
from harness.protocol import TIMEOUT_SECONDS  # noqa: E402
from harness.proxy import nginx_binary, running_nginx  # noqa: E402
from harness.server import AppServer, shut_down_embedded_cluster  # noqa: E402
from harness.simulated_class import Result, prepare_store, run_class, teacher_walk  # noqa: E402

SWEEP = (10, 20, 30, 50, 80)
TARGET_MS = (250, 1000)  # the knee: where p95 crosses these


def report(result: Result, model_dir: str | None) -> None:
    def load(averages):
        return " ".join(f"{value:.2f}" for value in averages)

    print(
        f"\n{result.learners} learners, {result.trainings} trainings, {result.seconds:.0f} s "
        f"(load averages before {load(result.load_before)}, after {load(result.load_after)})"
    )
    kinds = {
        "stroke": "stroke -> script_finished",
        "clear": "canvas cleared",
        "page": "page opened",
        "auto": "auto-rerun (live curves)",
        "widget": "widget / button",
    }
    for kind, label in kinds.items():
        if times := result.times(kind):
            p50, p95, p99 = (percentile(times, share) for share in (50, 95, 99))
            print(
                f"  {label:28} n={len(times):5}  p50 {p50:7.0f} ms  p95 {p95:7.0f} ms  p99 {p99:7.0f} ms  "
                f"max {times[-1]:7.0f} ms"
            )
    opened = collections.defaultdict(list)
    for reply in result.replies:
        if reply.kind == "page" and reply.seconds is not None:
            opened[reply.page or "home"].append(reply.seconds * 1000)
    for page, times in sorted(opened.items()):
        times.sort()
        p50, p95 = percentile(times, 50), percentile(times, 95)
        print(f"    {page:26} n={len(times):5}  p50 {p50:7.0f} ms  p95 {p95:7.0f} ms")
    strokes = [r for r in result.replies if r.kind == "stroke" and r.seconds is not None]
    if own := sorted(r.page_ms for r in strokes if r.page_ms is not None):
        print(
            f"  {'of which the page itself':28} n={len(own):5}  p50 {percentile(own, 50):7.1f} ms  p95 "
            f"{percentile(own, 95):7.1f} ms  (its caption: the fragment's own run, queueing excluded)"
        )
    shown = sum(r.prediction is not None for r in strokes)
    print(
        f"  strokes answered with a Prediction: {shown} of {len(strokes)}; timeouts (> {TIMEOUT_SECONDS:.0f} s): "
        f"{result.timeouts()}; errors: {len(result.errors)}"
    )
    for error in sorted(set(result.errors))[:10]:
        print(f"    error x{result.errors.count(error)}: {error}")
    unanswered = collections.Counter(r.kind for r in result.replies if r.seconds is None)
    for kind, count in unanswered.most_common():
        print(f"    timeout x{count}: {kind}")
    if result.server_cpu_s is not None:
        print(
            f"  web server: {result.server_cpu_s:.1f} CPU s ({result.server_cpu_s / result.seconds:.2f} cores; "
            f"{result.cpu_ms_per_stroke()} ms a stroke, all its work counted), peak RSS {result.server_rss_mb:.0f} MB"
        )
    if result.cluster_pss_mb is not None:
        print(f"  training cluster and workers: PSS {result.cluster_pss_mb:.0f} MB")
    print(f"  this load generator: {result.client_cpu_s:.1f} CPU s ({result.client_cpu_s / result.seconds:.2f} cores)")
    if model_dir and result.run_ids:
        from core.store import RunStore

        store = RunStore(model_dir)
        done = [(run_id, store.progress(run_id)) for run_id in result.run_ids]
        print(
            "  trainings: "
            + ", ".join(f"{run_id} {p.state.value} at epoch {p.epoch}" if p else f"{run_id} ?" for run_id, p in done)
            + f"; {epochs_a_minute(result, model_dir):.2f} epochs a minute each (all of MNIST)"
        )


def epochs_a_minute(result: Result, model_dir: str | None) -> float | None:
    """The epochs the class's trainings finished per minute of the window, per training (None without a folder)."""
    if not model_dir or not result.trainings:
        return None
    from core.store import RunStore

    store = RunStore(model_dir)
    epochs = sum(progress.epoch for run_id in result.run_ids if (progress := store.progress(run_id)))
    return epochs / (result.seconds / 60) / result.trainings


def knee(results: list[Result], model_dir: str | None) -> None:
    print(
        "\nlearners | strokes | errors | p50 ms | p95 ms | p99 ms | page p95 ms | server CPU (cores) | CPU ms a stroke "
        "| peak RSS MB | epochs a minute a training | load avg"
    )
    for result in results:
        s = result.summary()
        cores = f"{result.server_cpu_s / result.seconds:.2f}" if result.server_cpu_s is not None else "-"
        pages = result.times("page")
        page_p95 = f"{percentile(pages, 95):.0f}" if pages else "-"
        pace = epochs_a_minute(result, model_dir)
        print(
            f"{s['learners']:8} | {s['strokes']:7} | {s['errors']:6} | {s['p50_ms']} | {s['p95_ms']} | "
            f"{s['p99_ms']} | {page_p95} | {cores} | "
            f"{s['server_cpu_ms_per_stroke']} | {s['server_rss_mb']} | {'-' if pace is None else f'{pace:.2f}'} | "
            f"{result.load_after[0]:.2f}"
        )
    for target in TARGET_MS:
        over = next((r.learners for r in results if (r.summary()["p95_ms"] or 0) > target), None)
        print(f"p95 crosses {target} ms at: {over if over else 'not within the sweep'} learners")


def local_server(url: str) -> tuple[int | None, str | None]:
    """The pid and model folder of the Streamlit server at `url`, when it runs on this machine."""
    port = str(urlsplit(url).port or 80)
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "streamlit" in " ".join(cmdline) and "--server.port" in cmdline and port in cmdline:
            with contextlib.suppress(psutil.Error):
                environment = process.environ()
                folder = environment.get(MODEL_DIR_ENV) or str(Path(process.cwd()) / "models")
                return process.pid, folder
            return process.pid, None
    return None, None


def replica_split(access_log: Path) -> dict[str, int]:
    """How many client addresses nginx sent to each replica (the log's lines: address, upstream, status, request)."""
    upstream_of = {}
    for line in access_log.read_text().splitlines():
        address, upstream = line.split()[:2]
        if address != "127.0.0.1" and upstream != "-":
            upstream_of[address] = upstream
    return dict(collections.Counter(upstream_of.values()))


def start_profiler(pid: int, path: str, seconds: float) -> subprocess.Popen:
    """py-spy sampling the web server for `seconds` (100 Hz, without pausing it) into `path`: only the thread
    holding the GIL, so the profile shows where the server's Python time goes, not its threads waiting."""
    if shutil.which("py-spy") is None:
        raise SystemExit("--profile needs py-spy: pip install py-spy")
    form = "raw" if path.endswith(".txt") else "flamegraph"
    command = [
        "py-spy",
        "record",
        "--pid",
        str(pid),
        "--output",
        path,
        "--duration",
        str(int(seconds)),
        "--format",
        form,
        "--nonblocking",
        "--rate",
        "100",
        "--gil",
    ]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--learners", type=int, nargs="+", default=[30], help="several: each class in turn")
    parser.add_argument("--trainings", type=int, default=2, help="learners who keep a full-MNIST run training")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--url", help="an app already running (else one is started on a fresh model folder)")
    parser.add_argument(
        "--replica",
        action="append",
        default=[],
        help="with --url through a proxy: a replica's own URL, whose process is measured (repeat for each)",
    )
    parser.add_argument("--spread", action="store_true", help="each learner from a loopback address of its own")
    parser.add_argument(
        "--nginx", action="store_true", help="two replicas behind docs/deploy.md's nginx (implies --spread)"
    )
    parser.add_argument("--sweep", action="store_true", help=f"{', '.join(map(str, SWEEP))} learners in turn")
    parser.add_argument("--profile", help="sample the web server with py-spy into this .svg (or .txt: raw stacks)")
    parser.add_argument("--cold", action="store_true", help="no teacher opens the pages before the class")
    args = parser.parse_args()
    if args.url and args.nginx:
        parser.error("--nginx starts its own replicas: leave out --url")
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # a kill ends it as Ctrl-C does: server and cluster too
    pool = make_pool()
    counts = SWEEP if args.sweep else args.learners
    with contextlib.ExitStack() as stack:
        if args.url:
            url = args.url
            found = [local_server(replica) for replica in args.replica or [url]]
            servers = [pid for pid, _ in found if pid]
            model_dir = next((folder for _, folder in found if folder), None)
        else:
            model_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="digitlab-class-"))
            prepare_store(model_dir)
            env = {MODEL_DIR_ENV: model_dir, "STREAMLIT_SERVER_COOKIE_SECRET": os.urandom(16).hex()}
            stack.callback(shut_down_embedded_cluster, env)
            apps = []
            for _ in range(2 if args.nginx else 1):
                apps.append(AppServer(env).start())
                stack.callback(apps[-1].stop)
            servers = [local_server(app.url)[0] for app in apps]
            url = apps[0].url
            if args.nginx:
                binary = nginx_binary() or parser.error("--nginx needs nginx (apt-get install nginx)")
                proxy_folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="digitlab-nginx-")))
                url = stack.enter_context(running_nginx(binary, proxy_folder, (apps[0].port, apps[1].port)))
        print(f"app at {url}, web server pids {servers}, model folder {model_dir}")
        if not args.cold:
            for replica in args.replica or ([app.url for app in apps] if args.nginx else [url]):
                walk = asyncio.run(teacher_walk(replica))
                opened = ", ".join(f"{r.page or 'home'} {r.seconds * 1000:.0f} ms" for r in walk if r.seconds)
                print(f"the teacher opened every page of {replica} once before the class: {opened}")
        results = []
        for learners in counts:
            if args.profile and servers:
                profiler = start_profiler(servers[0], args.profile, args.seconds)
                stack.callback(profiler.wait, 60)
            result = asyncio.run(
                run_class(
                    url,
                    learners,
                    args.trainings,
                    args.seconds,
                    servers,
                    model_dir,
                    pool,
                    spread=args.spread or args.nginx,
                )
            )
            if args.nginx:
                print(f"  learners per replica (nginx's access log): {replica_split(proxy_folder / 'access.log')}")
            report(result, model_dir)
            print(json.dumps(result.summary()))
            results.append(result)
            if len(counts) > 1:
                time.sleep(5)  # the last class's sessions close
        if len(counts) > 1:
            knee(results, model_dir)
        print(json.dumps(results[-1].summary()))


if __name__ == "__main__":
    main()
