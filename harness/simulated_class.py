"""A class on the app, simulated: learners speaking Streamlit's own protocol (harness.protocol, whose strokes
tests/test_class_load.py checks against the model's answers), as bench/class_load.py and bench/soak.py run them.

Learners join spread over the first seconds; each opens Draw & predict and draws a digit every 2-4 s (random digits
0-9 from stroke templates, jittered in size, place and slant, two strokes each, each stroke one message; the canvas
is cleared first, as the toolbar's bin does), now and then opens Inside the network or Training and comes back.
The first K learners train: they open /training?epochs=30 (a link from the teacher), press Train (full MNIST, the
seed network), watch the live curves a few seconds (the page's 1 s auto-rerun), go drawing, look at Training now
and then and press Train again when their run has ended, and press Stop when the class ends. Before a lesson the
teacher opens every page once (`teacher_walk`)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import random
import re
import time

import psutil
from streamlit.proto.WidgetStates_pb2 import WidgetState

from harness.drawing import Drawing
from harness.processes import cluster_pss_mb, percentile
from harness.protocol import Learner, Reply

DIGIT_SECONDS = (2.0, 4.0)  # from one digit to the next
VISIT_CHANCE = 0.08  # per digit: open Inside the network (2 in 3) or Training (1 in 3), then come back
VISIT_SECONDS = (3.0, 6.0)
TRAIN_CHECK_SECONDS = 20.0  # a trainer looks at Training this often, and trains again when its run ended
TRAIN_EPOCHS = 30

TEACHER_WALK = ("", "dataset", "model", "training", "predict", "inside", "leaderboard")


def prepare_store(folder: str) -> None:
    """The seed notebook's network, trained on all of MNIST into `folder` (what the class draws on)."""
    from core.config import SEED
    from core.runs import LocalReporter, TrainingRequest
    from core.store import new_run_id
    from core.training import run_training

    progress = run_training(TrainingRequest(new_run_id(), SEED, "mnist", store_root=folder), LocalReporter())
    print(f"seed model ready: test accuracy {progress.result.test_accuracy:.2%}")


async def teacher_walk(url: str) -> list[Reply]:
    """Every page opened once, one after the other, as a teacher does before the lesson: their replies."""
    replies: list[Reply] = []
    errors: list[str] = []
    teacher = Learner(url, replies, errors)
    try:
        await teacher.open(TEACHER_WALK[0])
        for path in TEACHER_WALK[1:]:
            await teacher.navigate(path)
    finally:
        await teacher.close()
    if errors:
        raise RuntimeError(f"the teacher's walk through the pages failed: {errors[0]}")
    return replies


@dataclasses.dataclass
class Trainer:
    run_ids: list[str] = dataclasses.field(default_factory=list)


async def train(learner: Learner, trainer: Trainer, first: bool) -> None:
    """On Training: set 30 epochs (the first time the link did it), press Train if this browser's run is over."""
    if not first:
        await learner.navigate("training")
        state = WidgetState()
        state.double_array_value.data.append(TRAIN_EPOCHS)
        await learner.set_widget("hp_epochs", state)
    reply = await learner.click("train")
    if reply is not None:
        await asyncio.sleep(1.0)  # Train reruns the page with the run in its link
        match = re.search(r"run=([\w-]+)", learner.query)
        if match and match.group(1) not in trainer.run_ids:
            trainer.run_ids.append(match.group(1))


async def learner_session(
    index: int,
    url: str,
    start: float,
    join_seconds: float,
    seconds: float,
    trainer: Trainer | None,
    pool: list[Drawing],
    replies: list[Reply],
    errors: list[str],
    cookies: dict[int, str] | None = None,
    source_address: str | None = None,
) -> None:
    """One learner's class: join, draw, look at other pages now and then; a trainer also trains. With `cookies`
    the learner comes back as the same browser (the same owner) it was last time, and its cookie is kept there."""
    rng = random.Random(index)
    await asyncio.sleep(join_seconds)
    deadline = start + seconds
    learner = Learner(url, replies, errors, source_address)
    if cookies is not None:
        learner.cookie = cookies.get(index, "")
    try:
        if trainer is not None:
            await learner.open("training", f"epochs={TRAIN_EPOCHS}")
            await train(learner, trainer, first=True)
            await asyncio.sleep(rng.uniform(*VISIT_SECONDS))  # watching the live curves
            await learner.navigate("predict")
            checked = time.perf_counter()
        else:
            await learner.open("predict")
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            if trainer is not None and began - checked > TRAIN_CHECK_SECONDS:
                await train(learner, trainer, first=False)
                await asyncio.sleep(rng.uniform(*VISIT_SECONDS))
                await learner.navigate("predict")
                checked = time.perf_counter()
            elif rng.random() < VISIT_CHANCE:
                await learner.navigate("inside" if rng.random() < 2 / 3 else "training")
                await asyncio.sleep(rng.uniform(*VISIT_SECONDS))
                await learner.navigate("predict")
            began = time.perf_counter()
            await learner.draw(rng.choice(pool), rng)
            await asyncio.sleep(max(0.0, began + rng.uniform(*DIGIT_SECONDS) - time.perf_counter()))
        if trainer is not None:  # the class ends: Stop
            await learner.navigate("training")
            await learner.click("stop")
    except Exception as error:
        errors.append(f"learner {index}: {type(error).__name__}: {str(error)[:160]}")
    finally:
        await learner.close()
        if cookies is not None:
            cookies[index] = learner.cookie


