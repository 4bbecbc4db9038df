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

Learners join spread over the first seconds; each opens Draw & predict and draws a digit every 2-4 s (random digits
0-9 from stroke templates, jittered in size, place and slant, two strokes each, each stroke one message; the canvas
is cleared first, as the toolbar's bin does), now and then opens Inside the network or Training and comes back.
The first K learners train: they open /training?epochs=30 (a link from the teacher), press Train (full MNIST, the
seed network), watch the live curves a few seconds (the page's 1 s auto-rerun), go drawing, look at Training now
and then and press Train again when their run has ended, and press Stop when the class ends.

Printed per kind of message (stroke, clear, page, auto-rerun): the time from the message sent to the
`script_finished` of the first run that began after it (p50, p95, p99, max); errors (an exception element in any
ForwardMsg, a failed run or connection) and timeouts; the web server's CPU seconds and peak RSS over the window;
the training cluster's PSS (the embedded cluster is a process of its own, found through `.cluster.json` in the
model folder); this load generator's own CPU seconds (it shares the machine's cores with the server); the load
averages. Ends with one JSON line. `--sweep` runs 10, 20, 30, 50, 80 learners and prints where p95 crosses 250 ms
and 1 s.

The app runs on a fresh model folder holding the seed notebook's network, trained here first (full MNIST,
5 epochs), on a free loopback port; the server and its cluster are ended on exit. `--url` uses a server that is
already running (a replica set behind nginx, say): its CPU and memory are measured when it is a local process.
To see where the server's time goes: `pip install py-spy` (not a test requirement) and `--profile profile.svg`
(a flame graph) or `--profile profile.txt` (collapsed stacks, one line each) samples the web server with py-spy
during the window; or `py-spy top --pid <server pid>` while this runs (the pid is printed).
Run: python bench/class_load.py [--learners 30] [--trainings 2] [--seconds 60] [--url URL] [--sweep]
                                [--profile FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import dataclasses
import io
import json
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import psutil
from PIL import Image, ImageDraw
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.websocket import WebSocketClosedError, websocket_connect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.load import percentile  # noqa: E402
from core.jobs import TrainingCluster  # noqa: E402
from core.store import MODEL_DIR_ENV  # noqa: E402
from tests.browser import AppServer, shut_down_embedded_cluster  # noqa: E402

SWEEP = (10, 20, 30, 50, 80)
TARGET_MS = (250, 1000)  # the knee: where p95 crosses these
CANVAS = 280  # pages/predict.py CANVAS_SIZE
PEN = 22  # the page's default pen width
DIGIT_SECONDS = (2.0, 4.0)  # from one digit to the next
STROKE_SECONDS = (0.45, 0.9)  # from one stroke's send to the next (drawing it, then the canvas's 200 ms wait)
VISIT_CHANCE = 0.08  # per digit: open Inside the network (2 in 3) or Training (1 in 3), then come back
VISIT_SECONDS = (3.0, 6.0)
TRAIN_CHECK_SECONDS = 20.0  # a trainer looks at Training this often, and trains again when its run ended
TRAIN_EPOCHS = 30
TIMEOUT_SECONDS = 30.0  # a message unanswered this long is a timeout
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/143.0.0.0 Safari/537.36"
FABRIC_VERSION = "7.4.0"
SUCCESS = {
    ForwardMsg.ScriptFinishedStatus.FINISHED_SUCCESSFULLY,
    ForwardMsg.ScriptFinishedStatus.FINISHED_FRAGMENT_RUN_SUCCESSFULLY,
}
EARLY = ForwardMsg.ScriptFinishedStatus.FINISHED_EARLY_FOR_RERUN
MEDIA = re.compile(rb"/media/[0-9a-f]{16,}\.[a-z0-9]{2,5}")
SERVER_TIME = re.compile(r"The server answered in ([\d.]+) ms")

# ---- Digits as a person draws them on the canvas ------------------------------------------------------------

# Strokes as points in a unit box (x right, y down); the pen is lifted between a digit's two strokes.
DIGIT_STROKES: dict[int, list[list[tuple[float, float]]]] = {
    0: [
        [(0.5, 0.0), (0.2, 0.15), (0.08, 0.5), (0.2, 0.85), (0.5, 1.0)],
        [(0.5, 1.0), (0.8, 0.85), (0.92, 0.5), (0.8, 0.15), (0.5, 0.0)],
    ],
    1: [[(0.3, 0.2), (0.55, 0.0)], [(0.55, 0.0), (0.55, 1.0)]],
    2: [[(0.1, 0.25), (0.35, 0.0), (0.75, 0.05), (0.85, 0.3), (0.6, 0.6)], [(0.6, 0.6), (0.1, 1.0), (0.95, 1.0)]],
    3: [[(0.1, 0.1), (0.5, 0.0), (0.85, 0.2), (0.45, 0.48)], [(0.45, 0.48), (0.9, 0.72), (0.5, 1.0), (0.1, 0.9)]],
    4: [[(0.6, 0.0), (0.05, 0.65), (0.95, 0.65)], [(0.7, 0.3), (0.7, 1.0)]],
    5: [[(0.85, 0.0), (0.2, 0.0)], [(0.2, 0.0), (0.15, 0.45), (0.6, 0.38), (0.9, 0.65), (0.6, 1.0), (0.1, 0.9)]],
    6: [[(0.75, 0.0), (0.3, 0.3), (0.1, 0.7)], [(0.1, 0.7), (0.4, 1.0), (0.85, 0.8), (0.6, 0.5), (0.15, 0.65)]],
    7: [[(0.05, 0.0), (0.95, 0.0)], [(0.95, 0.0), (0.4, 1.0)]],
    8: [
        [(0.8, 0.15), (0.5, 0.0), (0.2, 0.15), (0.5, 0.5), (0.85, 0.8)],
        [(0.85, 0.8), (0.5, 1.0), (0.15, 0.8), (0.5, 0.5), (0.8, 0.15)],
    ],
    9: [[(0.85, 0.2), (0.5, 0.0), (0.15, 0.25), (0.45, 0.5), (0.85, 0.3)], [(0.85, 0.2), (0.8, 1.0)]],
}


@dataclasses.dataclass(frozen=True)
class Drawing:
    """One digit as the canvas sends it, stroke by stroke: the widget's JSON value after each stroke."""

    digit: int
    values: tuple[str, ...]  # the canvas widget's json_value after stroke 1, 2, ...
    pngs: tuple[bytes, ...]  # the PNG in each value (the test reads it the page's way)


def mouse_points(
    points: list[tuple[float, float]], box: tuple[float, float, float, float], slant: float, rng: random.Random
) -> list[tuple[float, float]]:
    """A stroke as the mouse reports it: a point every ~8 canvas pixels along the template, a little shaky."""
    left, top, width, height = box
    placed = [(left + (x + slant * (1 - y)) * width, top + y * height) for x, y in points]
    path = [placed[0]]
    for (x0, y0), (x1, y1) in zip(placed, placed[1:], strict=False):
        steps = max(1, int(math.hypot(x1 - x0, y1 - y0) / 8))
        for step in range(1, steps + 1):
            f = step / steps
            path.append((x0 + (x1 - x0) * f + rng.uniform(-0.6, 0.6), y0 + (y1 - y0) * f + rng.uniform(-0.6, 0.6)))
    return [(min(max(x, 1.0), CANVAS - 1.0), min(max(y, 1.0), CANVAS - 1.0)) for x, y in path]


def fabric_path(points: list[tuple[float, float]]) -> dict:
    """The fabric.js Path object the canvas's free-drawing brush makes of these points (fabric 7's toObject)."""
    commands: list[list] = [["M", round(points[0][0], 6), round(points[0][1], 6)]]
    for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
        commands.append(["Q", round(x0, 6), round(y0, 6), round((x0 + x1) / 2, 6), round((y0 + y1) / 2, 6)])
    commands.append(["L", round(points[-1][0], 6), round(points[-1][1], 6)])
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return {
        "lockMovementX": False,
        "lockMovementY": False,
        "lockRotation": False,
        "lockScalingX": False,
        "lockScalingY": False,
        "lockSkewingX": False,
        "lockSkewingY": False,
        "lockScalingFlip": False,
        "type": "Path",
        "version": FABRIC_VERSION,
        "originX": "center",
        "originY": "center",
        "left": round((min(xs) + max(xs)) / 2, 4),
        "top": round((min(ys) + max(ys)) / 2, 4),
        "width": round(max(xs) - min(xs), 4),
        "height": round(max(ys) - min(ys), 4),
        "fill": None,
        "stroke": "#FFFFFF",
        "strokeWidth": PEN,
        "strokeDashArray": None,
        "strokeLineCap": "round",
        "strokeDashOffset": 0,
        "strokeLineJoin": "round",
        "strokeUniform": False,
        "strokeMiterLimit": 10,
        "scaleX": 1,
        "scaleY": 1,
        "angle": 0,
        "flipX": False,
        "flipY": False,
        "opacity": 1,
        "shadow": None,
        "visible": True,
        "backgroundColor": "",
        "fillRule": "nonzero",
        "paintFirst": "fill",
        "globalCompositeOperation": "source-over",
        "skewX": 0,
        "skewY": 0,
        "path": commands,
    }


def canvas_png(strokes: list[list[tuple[float, float]]]) -> bytes:
    """The canvas as `toDataURL("png")` gives it: 280x280 RGBA, opaque black, white round-capped strokes,
    anti-aliased (drawn at 4x and reduced)."""
    scale = 4
    image = Image.new("L", (CANVAS * scale, CANVAS * scale), 0)
    draw = ImageDraw.Draw(image)
    radius = PEN * scale / 2
    for stroke in strokes:
        scaled = [(x * scale, y * scale) for x, y in stroke]
        draw.line(scaled, fill=255, width=PEN * scale)
        for x, y in scaled:  # round caps and joins
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
    gray = image.resize((CANVAS, CANVAS), Image.Resampling.BOX)
    rgba = Image.merge("RGBA", (gray, gray, gray, Image.new("L", gray.size, 255)))
    buffer = io.BytesIO()
    rgba.save(buffer, format="PNG")
    return buffer.getvalue()


def canvas_value(objects: list[dict], png: bytes) -> str:
    """The canvas widget's JSON value, as the component's setStateValue("drawing", ...) serialises it."""
    data = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    drawing = {"raw": {"version": FABRIC_VERSION, "objects": objects, "background": "#000000"}, "data": data}
    return json.dumps({"drawing": drawing}, separators=(",", ":"))


def make_drawing(rng: random.Random) -> Drawing:
    """A random digit, large and roughly centred as the page asks, stroke by stroke."""
    digit = rng.randrange(10)
    height = rng.uniform(150, 210)
    width = height * rng.uniform(0.45, 0.7)
    box = (rng.uniform(30, CANVAS - 30 - width), rng.uniform(25, CANVAS - 25 - height), width, height)
    slant = rng.uniform(-0.1, 0.3)
    strokes = [mouse_points(points, box, slant, rng) for points in DIGIT_STROKES[digit]]
    values, pngs = [], []
    for count in range(1, len(strokes) + 1):
        png = canvas_png(strokes[:count])
        values.append(canvas_value([fabric_path(stroke) for stroke in strokes[:count]], png))
        pngs.append(png)
    return Drawing(digit, tuple(values), tuple(pngs))


def blank_canvas_value() -> str:
    """What the canvas sends when its toolbar's bin clears it."""
    return canvas_value([], canvas_png([]))


# ---- One browser, as the server sees it ---------------------------------------------------------------------


@dataclasses.dataclass
class Reply:
    """One message a learner sent and when the run it started finished."""

    kind: str  # "stroke", "clear", "page", "auto", "widget"
    sent: float
    seconds: float | None = None  # None: unanswered (a timeout)
    prediction: str | None = None  # the Prediction the page showed in that run (strokes)
    page_ms: float | None = None  # the page's own time for it, from its "The server answered in" caption
    drawing: Drawing | None = None
    stroke: int = 0  # 1-based: which stroke of the drawing
    future: asyncio.Future | None = None  # done when answered
    timed_out: bool = False


@dataclasses.dataclass
class Widget:
    element: object  # the widget's element proto (a Slider, a Button...)
    kind: str
    state: WidgetState | None  # None: the browser sends nothing for it (buttons, charts, an untouched canvas)
    run_id: str
    fragment_id: str
    script_hash: str


def default_state(kind: str, element) -> WidgetState | None:
    """The value the browser's widget registers for an element it has just drawn (or the value the server set)."""
    state = WidgetState(id=element.id)
    if kind in ("selectbox", "radio"):
        if element.set_value and element.raw_value:
            state.string_value = element.raw_value
        elif 0 <= element.default < len(element.options):
            state.string_value = element.options[element.default]
        else:
            return None
    elif kind == "slider":
        if element.options:  # a select_slider
            chosen = element.raw_value if element.set_value else [element.options[int(i)] for i in element.default]
            state.string_array_value.data.extend(chosen)
        else:
            state.double_array_value.data.extend(element.value if element.set_value else element.default)
    elif kind == "checkbox":
        state.bool_value = element.value if element.set_value else element.default
    elif kind == "button_group":
        chosen = element.raw_values if element.set_value else [element.options[i].content for i in element.default]
        state.string_array_value.data.extend(chosen)
    elif kind == "multiselect":
        chosen = element.raw_values if element.set_value else [element.options[i] for i in element.default]
        state.string_array_value.data.extend(chosen)
    elif kind == "number_input":
        value = element.value if element.set_value else element.default
        if element.data_type == element.DataType.INT:
            state.int_value = int(value)
        else:
            state.double_value = value
    elif kind == "file_uploader":
        state.file_uploader_state_value.SetInParent()
    else:
        return None
    return state


WIDGET_KINDS = {
    "selectbox",
    "radio",
    "slider",
    "checkbox",
    "button_group",
    "multiselect",
    "number_input",
    "file_uploader",
    "button",
    "download_button",
    "bidi_component",
    "plotly_chart",
}


class Learner:
    """One browser on the app: the page's HTTP requests, its websocket, its widget states and message cache."""

    def __init__(self, base_url: str, replies: list[Reply], errors: list[str]):
        self.base = base_url.rstrip("/")
        self.replies, self.errors = replies, errors
        self.http = AsyncHTTPClient(max_clients=1000)
        self.cookie = ""
        self.socket = None
        self.widgets: dict[str, Widget] = {}
        self.cache: dict[str, tuple[int, str, bytes]] = {}  # hash -> (run count when cached, fragment id, message)
        self.cache_runs = 0
        self.max_cache_age = 2
        self.main_script_hash = ""
        self.pages: dict[str, str] = {}  # url path -> page script hash
        self.page_hash = ""
        self.path = ""
        self.query = ""
        self.run_id = ""
        self.run_fragments: list[str] = []
        self.got_new_session = False
        self.pending: list[Reply] = []  # sent, waiting for a run that starts after it
        self.running: list[Reply] = []  # answered by the run now going
        self.prediction: str | None = None
        self.page_ms: float | None = None
        self.auto_reruns: dict[str, asyncio.Task] = {}
        self.media_seen: set[bytes] = set()
        self.canvas_strokes = 0
        self.closed = False
        self.reader: asyncio.Task | None = None

    # -- HTTP and the websocket --

    async def get(self, path: str) -> None:
        headers = {"User-Agent": USER_AGENT, **({"Cookie": self.cookie} if self.cookie else {})}
        try:
            response = await self.http.fetch(f"{self.base}{path}", headers=headers, request_timeout=TIMEOUT_SECONDS)
        except HTTPClientError as error:
            if error.code != 404:
                raise
            return
        for cookie in response.headers.get_list("Set-Cookie"):
            if cookie.startswith("_streamlit_xsrf="):
                self.cookie = cookie.split(";", 1)[0]

    async def open(self, path: str, query: str = "") -> Reply:
        """Load the page at `path` as a browser does: the HTML, health, host config (the XSRF cookie), then the
        websocket and the first script run."""
        self.path, self.query = path, query
        await self.get(f"/{path}" + (f"?{query}" if query else ""))
        await self.get("/_stcore/health")
        await self.get("/_stcore/host-config")
        parts = urlsplit(self.base)
        scheme = "wss" if parts.scheme == "https" else "ws"
        token = self.cookie.split("=", 1)[1] if self.cookie else ""
        request = HTTPRequest(
            f"{scheme}://{parts.netloc}/_stcore/stream",
            request_timeout=TIMEOUT_SECONDS,
            headers={
                "Origin": f"{parts.scheme}://{parts.netloc}",
                "User-Agent": USER_AGENT,
                "Cache-Control": "no-cache",
                "Pragma": "no-cache",
                "Accept-Language": "en-US,en;q=0.9",
                **({"Cookie": self.cookie} if self.cookie else {}),
            },
        )
        self.socket = await websocket_connect(
            request, subprotocols=["streamlit", token] if token else ["streamlit"], compression_options={}
        )
        self.reader = asyncio.create_task(self.read())
        return await self.rerun("page", page_name=path)

    async def close(self) -> None:
        """Wait for the answers still due (a timeout after TIMEOUT_SECONDS), then leave."""
        self.stop_auto_reruns()
        await asyncio.gather(*(self.answered(reply) for reply in [*self.pending, *self.running]))
        self.closed = True
        if self.socket is not None:
            self.socket.close()
        if self.reader is not None:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(self.reader, 5)

    def context_url(self) -> str:
        return f"{self.base}/{self.path}" + (f"?{self.query}" if self.query else "")

    async def rerun(
        self,
        kind: str,
        page_name: str = "",
        page_hash: str = "",
        fragment_id: str = "",
        auto: bool = False,
        triggers: tuple[WidgetState, ...] = (),
        wait: bool = True,
        query: str | None = None,
        **extra,
    ) -> Reply:
        """Send a rerun as the browser's WidgetStateManager does; wait for the run it starts to finish."""
        reply = Reply(kind, time.perf_counter(), future=asyncio.get_running_loop().create_future(), **extra)
        if self.closed:
            return reply
        message = BackMsg()
        client = message.rerun_script
        url = self.context_url()  # the address bar before the run
        if query is not None:  # a page link: the new page's own query string
            self.query = query
        client.query_string = self.query
        client.widget_states.SetInParent()
        client.widget_states.widgets.extend([w.state for w in self.widgets.values() if w.state is not None])
        client.widget_states.widgets.extend(triggers)
        if page_name:
            client.page_name = page_name
        else:
            client.page_script_hash = page_hash or self.page_hash
        if fragment_id:
            client.fragment_id = fragment_id
        client.is_auto_rerun = auto
        client.cached_message_hashes.extend(self.cache)
        info = client.context_info
        info.timezone, info.timezone_offset, info.locale = "UTC", 0, "en-US"
        info.url, info.is_embedded, info.color_scheme = url, False, "light"
        reply.sent = time.perf_counter()
        self.pending.append(reply)
        try:
            await self.socket.write_message(message.SerializeToString(), binary=True)
        except (WebSocketClosedError, AttributeError) as error:
            self.errors.append(f"send: {type(error).__name__}")
            self.pending.remove(reply)
            return reply
        if wait:
            await self.answered(reply)
        return reply

    async def answered(self, reply: Reply) -> None:
        """Wait for the reply's run to finish; unanswered TIMEOUT_SECONDS after it was sent, it is a timeout."""
        if reply.future.done() or reply.timed_out:
            return
        try:
            await asyncio.wait_for(asyncio.shield(reply.future), reply.sent + TIMEOUT_SECONDS - time.perf_counter())
        except TimeoutError:
            reply.timed_out = True
            self.replies.append(reply)

    # -- what the server sends --

    async def read(self) -> None:
        while True:
            payload = await self.socket.read_message()
            if payload is None:
                if not self.closed:
                    self.errors.append("the server closed the websocket")
                return
            try:
                self.receive(ForwardMsg.FromString(payload), payload)
            except Exception as error:  # a bug here must show, not hang the learner
                self.errors.append(f"client: {type(error).__name__}: {error}")

    def receive(self, message: ForwardMsg, payload: bytes) -> None:
        kind = message.WhichOneof("type")
        if kind == "ref_hash":
            cached = self.cache.get(message.ref_hash)
            if cached is None:
                self.errors.append(f"cached ForwardMsg miss {message.ref_hash}")
                return
            original = ForwardMsg.FromString(cached[2])
            original.metadata.CopyFrom(message.metadata)
            message, kind = original, original.WhichOneof("type")
        elif message.metadata.cacheable and message.hash and message.hash not in self.cache:
            fragment = message.delta.fragment_id if kind == "delta" else ""
            self.cache[message.hash] = (self.cache_runs, fragment, payload)
        if kind == "new_session":
            self.new_session(message)
        elif kind == "delta":
            self.delta(message)
        elif kind == "script_finished":
            self.script_finished(message)
        elif kind == "navigation":
            self.main_script_hash = self.main_script_hash or message.navigation.app_pages[0].page_script_hash
            for page in message.navigation.app_pages:
                self.pages[page.url_pathname] = page.page_script_hash
            self.page_hash = message.navigation.page_script_hash or self.page_hash
        elif kind == "page_info_changed":
            self.query = message.page_info_changed.query_string
        elif kind == "auto_rerun":
            self.start_auto_rerun(message.auto_rerun.fragment_id, message.auto_rerun.interval)
        elif kind == "stop_auto_rerun":
            for fragment in message.stop_auto_rerun.fragment_ids:
                self.stop_auto_reruns(fragment)
        elif kind == "session_event" and message.session_event.WhichOneof("type") == "script_compilation_exception":
            self.errors.append("script compilation exception")
        if kind == "delta" and MEDIA.search(payload):
            for url in set(MEDIA.findall(payload)) - self.media_seen:  # files a download button or image names
                self.media_seen.add(url)
                asyncio.get_running_loop().create_task(self.fetch_media(url.decode()))

    async def fetch_media(self, path: str) -> None:
        with contextlib.suppress(Exception):
            await self.get(path)

    def new_session(self, message: ForwardMsg) -> None:
        session = message.new_session
        self.got_new_session = True
        self.run_id = message.metadata.run.script_run_id
        self.run_fragments = list(message.metadata.run.fragment_ids)
        self.max_cache_age = session.config.max_cached_message_age or self.max_cache_age
        self.main_script_hash = session.main_script_hash or self.main_script_hash
        if session.page_script_hash:
            self.page_hash = session.page_script_hash
        if not self.run_fragments:
            self.stop_auto_reruns()
        self.running, self.pending = self.pending, []
        self.prediction = self.page_ms = None

    def delta(self, message: ForwardMsg) -> None:
        delta = message.delta
        if delta.WhichOneof("type") != "new_element":
            return
        element = delta.new_element
        kind = element.WhichOneof("type")
        if kind == "exception":
            self.errors.append(f"exception: {element.exception.type}: {element.exception.message[:160]}")
        elif kind == "metric" and element.metric.label == "Prediction":
            self.prediction = element.metric.body
        elif kind == "markdown" and (match := SERVER_TIME.search(element.markdown.body)):
            self.page_ms = float(match.group(1))
        elif kind in WIDGET_KINDS:
            proto = getattr(element, kind)
            if not proto.id:
                return
            known = self.widgets.get(proto.id)
            state = known.state if known is not None else None
            if state is None or getattr(proto, "set_value", False):
                state = default_state(kind, proto)
            self.widgets[proto.id] = Widget(
                proto, kind, state, self.run_id, delta.fragment_id, message.metadata.active_script_hash
            )

    def script_finished(self, message: ForwardMsg) -> None:
        status = message.script_finished
        if status == EARLY:  # another run follows at once: it answers them
            self.pending, self.running = self.running + self.pending, []
            return
        now = time.perf_counter()
        for reply in self.running:
            if not reply.timed_out:
                reply.seconds, reply.prediction, reply.page_ms = now - reply.sent, self.prediction, self.page_ms
                self.replies.append(reply)
                reply.future.set_result(None)
        self.running = []
        if status not in SUCCESS:
            self.errors.append(f"script run ended: {ForwardMsg.ScriptFinishedStatus.Name(status)}")
            return
        fragments = self.run_fragments
        # Widgets the run no longer drew (a fragment run: only the fragment's own) are forgotten, as is the
        # browser's cache of messages too old to be asked for again.
        self.widgets = {
            wid: w
            for wid, w in self.widgets.items()
            if w.run_id == self.run_id or (fragments and w.fragment_id not in fragments)
        }
        if self.got_new_session:
            self.cache_runs += 1
            self.cache = {
                h: entry
                for h, entry in self.cache.items()
                if (fragments and (not entry[1] or entry[1] not in fragments))
                or self.cache_runs - entry[0] <= self.max_cache_age
            }

    # -- auto-reruns (st.fragment(run_every=...)) --

    def start_auto_rerun(self, fragment_id: str, interval: float) -> None:
        if fragment_id in self.auto_reruns:
            return
        self.auto_reruns[fragment_id] = asyncio.get_running_loop().create_task(self.auto_rerun(fragment_id, interval))

    async def auto_rerun(self, fragment_id: str, interval: float) -> None:
        while not self.closed:  # setInterval: every `interval`, whether the last run has ended or not
            await asyncio.sleep(interval)
            asyncio.get_running_loop().create_task(self.rerun("auto", fragment_id=fragment_id, auto=True))

    def stop_auto_reruns(self, fragment_id: str | None = None) -> None:
        for fragment in [fragment_id] if fragment_id else list(self.auto_reruns):
            task = self.auto_reruns.pop(fragment, None)
            if task is not None:
                task.cancel()

    # -- what a person does --

    def widget(self, key: str) -> Widget | None:
        """The widget with this key (its id is "$$ID-<hash>-<key>")."""
        return next((w for wid, w in self.widgets.items() if wid.split("-", 2)[-1] == key), None)

    async def navigate(self, path: str) -> Reply:
        """A click on a page in the sidebar: only the frame's widgets keep their states."""
        self.stop_auto_reruns()
        self.widgets = {wid: w for wid, w in self.widgets.items() if w.script_hash == self.main_script_hash}
        self.media_seen.clear()  # the new page's download buttons fetch their files again
        reply = await self.rerun("page", page_hash=self.pages.get(path, ""), query="")
        self.path, self.canvas_strokes = path, 0
        return reply

    def set_state(self, widget: Widget, state: WidgetState) -> None:
        """A new value for a widget, as a user gives it (a widget that had none joins the end, as in a Map)."""
        state.id = widget.element.id
        if widget.state is None:
            self.widgets[widget.element.id] = self.widgets.pop(widget.element.id)
        widget.state = state

    async def set_widget(self, key: str, state: WidgetState) -> Reply | None:
        widget = self.widget(key)
        if widget is None:
            return None
        self.set_state(widget, state)
        return await self.rerun("widget", fragment_id=widget.fragment_id)

    async def click(self, key: str) -> Reply | None:
        widget = self.widget(key)
        if widget is None or widget.element.disabled:
            return None
        trigger = WidgetState(id=widget.element.id, trigger_value=True)
        return await self.rerun("widget", fragment_id=widget.fragment_id, triggers=(trigger,))

    async def send_canvas(self, kind: str, value: str, wait: bool, **extra) -> Reply | None:
        canvas = self.widget("canvas")
        waited = time.perf_counter()
        while canvas is None and time.perf_counter() - waited < TIMEOUT_SECONDS and not self.closed:
            await asyncio.sleep(0.1)  # the page is still being drawn (a run queued behind an auto-rerun, say)
            canvas = self.widget("canvas")
        if canvas is None:
            self.errors.append("no canvas on Draw & predict")
            return None
        self.set_state(canvas, WidgetState(json_value=value))
        return await self.rerun(kind, fragment_id=canvas.fragment_id, wait=wait, **extra)

    async def draw(self, drawing: Drawing, rng: random.Random, wait: bool = False) -> None:
        """Clear the canvas if it holds a digit, then draw this one stroke by stroke (each stroke one message)."""
        if self.canvas_strokes:
            await self.send_canvas("clear", BLANK, wait=wait)
            await asyncio.sleep(rng.uniform(*STROKE_SECONDS))
        for index, value in enumerate(drawing.values):
            await self.send_canvas("stroke", value, wait=wait, drawing=drawing, stroke=index + 1)
            self.canvas_strokes = index + 1
            if index + 1 < len(drawing.values):
                await asyncio.sleep(rng.uniform(*STROKE_SECONDS))


BLANK = blank_canvas_value()


# ---- A class --------------------------------------------------------------------------------------------


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
) -> None:
    """One learner's class: join, draw, look at other pages now and then; a trainer also trains."""
    rng = random.Random(index)
    await asyncio.sleep(join_seconds)
    deadline = start + seconds
    learner = Learner(url, replies, errors)
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


