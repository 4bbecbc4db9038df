"""The real app as a user starts it: `streamlit run app.py` in a process of its own, on a loopback port."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from harness.waiting import wait_until

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts" / "screenshots"
TEACHER_KEY = "a-teacher-key-for-tests"  # the session app's DIGITLAB_TEACHER_KEY


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(url: str) -> bool:
    """Whether a Streamlit server (or a proxy in front of one) answers its health check at `url`."""
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def app_environment() -> dict[str, str]:
    """This process's environment, less a test's training-cluster address: the real app starts its own."""
    return {name: value for name, value in os.environ.items() if name != "DIGITLAB_DASK_SCHEDULER"}


class AppServer:
    """A real `streamlit run app.py` on a loopback port, in a process group of its own, so that a test can kill -9
    it as a crash would and start it again on the same port. `line` is a shell command line that starts the app
    (the README's, say); the server flags are added after it."""

    def __init__(
        self,
        env: dict[str, str] | None = None,
        line: str | None = None,
        port: int | None = None,
        flags: tuple[str, ...] = (),
    ):
        self.env = {**app_environment(), **(env or {})}
        self.line = line or f"{sys.executable} -m streamlit run app.py"
        self.port = port or free_port()
        self.flags = flags
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        ARTIFACTS.parent.mkdir(parents=True, exist_ok=True)
        self.log_path = ARTIFACTS.parent / f"streamlit-{self.port}.log"

    def start(self, timeout: float = 60.0) -> AppServer:
        flags = [
            "--server.headless",
            "true",
            "--server.port",
            str(self.port),
            "--server.address",
            "127.0.0.1",
            *self.flags,
        ]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                ["bash", "-c", f"{self.line} {' '.join(flags)}"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        with contextlib.suppress(AssertionError):
            wait_until(lambda: self.process.poll() is not None or answers(self.url), timeout, "the app to answer")
        if self.process.poll() is not None or not answers(self.url):
            raise RuntimeError(f"Streamlit did not start: {self.log_path.read_text()[-2000:]}")
        return self

    def kill(self) -> None:
        """kill -9 the server, as a crash or an out-of-memory kill would (its training cluster is not its child)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()


def readme_lines(marker: str) -> list[str]:
    """The command lines of the README's bash block after `<!-- marker`, as written."""
    block = (ROOT / "README.md").read_text().split(f"<!-- {marker}")[1]
    return [line.strip() for line in block.split("```bash")[1].split("```")[0].strip().splitlines()]


def term_server_line() -> str:
    """The README's command line for a server that a class uses for a term (`<!-- term-server -->`)."""
    return readme_lines("term-server")[0]


@contextmanager
def running_app(env: dict[str, str] | None = None, startup_timeout: float = 60.0):
    """`streamlit run app.py` on a free loopback port; yields its base URL."""
    server = AppServer(env).start(startup_timeout)
    try:
        yield server.url
    finally:
        server.stop()
        shut_down_embedded_cluster(env)


def shut_down_embedded_cluster(env: dict[str, str] | None) -> None:
    """An app's embedded training cluster outlives it on purpose (it closes itself minutes later): end it now."""
    from core.cluster_client import TrainingCluster
    from core.store import MODEL_DIR_ENV

    model_dir = (env or {}).get(MODEL_DIR_ENV) or os.environ.get(MODEL_DIR_ENV)
    if model_dir and "DIGITLAB_DASK_SCHEDULER" not in (env or {}):
        TrainingCluster(state_dir=model_dir).shutdown()


# ---- Whole pages: settled, audited ------------------------------------------------------------------------
