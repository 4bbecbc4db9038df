"""Server-side latency of one drawn digit: canvas PNG -> RGBA -> MNIST-style 28x28 -> model -> the reply.

Times what the Draw & predict page computes after each stroke, through the page's own core.strokes.answer_stroke
with its default options (deslanting and stroke-width normalization on) and the model prepared as the page's cache
prepares it (core.model.ready_to_serve: NumPy for a dense network), then its reply (the 28x28 image as a PNG data
URL, the probabilities as an HTML table); for comparison, the two plotly charts that reply replaced, serialised as
st.plotly_chart does, and Keras' `predict`. Then the whole server path as the page itself reports it in
its "The server answered in" caption (canvas widget, decoding, reading, model, reply, Streamlit's element
work), with strokes sent through Streamlit's AppTest: no browser shares the cores. (bench/load.py collects the
same caption with Chromium drawing.) Prints the median and p95 in ms.
Run: python bench/predict_latency.py [--repeats 300]
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import io
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import plotly.io
import plotly.tools
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core import charts  # noqa: E402
from core.config import SEED  # noqa: E402
from core.model import ready_to_serve  # noqa: E402
from core.runs import LocalReporter, TrainingRequest  # noqa: E402
from core.store import RunStore, new_run_id  # noqa: E402
from core.strokes import answer_stroke, canvas_rgba  # noqa: E402
from core.training import run_training  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SERVER_TIME = re.compile(r"The server answered in ([\d.]+) ms")

STROKES = {  # a few digits as polylines on a 280x280 canvas
    "1": [(140, 40), (140, 240)],
    "7": [(70, 56), (210, 56), (126, 238)],
    "4": [(170, 230), (170, 40), (60, 170), (220, 170)],
}


def canvas_png(points) -> bytes:
    image = Image.new("RGBA", (280, 280), (0, 0, 0, 255))
    ImageDraw.Draw(image).line(points, fill=(255, 255, 255, 255), width=22, joint="curve")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def page_server_times(store: str, run_id: str, pngs: list[bytes], repeats: int) -> list[float]:
    """The Draw & predict page's own caption after each stroke, strokes sent as the canvas sends them."""
    from streamlit.testing.v1 import AppTest

    os.environ["DIGITLAB_MODEL_DIR"] = store
    app = AppTest.from_file(str(ROOT / "pages" / "predict.py"), default_timeout=180)
    app.session_state["chosen_run"] = run_id
    app.run()
    urls = ["data:image/png;base64," + base64.b64encode(png).decode() for png in pngs]
    milliseconds = []
    for index in range(repeats):
        objects = [{"type": "path"}] * (index + 1)  # one stroke more each time: a new canvas value
        app.session_state["canvas"] = {"drawing": {"raw": {"objects": objects}, "data": urls[index % len(urls)]}}
        app.run()
        caption = next(c.value for c in app.caption if SERVER_TIME.match(c.value))
        milliseconds.append(float(SERVER_TIME.match(caption).group(1)))
    return milliseconds[5:]  # the first strokes warm up the page's caches


def percentiles(milliseconds: list[float]) -> str:
    return f"median {np.median(milliseconds):6.2f} ms   p95 {np.percentile(milliseconds, 95):6.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args()
    config = dataclasses.replace(SEED, epochs=1)
    run_id = new_run_id()
    store = tempfile.mkdtemp(prefix="digitlab-latency-")
    run_training(TrainingRequest(run_id, config, "mnist", 5_000, store_root=store), LocalReporter())
    model = ready_to_serve(RunStore(store).load_model(run_id))  # as the page's cache prepares it
    pngs = [canvas_png(points) for points in STROKES.values()]

    def page_path(png: bytes) -> None:
        """What the page does with a stroke: the canvas's PNG decoded, answer_stroke, the reply made."""
        answer = answer_stroke(canvas_rgba(png), model)
        charts.image_data_url(answer.reading.image)
        charts.probability_table_html(answer.probabilities)

    def with_charts(png: bytes) -> None:
        """The same with the two plotly charts the reply replaced (until 2026-12-05), serialised."""
        answer = answer_stroke(canvas_rgba(png), model)
        for figure in (
            charts.image_heatmap(answer.reading.image, "What the model sees"),
            charts.probability_bars(answer.probabilities),
        ):
            plotly.io.to_json(plotly.tools.return_figure_from_figure_or_data(figure, True), validate=False)

    def with_predict(png: bytes) -> None:
        """The same through Keras' own predict, for comparison (the page never takes this path)."""
        image = answer_stroke(canvas_rgba(png), model).reading.image
        model.predict(image.reshape(1, 784), verbose=0)

    for name, step in (
        ("page path: answer_stroke + reply", page_path),
        ("with the two charts it replaced", with_charts),
        ("Keras predict, for comparison", with_predict),
    ):
        step(pngs[0])  # warm up
        timings = []
        for index in range(args.repeats):
            started = time.perf_counter()
            step(pngs[index % len(pngs)])
            timings.append((time.perf_counter() - started) * 1000)
        print(f"{name:34} {percentiles(timings)}   ({args.repeats} strokes)")
    reads, models = [], []
    for index in range(args.repeats):
        answer = answer_stroke(canvas_rgba(pngs[index % len(pngs)]), model)
        reads.append(answer.read_ms)
        models.append(answer.model_ms)
    print(f"{'of which reading the canvas':34} {percentiles(reads)}")
    print(f"{'of which the model':34} {percentiles(models)}")
    server = page_server_times(store, run_id, pngs, min(args.repeats, 100))
    shutil.rmtree(store, ignore_errors=True)
    print(f"{'whole page path (its caption)':32} {percentiles(server)}   ({len(server)} strokes, no browser)")


if __name__ == "__main__":
    main()