class ServerWatch:
    """The web server's CPU seconds and peak RSS over a window, sampled every second."""

    def __init__(self, pid: int | None):
        self.process = psutil.Process(pid) if pid else None
        self.peak_rss = 0.0
        self.cpu_start = self.cpu()

    def cpu(self) -> float:
        if self.process is None:
            return 0.0
        times = self.process.cpu_times()
        return times.user + times.system

    def sample(self) -> None:
        if self.process is not None:
            with contextlib.suppress(psutil.Error):
                self.peak_rss = max(self.peak_rss, self.process.memory_info().rss / 2**20)

    async def watch(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.sample()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)


def cluster_pss_mb(model_dir: str | None) -> float | None:
    """PSS of the embedded training cluster and its workers (pages they share counted once), in MB."""
    if not model_dir:
        return None
    pid = TrainingCluster(state_dir=model_dir).embedded_pid()
    if pid is None:
        return None
    total = 0.0
    with contextlib.suppress(psutil.Error):
        root = psutil.Process(pid)
        for process in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                total += process.memory_full_info().pss
    return total / 2**20


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
            "server_rss_mb": None if self.server_rss_mb is None else round(self.server_rss_mb),
            "seconds": round(self.seconds, 1),
        }


async def run_class(
    url: str,
    learners: int,
    trainings: int,
    seconds: float,
    server: int | None,
    model_dir: str | None,
    pool: list[Drawing],
) -> Result:
    """`learners` learners (the first `trainings` of them training) on the app at `url` for `seconds`."""
    replies: list[Reply] = []
    errors: list[str] = []
    trainers = [Trainer() for _ in range(trainings)]
    watch = ServerWatch(server)
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
        server_cpu_s=watch.cpu() - watch.cpu_start if server else None,
        server_rss_mb=watch.peak_rss if server else None,
        cluster_pss_mb=cluster_pss_mb(model_dir),
        client_cpu_s=sum(me.cpu_times()[:2]) - client_cpu,
        load_before=load_before,
        load_after=os.getloadavg(),
        run_ids=[run_id for trainer in trainers for run_id in trainer.run_ids],
    )


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
    if result.server_cpu_s is not None:
        print(
            f"  web server: {result.server_cpu_s:.1f} CPU s ({result.server_cpu_s / result.seconds:.2f} cores), "
            f"peak RSS {result.server_rss_mb:.0f} MB"
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
        )


