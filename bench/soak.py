"""A term, compressed: lessons of a class on one server, hour after hour, and what the server keeps of them.

Each lesson is harness/simulated_class.py's class (simulated learners speaking Streamlit's protocol: joining over
the first seconds, drawing, visiting other pages, the first `--trainings` of them training 30-epoch runs back to
back, Stop when the lesson ends), then a break with nobody connected. The same class comes back every lesson: each
learner keeps its browser's cookie, so its runs stay its own (--new-browsers: strangers every lesson). Every
`--every` seconds the sampler reads the web server's RSS (its own anonymous memory and the mapped files' pages
apart), open descriptors and threads, its open connections (all of them, and the browsers' sessions apart: a session
is one websocket on the server's port), the training cluster's PSS, and the model folder's size. The store has a
quota (`--quota`, DIGITLAB_STORE_QUOTA) that the server's retention policy holds. The server starts with the
README's term-server line (tcmalloc preloaded; `--plain-start`: plain `streamlit run app.py`), and the malloc it ran
on is printed at the end.

Printed after each break: its end's server RSS (and its own part), cluster PSS and folder size. Printed at the end,
from the samples taken at the end of each break (the same state every time: no learner, no run) after the warm-up
(`--warm-up` lessons, 1 by default; the page caches fill over about 8): each measure's growth per hour (a
least-squares line, as a share of its first value; also over the second half of those samples), and whether every
break's end had no session left open and the same threads as the first. A PNG of every measure over the whole soak
(lessons shaded) goes to --plot.
Ends with one JSON line.
Run: python bench/soak.py [--minutes 60] [--lesson 600] [--break 180] [--learners 30] [--trainings 2]
                          [--quota 300M] [--warm-up 1] [--plot docs/soak.png] [--plain-start]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.retention import QUOTA_ENV  # noqa: E402
from core.store import MODEL_DIR_ENV  # noqa: E402
from harness.drawing import make_pool  # noqa: E402
from harness.processes import cluster_pss_mb, memory_allocator  # noqa: E402
from harness.server import AppServer, shut_down_embedded_cluster, term_server_line  # noqa: E402
from harness.simulated_class import prepare_store, run_class  # noqa: E402

MEASURES = {  # name: (unit, what it is)
    "server_rss": ("MB", "web server RSS"),
    "server_anon": ("MB", "web server RSS: its own (anonymous)"),
    "server_files": ("MB", "web server RSS: mapped files"),
    "cluster_pss": ("MB", "training cluster PSS"),
    "descriptors": ("", "web server's open descriptors"),
    "threads": ("", "web server's threads"),
    "connections": ("", "web server's open connections"),
    "sessions": ("", "browser sessions (websockets)"),
    "folder": ("MB", "model folder"),
}


def folder_mb(folder: Path) -> float:
    total = 0
    for path in folder.rglob("*"):
        with contextlib.suppress(OSError):
            total += path.stat().st_size if path.is_file() else 0
    return total / 2**20


def sample(server: psutil.Process, port: int, folder: Path) -> dict[str, float]:
    with server.oneshot():
        established = [c for c in server.net_connections("tcp") if c.status == psutil.CONN_ESTABLISHED]
        memory = server.memory_info()  # on Linux `shared` is RssFile + RssShmem: the libraries' pages
        values = {
            "server_rss": memory.rss / 2**20,
            "server_anon": (memory.rss - memory.shared) / 2**20,
            "server_files": memory.shared / 2**20,
            "descriptors": server.num_fds(),
            "threads": server.num_threads(),
            "connections": len(established),
            "sessions": sum(1 for c in established if c.laddr.port == port),
        }
    values["cluster_pss"] = cluster_pss_mb(str(folder)) or 0.0
    values["folder"] = folder_mb(folder)
    return values


class Sampler(threading.Thread):
    """Samples every `every` seconds, each tagged with the phase of the soak it was taken in."""

    def __init__(self, server: psutil.Process, port: int, folder: Path, every: float):
        super().__init__(daemon=True)
        self.server, self.port, self.folder, self.every = server, port, folder, every
        self.phase = "before"
        self.rows: list[dict] = []
        self.started = time.monotonic()
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.every):
            with contextlib.suppress(psutil.Error, OSError):
                values = sample(self.server, self.port, self.folder)
                self.rows.append({"t": time.monotonic() - self.started, "phase": self.phase, **values})


def growth_per_hour(rows: list[dict], name: str) -> float:
    """The least-squares slope of a measure over the break-end samples, per hour, as a share of the first."""
    t = np.array([row["t"] for row in rows]) / 3600
    y = np.array([row[name] for row in rows])
    if len(rows) < 2 or y[0] == 0:
        return 0.0
    return float(np.polyfit(t, y, 1)[0] / y[0])


def plot(rows: list[dict], lessons: list[tuple[float, float]], path: Path) -> None:
    """A small line chart per measure, lessons shaded."""
    width, height, columns = 420, 220, 3
    image = Image.new("RGB", (width * columns, height * math.ceil(len(MEASURES) / columns)), "white")
    draw = ImageDraw.Draw(image)
    for index, name in enumerate(MEASURES):
        left, top = (index % columns) * width, (index // columns) * height
        panel(draw, (left + 50, top + 30, left + width - 15, top + height - 30), rows, name, lessons)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def panel(draw, box: tuple[int, int, int, int], rows: list[dict], name: str, lessons: list) -> None:
    """One measure over time in `box` (left, top, right, bottom)."""
    unit, title = MEASURES[name]
    end = max(row["t"] for row in rows)
    low = min(row[name] for row in rows)
    high = max(max(row[name] for row in rows), low + 1)
    left, top, right, bottom = box
    scale_x, scale_y = (right - left) / end, (bottom - top) / (high - low)
    for start, stop in lessons:
        draw.rectangle((left + start * scale_x, top, left + stop * scale_x, bottom), fill="#e8eef8")
    draw.rectangle(box, outline="#999999")
    points = [(left + row["t"] * scale_x, bottom - (row[name] - low) * scale_y) for row in rows]
    draw.line(points, fill="#1f4e9a", width=2)
    draw.text((left, top - 22), f"{title} ({unit})" if unit else title, fill="black")
    draw.text((left - 46, top), f"{high:,.0f}", fill="#444444")
    draw.text((left - 46, bottom - 10), f"{low:,.0f}", fill="#444444")
    draw.text((left, bottom + 6), "0", fill="#444444")
    draw.text((right - 40, bottom + 6), f"{end / 60:.0f} min", fill="#444444")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--lesson", type=float, default=600, help="seconds a lesson lasts")
    parser.add_argument("--break", dest="pause", type=float, default=180, help="seconds between lessons")
    parser.add_argument("--learners", type=int, default=30)
    parser.add_argument("--trainings", type=int, default=2)
    parser.add_argument("--quota", default="300M", help="the model folder's quota (DIGITLAB_STORE_QUOTA)")
    parser.add_argument(
        "--new-browsers", action="store_true", help="every learner a new browser each lesson (else the class returns)"
    )
    parser.add_argument(
        "--plain-start", action="store_true", help="plain `streamlit run app.py` (else the README's term-server line)"
    )
    parser.add_argument(
        "--warm-up", type=int, default=1, help="lessons before growth is measured (the page caches fill over ~8)"
    )
    parser.add_argument("--every", type=float, default=5.0, help="seconds between samples")
    parser.add_argument("--plot", type=Path, default=Path("docs/soak.png"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="digitlab-soak-") as work:
        folder = Path(work)
        prepare_store(work)
        allocator = None
        env = {MODEL_DIR_ENV: work, QUOTA_ENV: args.quota}
        server = AppServer(env, line=None if args.plain_start else term_server_line()).start()
        try:
            process = psutil.Process(server.process.pid)
            process = next(
                (p for p in process.children(recursive=True) if "streamlit" in " ".join(p.cmdline())), process
            )
            sampler = Sampler(process, server.port, folder, args.every)
            sampler.start()
            time.sleep(3 * args.every)  # the baseline: no learner yet
            pool, lessons, lesson = make_pool(), [], 0
            cookies = None if args.new_browsers else {}  # learner -> browser cookie, kept from lesson to lesson
            while sampler.rows[-1]["t"] + args.lesson + args.pause <= args.minutes * 60 + 3 * args.every:
                lesson += 1
                sampler.phase = f"lesson {lesson}"
                began = time.monotonic() - sampler.started
                result = asyncio.run(
                    run_class(
                        server.url, args.learners, args.trainings, args.lesson, [process.pid], work, pool, cookies
                    )
                )
                lessons.append((began, time.monotonic() - sampler.started))
                strokes = [r for r in result.replies if r.kind == "stroke" and r.seconds is not None]
                p95 = np.percentile([r.seconds for r in strokes], 95) * 1000 if strokes else float("nan")
                print(
                    f"lesson {lesson}: {len(strokes)} strokes, p95 {p95:.0f} ms, {len(result.errors)} errors",
                    flush=True,
                )
                sampler.phase = f"break {lesson}"
                time.sleep(args.pause)
                sampler.phase = f"break {lesson} end"
                time.sleep(args.every * 1.5)
                end = sampler.rows[-1]
                print(
                    f"  break {lesson} end: server RSS {end['server_rss']:,.0f} MB ({end['server_anon']:,.0f} its "
                    f"own), cluster PSS {end['cluster_pss']:,.0f} MB, model folder {end['folder']:,.0f} MB",
                    flush=True,
                )
            sampler.stopped.set()
            with contextlib.suppress(OSError):
                allocator = memory_allocator(process.pid)
        finally:
            server.stop()
            shut_down_embedded_cluster(env)
    rows = sampler.rows
    before = [row for row in rows if row["phase"] == "before"]
    warm = {f"break {n} end" for n in range(args.warm_up + 1, lesson + 1)}
    ends = [row for row in rows if row["phase"] in warm]
    report = {"lessons": lesson, "warm_up": args.warm_up, "minutes": rows[-1]["t"] / 60, "allocator": allocator}
    print(f"\nafter {lesson} lessons ({rows[-1]['t'] / 60:.0f} min); the server's malloc: {allocator}")
    print(f"at each break's end after lesson {args.warm_up} (and over the second half of those, caches warmer):")
    later = ends[len(ends) // 2 :]
    for name, (unit, title) in MEASURES.items():
        growth = growth_per_hour(ends, name) if len(ends) >= 2 else float("nan")
        growth_later = growth_per_hour(later, name) if len(later) >= 2 else float("nan")
        first, last = (ends[0][name], ends[-1][name]) if ends else (float("nan"), float("nan"))
        report[name] = {
            "before": before[0][name],
            "first": first,
            "last": last,
            "growth_per_hour": growth,
            "second_half_growth_per_hour": growth_later,
        }
        print(
            f"  {title:32} before {before[0][name]:9,.1f}  first {first:9,.1f}  last {last:9,.1f} {unit:3} "
            f"growth {growth:+.1%} an hour ({growth_later:+.1%} in the second half)"
        )
    if ends:
        sessions, threads = max(row["sessions"] for row in ends), {row["threads"] for row in ends}
        settled = sessions == 0 and threads == {ends[0]["threads"]}
        report["settled"] = settled
        print(
            f"  at every break's end: {sessions} sessions open at most, threads {min(threads)}-{max(threads)}: "
            + ("all back to the first break's level" if settled else "NOT back to the first break's level")
        )
    plot(rows, lessons, args.plot)
    print(f"plot: {args.plot}")
    print(json.dumps({"soak": report}))


if __name__ == "__main__":
    main()
