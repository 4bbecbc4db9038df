"""What pages ask of the training cluster: start a run, a short task, the class's scoring, the starter run; and
the leaderboard's rows. Streamlit-facing only through the caches they use."""

from __future__ import annotations

import contextlib
import logging
import threading
import time

import streamlit as st

from core import classroom
from core.config import SEED, ModelConfig
from core.retention import NoRoom, Retention, room_problem
from core.runs import TrainingRequest
from core.state import SCORING, SPOOL_FOLDER
from core.store import RunStore, new_run_id
from core.tasks import Task
from pages.common import lesson
from pages.common.caches import my_digits, name_book, run_board, run_store

log = logging.getLogger(__name__)


def start_training(
    owner: str,
    config: ModelConfig,
    dataset_name: str,
    limit: int | None = None,
    base_run: str | None = None,
    class_digits: bool = False,
) -> str:
    """Start a run for `owner`, a new network or a fine-tuned saved run, with the class's labelled digits or not,
    within the teacher's lesson controls whatever the page sent; its run id (JobError when it cannot)."""
    config, _ = lesson.controls().apply(config)
    name = name_book().name_of(owner)
    request = TrainingRequest(new_run_id(), config, dataset_name, limit, base_run, name=name, class_digits=class_digits)
    return run_board().start(owner, request)


SCORING_GAP_SECONDS = 60
STARTER_OWNER = "digit-lab-starter"


def start_scoring() -> Task | None:
    """Send the class-digits scoring (core.tasks.score_class_digits) unless a server sent it in the last minute:
    thirty learners opening the leaderboard after a new digit start it once. OSError when the cluster is away."""
    from core.tasks import score_class_digits

    client = run_board().cluster.client()
    if time.time() - (client.get_metadata([SCORING], default=None) or 0) < SCORING_GAP_SECONDS:
        return None
    client.set_metadata([SCORING], time.time())
    return start_task("Reading the class's digits", score_class_digits, None, str(run_store().root.resolve()))


def scoring_ended() -> None:
    """The scoring this server sent has ended: the next stale score need not wait out the minute."""
    with contextlib.suppress(OSError):
        run_board().cluster.client().set_metadata([SCORING], 0)


def start_task(label: str, function, data: bytes, *args) -> Task:
    """Send a short job (core.tasks: an import, an upload's check) to the cluster; OSError when it is unreachable,
    NoRoom when what it keeps (the upload, then what is made of it) would not fit on the model folder's volume."""
    if data is not None and (problem := room_problem(run_store().root, 3 * len(data))) is not None:
        raise NoRoom(problem)
    return Task(run_board().cluster.client(), run_store().root / SPOOL_FOLDER, label, function, data, *args)


@st.cache_resource(show_spinner=False)
def starter_run(dataset_name: str) -> str:
    """On a fresh install: train the notebook's network once, for every session to share; its run id. A starter
    run already training (a restarted server) is followed, not started again."""
    board = run_board()
    for progress in board.live():
        if board.owner_of(progress.run_id) == STARTER_OWNER:
            return progress.run_id
    return start_training(STARTER_OWNER, SEED, dataset_name)


def class_rows(challenge: classroom.Challenge) -> tuple[list[classroom.LeaderRow], dict[str, str]]:
    """Every saved and training run of the class as the leaderboard ranks it, and the version of the class's
    digits of each image format (a score read on another version is stale)."""
    store, live = run_store(), run_board().live()
    names = name_book().all()
    versions = {image_format: classroom.digits_version(my_digits(image_format)) for image_format in ("mnist", "digits")}
    records = [*store.records(), *store.live_records()]
    scores = classroom.read_scores(store.root)
    return classroom.leaderboard(records, live, names, scores, versions, challenge), versions


MARK_EVERY_SECONDS = 300  # a run open in pages is written down at most this often, per server


@st.cache_resource(show_spinner=False)
def _marked(root: str) -> dict[str, float]:
    return {}


def mark_opened(run_id: str) -> None:
    """This run is in someone's view: retention leaves it alone (written down at most every few minutes)."""
    marked, now = _marked(str(run_store().root)), time.time()
    if now - marked.get(run_id, 0) >= MARK_EVERY_SECONDS:
        for stale in [other for other, at in list(marked.items()) if now - at >= MARK_EVERY_SECONDS]:
            marked.pop(stale, None)  # a term's runs are not all remembered: only those marked lately
        marked[run_id] = now
        with contextlib.suppress(OSError):
            Retention(run_store()).mark_opened([run_id])


def warm_up() -> None:
    """Keras' first model costs the web process ~4 s (its imports and first build; the next takes ~25 ms): the
    server's first visit starts paying it in a thread, so the first learner to open Training or Draw & predict
    does not wait for all of it, with the whole class waiting behind."""
    _warm_up()


@st.cache_resource(show_spinner=False)
def _warm_up() -> threading.Thread:
    def build() -> None:
        from core.model import describe_model

        try:
            describe_model(SEED, (28, 28))
        except Exception as error:  # only a head start: the pages build their own
            log.warning("Keras' warm-up failed: %s", error)

    thread = threading.Thread(target=build, name="keras-warm-up", daemon=True)
    thread.start()
    return thread


def keep_the_store() -> None:
    """Apply the retention policy when it is due, in a thread of this server (one replica at a time)."""
    _keeper(str(run_store().root))


@st.cache_resource(show_spinner=False)
def _keeper(root: str) -> threading.Thread:

    def keep() -> None:
        retention = Retention(RunStore(root))
        while True:
            with contextlib.suppress(OSError):
                if retention.due():
                    removed = retention.apply()
                    if removed:
                        log.warning("Retention removed %d runs: %s", len(removed), ", ".join(removed))
            time.sleep(60)

    thread = threading.Thread(target=keep, name="retention", daemon=True)
    thread.start()
    return thread