def knee(results: list[Result]) -> None:
    print("\nlearners | strokes | errors | p50 ms | p95 ms | p99 ms | server CPU (cores) | peak RSS MB | load avg")
    for result in results:
        s = result.summary()
        cores = f"{result.server_cpu_s / result.seconds:.2f}" if result.server_cpu_s is not None else "-"
        print(
            f"{s['learners']:8} | {s['strokes']:7} | {s['errors']:6} | {s['p50_ms']} | {s['p95_ms']} | "
            f"{s['p99_ms']} | {cores} | {s['server_rss_mb']} | {result.load_after[0]:.2f}"
        )
    for target in TARGET_MS:
        over = next((r.learners for r in results if (r.summary()["p95_ms"] or 0) > target), None)
        print(f"p95 crosses {target} ms at: {over if over else 'not within the sweep'} learners")


def prepare_store(folder: str) -> None:
    """The seed notebook's network, trained on all of MNIST into `folder` (what the class draws on)."""
    from core.config import SEED
    from core.runs import LocalReporter, TrainingRequest
    from core.store import new_run_id
    from core.training import run_training

    progress = run_training(TrainingRequest(new_run_id(), SEED, "mnist", store_root=folder), LocalReporter())
    print(f"seed model ready: test accuracy {progress.result.test_accuracy:.2%}")


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


