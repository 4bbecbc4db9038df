"""A browser as the server sees it: Streamlit's own protocol spoken to the real app (its HTTP requests and XSRF
cookie, the websocket, BackMsg / ForwardMsg, the widget states and message cache a browser keeps)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import re
import time
from urllib.parse import urlsplit

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.websocket import WebSocketClosedError, websocket_connect

from harness.drawing import Drawing, blank_canvas_value
from harness.widget_states import WIDGET_KINDS, Widget, default_state

STROKE_SECONDS = (0.45, 0.9)  # from one stroke's send to the next (drawing it, then the canvas's 200 ms wait)

TIMEOUT_SECONDS = 30.0  # a message unanswered this long is a timeout


USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/143.0.0.0 Safari/537.36"


SUCCESS = {
    ForwardMsg.ScriptFinishedStatus.FINISHED_SUCCESSFULLY,
    ForwardMsg.ScriptFinishedStatus.FINISHED_FRAGMENT_RUN_SUCCESSFULLY,
}


EARLY = ForwardMsg.ScriptFinishedStatus.FINISHED_EARLY_FOR_RERUN


MEDIA = re.compile(rb"/media/[0-9a-f]{16,}\.[a-z0-9]{2,5}")


SERVER_TIME = re.compile(r"The server answered in ([\d.]+) ms")


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
    page: str = ""  # the page opened (kind "page")
    fragment_id: str = ""  # the fragment the rerun asked for ("" for the whole page)


class Learner:
    """One browser on the app: the page's HTTP requests, its websocket, its widget states and message cache."""

    def __init__(self, base_url: str, replies: list[Reply], errors: list[str], source_address: str | None = None):
        self.base = base_url.rstrip("/")
        self.replies, self.errors = replies, errors
        self.source_address = source_address  # the client address it connects from (a proxy may route on it)
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
            response = await self.http.fetch(
                f"{self.base}{path}",
                headers=headers,
                request_timeout=TIMEOUT_SECONDS,
                network_interface=self.source_address,
            )
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
            network_interface=self.source_address,
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
        return await self.rerun("page", page_name=path, page=path)

    async def close(self) -> None:
        """Wait for the answers still due (a timeout after TIMEOUT_SECONDS), then leave. A browser leaving does not
        wait for its timers' auto-reruns, and Streamlit drops one silently when it arrives while a whole-page run has
        not yet drawn its fragment again ("The fragment with id ... does not exist anymore"): otherwise the next
        auto-rerun of that fragment answers it, but not after leaving, so those still pending are not waited for."""
        self.stop_auto_reruns()
        self.pending = [reply for reply in self.pending if reply.kind != "auto"]
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
        future = asyncio.get_running_loop().create_future()
        reply = Reply(kind, time.perf_counter(), future=future, fragment_id=fragment_id, **extra)
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
            if reply.kind == "auto" and self.closed:
                return  # left behind at close (see `close`)
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
        # A whole-page run answers everything sent before it; a fragment's run only what asked for that fragment
        # (another fragment's auto-rerun may start between a stroke's send and its own run).
        answers, waiting = [], []
        for reply in self.pending:
            (answers if not self.run_fragments or reply.fragment_id in self.run_fragments else waiting).append(reply)
        self.running, self.pending = answers, waiting
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
        reply = await self.rerun("page", page_hash=self.pages.get(path, ""), query="", page=path)
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
