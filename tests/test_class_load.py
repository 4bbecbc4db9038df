"""bench/class_load.py's simulated learners really drive the page: each stroke they send is read as the page reads a
drawing, and the run it starts shows the model's own answer for that PNG."""

from __future__ import annotations

import asyncio
import io
import shutil
import threading

import numpy as np
import pytest
from PIL import Image

from bench.class_load import BLANK, Learner, make_pool
from core.model import model_input_shape, predict_probabilities
from core.preprocess import FORMATS, TOO_SMALL_FRACTION, read_canvas
from core.store import MODEL_DIR_ENV, RunStore
from tests.browser import AppServer

LEARNERS = 2
STROKES = 3  # per learner

pytestmark = pytest.mark.cluster  # a real server (~20 s): kept out of the quick loop with the cluster tests


def page_answer(model, png: bytes) -> str | None:
    """The Prediction pages/predict.py shows for this canvas PNG (deslanting on, its default), or None."""
    reading = read_canvas(np.asarray(Image.open(io.BytesIO(png))), FORMATS["mnist"], deslant=True)
    if reading.image is None or reading.ink_fraction < TOO_SMALL_FRACTION:
        return None
    probabilities = predict_probabilities(model, reading.image.reshape((1, *model_input_shape(model))))[0]
    return str(int(np.argmax(probabilities)))


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


def test_each_stroke_is_answered_with_the_models_prediction_for_its_png(tmp_path, model_dir, trained_run):
    shutil.copytree(model_dir / trained_run, tmp_path / trained_run)  # a store of its own: its server sweeps it
    model = RunStore(tmp_path).load_model(trained_run)
    replies, errors = [], []
    server = AppServer({MODEL_DIR_ENV: str(tmp_path)}).start()
    try:

        async def learners():
            await asyncio.gather(*(draw_strokes(server.url, index, replies, errors) for index in range(LEARNERS)))

        # In a thread of its own: Playwright's sync API may have left an event loop running in this one.
        thread = threading.Thread(target=asyncio.run, args=(learners(),))
        thread.start()
        thread.join()
    finally:
        server.stop()

    assert errors == []
    strokes = [reply for reply in replies if reply.kind == "stroke"]
    assert len(strokes) == LEARNERS * STROKES
    assert all(reply.seconds is not None for reply in replies), "a message was not answered"
    expected = [page_answer(model, reply.drawing.pngs[reply.stroke - 1]) for reply in strokes]
    assert [reply.prediction for reply in strokes] == expected
    assert all(answer is not None for answer in expected)
    assert len(set(expected)) > 1, "every drawing read as the same digit: the strokes would prove little"
