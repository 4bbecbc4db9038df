"""harness.protocol's simulated learners (bench/class_load.py's class) really drive the page: each stroke they send
is read as the page reads a drawing, and the run it starts shows the model's own answer for that PNG. The server is
the README's for a term, started as written."""

from __future__ import annotations

import asyncio
import ctypes.util
import threading

import pytest

from core.model import ready_to_serve
from core.store import MODEL_DIR_ENV, RunStore
from core.strokes import answer_stroke, canvas_rgba
from harness.drawing import make_pool
from harness.processes import memory_allocator, server_pid
from harness.protocol import BLANK, Learner
from harness.server import AppServer, term_server_line

LEARNERS = 2
STROKES = 3  # per learner

pytestmark = pytest.mark.cluster  # a real server (~20 s): kept out of the quick loop with the cluster tests


def page_answer(model, png: bytes) -> str | None:
    """The Prediction Draw & predict shows for this canvas PNG, read the page's way (core.strokes), or None."""
    digit = answer_stroke(canvas_rgba(png), model).digit
    return None if digit is None else str(digit)


async def draw_strokes(url: str, index: int, replies: list, errors: list) -> None:
    """One learner: open Draw & predict, draw digits (clearing between them, waiting for each answer) until it has
    sent STROKES strokes."""
    learner = Learner(url, replies, errors)
    sent = 0
    try:
        await learner.open("predict")
        for drawing in make_pool(4, seed=index):
            if learner.canvas_strokes:
                await learner.send_canvas("clear", BLANK, wait=True)
            for stroke, value in enumerate(drawing.values[: STROKES - sent], start=1):
                await learner.send_canvas("stroke", value, wait=True, drawing=drawing, stroke=stroke)
                learner.canvas_strokes, sent = stroke, sent + 1
            if sent == STROKES:
                break
    finally:
        await learner.close()


async def sidebar_name(url: str, cookie: str, errors: list) -> tuple[str, str]:
    """Open Home as a browser holding `cookie` ("" for a new one): (the sidebar's "Your name", its cookie)."""
    learner = Learner(url, [], errors)
    learner.cookie = cookie
    try:
        await learner.open("")
        [name] = [
            w.state.string_value for w in learner.widgets.values() if getattr(w.element, "label", "") == "Your name"
        ]
        return name, learner.cookie
    finally:
        await learner.close()


def test_each_stroke_is_answered_with_the_models_prediction_for_its_png(model_dir, trained_run):
    model = ready_to_serve(RunStore(model_dir).load_model(trained_run))  # as the page's cache prepares it
    replies, errors, names = [], [], []
    server = AppServer({MODEL_DIR_ENV: str(model_dir)}, line=term_server_line()).start()
    try:

        async def learners():
            await asyncio.gather(*(draw_strokes(server.url, index, replies, errors) for index in range(LEARNERS)))
            first, cookie = await sidebar_name(server.url, "", errors)  # bench/soak.py's returning learner:
            names.extend([first, (await sidebar_name(server.url, cookie, errors))[0]])  # the same browser again
            names.append((await sidebar_name(server.url, "", errors))[0])  # and a new one

        # In a thread of its own: Playwright's sync API may have left an event loop running in this one.
        thread = threading.Thread(target=asyncio.run, args=(learners(),))
        thread.start()
        thread.join()
        allocator = memory_allocator(server_pid(server.url))
    finally:
        server.stop()

    assert errors == []
    # The README's term-server line reached the server: tcmalloc where it is installed (.ci/run installs it),
    # else the server still starts, on glibc
    assert allocator == ("tcmalloc" if ctypes.util.find_library("tcmalloc_minimal") else "glibc")
    assert names[0] == names[1] != names[2] and names[0].startswith("Learner ")
    strokes = [reply for reply in replies if reply.kind == "stroke"]
    assert len(strokes) == LEARNERS * STROKES
    unanswered = [reply.kind for reply in replies if reply.seconds is None]
    assert unanswered == [], f"messages not answered: {unanswered}"
    expected = [page_answer(model, reply.drawing.pngs[reply.stroke - 1]) for reply in strokes]
    assert [reply.prediction for reply in strokes] == expected
    assert all(answer is not None for answer in expected)
    assert len(set(expected)) > 1, "every drawing read as the same digit: the strokes would prove little"