def learner_address(index: int) -> str:
    """A loopback address of its own for learner `index` (Linux answers all of 127.0.0.0/8): a proxy that keeps
    each client address on one replica then spreads the class as it spreads a classroom's machines."""
    return f"127.0.{1 + index // 250}.{2 + index % 250}"


class ServerWatch:
    """The web servers' CPU seconds (summed) and peak RSS (of their sum) over a window, sampled every second."""

    def __init__(self, pids: list[int]):
        self.processes = [psutil.Process(pid) for pid in pids]
        self.peak_rss = 0.0
        self.cpu_start = self.cpu()

    def cpu(self) -> float:
        return sum(sum(process.cpu_times()[:2]) for process in self.processes)

    def sample(self) -> None:
        with contextlib.suppress(psutil.Error):
            rss = sum(process.memory_info().rss for process in self.processes) / 2**20
            self.peak_rss = max(self.peak_rss, rss)

    async def watch(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.sample()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)


@dataclasses.dataclass
class Result:
    learners: int
    trainings: int
    seconds: float
    replies: list[Reply]
    errors: list[str]
    server_cpu_s: float | None
    server_rss_mb: float | None
    cluster_pss_mb: float | None
    client_cpu_s: float
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    run_ids: list[str]

    def times(self, kind: str) -> list[float]:
        return sorted(r.seconds * 1000 for r in self.replies if r.kind == kind and r.seconds is not None)

    def cpu_ms_per_stroke(self) -> float | None:
        """The web server's CPU over the window, everything it did included (page opens too), per stroke."""
        strokes = len(self.times("stroke"))
        return None if self.server_cpu_s is None or not strokes else round(self.server_cpu_s * 1000 / strokes, 1)

    def timeouts(self) -> int:
        return sum(r.seconds is None for r in self.replies)

    def summary(self) -> dict:
        strokes = self.times("stroke")

        def at(share):
            return round(percentile(strokes, share), 1) if strokes else None

        return {
            "learners": self.learners,
            "trainings": self.trainings,
            "strokes": len(strokes),
            "errors": len(self.errors) + self.timeouts(),
            "p50_ms": at(50),
            "p95_ms": at(95),
            "p99_ms": at(99),
            "server_cpu_s": None if self.server_cpu_s is None else round(self.server_cpu_s, 1),
            "server_cpu_ms_per_stroke": self.cpu_ms_per_stroke(),
            "server_rss_mb": None if self.server_rss_mb is None else round(self.server_rss_mb),
            "seconds": round(self.seconds, 1),
        }


async def run_class(
    url: str,
    learners: int,
    trainings: int,
    seconds: float,
    servers: list[int],
    model_dir: str | None,
    pool: list[Drawing],
    cookies: dict[int, str] | None = None,
    spread: bool = False,
) -> Result:
    """`learners` learners (the first `trainings` of them training) on the app at `url` for `seconds`, the web
    server processes `servers` watched; with `cookies`, each the same browser as in the class that filled them
    (learner index -> cookie); with `spread`, each from a client address of its own (`learner_address`)."""
    replies: list[Reply] = []
    errors: list[str] = []
    trainers = [Trainer() for _ in range(trainings)]
    watch = ServerWatch(servers)
    me = psutil.Process()
    client_cpu = sum(me.cpu_times()[:2])
    load_before = os.getloadavg()
    join = min(15.0, seconds / 4)  # a class arrives over the first seconds
    start = time.perf_counter()
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch.watch(stop))
    await asyncio.gather(
        *(
            learner_session(
                i,
                url,
                start,
                join * i / max(learners, 1),
                seconds,
                trainers[i] if i < trainings else None,
                pool,
                replies,
                errors,
                cookies,
                learner_address(i) if spread else None,
            )
            for i in range(learners)
        )
    )
    elapsed = time.perf_counter() - start
    stop.set()
    await watcher
    watch.sample()
    return Result(
        learners,
        trainings,
        elapsed,
        replies,
        errors,
        server_cpu_s=watch.cpu() - watch.cpu_start if servers else None,
        server_rss_mb=watch.peak_rss if servers else None,
        cluster_pss_mb=cluster_pss_mb(model_dir),
        client_cpu_s=sum(me.cpu_times()[:2]) - client_cpu,
        load_before=load_before,
        load_after=os.getloadavg(),
        run_ids=[run_id for trainer in trainers for run_id in trainer.run_ids],
    )