def make_pool(count: int = 40, seed: int = 0) -> list[Drawing]:
    rng = random.Random(seed)
    return [make_drawing(rng) for _ in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--learners", type=int, default=30)
    parser.add_argument("--trainings", type=int, default=2, help="learners who keep a full-MNIST run training")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--url", help="an app already running (else one is started on a fresh model folder)")
    parser.add_argument("--sweep", action="store_true", help=f"{', '.join(map(str, SWEEP))} learners in turn")
    parser.add_argument("--profile", help="sample the web server with py-spy into this .svg (or .txt: raw stacks)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # a kill ends it as Ctrl-C does: server and cluster too
    pool = make_pool()
    counts = SWEEP if args.sweep else (args.learners,)
    with contextlib.ExitStack() as stack:
        if args.url:
            url = args.url
            server, model_dir = local_server(url)
        else:
            model_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="digitlab-class-"))
            prepare_store(model_dir)
            env = {MODEL_DIR_ENV: model_dir}
            app = AppServer(env).start()
            stack.callback(shut_down_embedded_cluster, env)
            stack.callback(app.stop)
            url = app.url
            server, _ = local_server(url)
        print(f"app at {url}, web server pid {server}, model folder {model_dir}")
        results = []
        for learners in counts:
            if args.profile and server:
                profiler = start_profiler(server, args.profile, args.seconds)
                stack.callback(profiler.wait, 60)
            result = asyncio.run(run_class(url, learners, args.trainings, args.seconds, server, model_dir, pool))
            report(result, model_dir)
            print(json.dumps(result.summary()))
            results.append(result)
            if args.sweep:
                time.sleep(5)  # the last class's sessions close
        if args.sweep:
            knee(results)
        print(json.dumps(results[-1].summary()))


if __name__ == "__main__":
    main()
