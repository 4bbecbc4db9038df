"""docs/deploy.md's nginx configuration, run as written in front of replicas on this machine (tests and benches)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

from harness.server import ROOT, answers, free_port
from harness.waiting import wait_until

DEPLOY_DOC = ROOT / "docs" / "deploy.md"
NGINX_MARKER = "<!-- nginx-config: tests/test_browser_replicas.py runs this configuration -->"
REPLICA_PLACEHOLDERS = ("127.0.0.1:8501", "127.0.0.1:8502")
LISTEN_PLACEHOLDER = "listen 8080;"


class ProxyError(RuntimeError):
    """The documented configuration cannot be run, or nginx did not start."""


def nginx_binary() -> str | None:
    """nginx's path, or None when it is not installed (Debian: apt-get install nginx)."""
    return shutil.which("nginx") or next((path for path in ("/usr/sbin/nginx",) if Path(path).exists()), None)


def documented_nginx_config() -> str:
    """The one ```nginx block after the marker in docs/deploy.md."""
    text = DEPLOY_DOC.read_text()
    if NGINX_MARKER not in text:
        raise ProxyError(f"{DEPLOY_DOC} lost its marker line {NGINX_MARKER!r}")
    match = re.match(r"\s*```nginx\n(.*?)\n```", text.split(NGINX_MARKER, 1)[1], re.DOTALL)
    if not match:
        raise ProxyError("the marker line must be followed by a ```nginx block")
    return match.group(1)


def runnable_nginx_config(folder: Path, replica_ports: tuple[int, int], proxy_port: int) -> str:
    """The documented http-level configuration with these ports, inside the top level nginx needs, with every file
    in `folder` (nothing under /var). Two additions at the http level, which the documented server inherits: the
    upstream each request went to in the access log, and X-Forwarded-For from loopback taken as the client's
    address, so that a test can pose as many clients."""
    block = documented_nginx_config()
    if re.search(r"^\s*(http|events)\s*\{", block, re.MULTILINE):
        raise ProxyError("the doc must show the http-level part only")
    for placeholder in (*REPLICA_PLACEHOLDERS, LISTEN_PLACEHOLDER):
        if block.count(placeholder) != 1:
            raise ProxyError(f"the documented config must name {placeholder!r} once")
    for placeholder, port in zip(REPLICA_PLACEHOLDERS, replica_ports, strict=True):
        block = block.replace(placeholder, f"127.0.0.1:{port}")
    block = block.replace(LISTEN_PLACEHOLDER, f"listen 127.0.0.1:{proxy_port};")
    temp_paths = "\n".join(
        f"    {kind}_temp_path {folder / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    user = "user root root;\n" if os.geteuid() == 0 else ""  # workers must reach the temp paths in a private folder
    return f"""{user}worker_processes 1;
pid {folder / "nginx.pid"};
error_log {folder / "error.log"} info;
events {{
    worker_connections 1024;
}}
http {{
    log_format replicas '$remote_addr $upstream_addr $status "$request"';
    access_log {folder / "access.log"} replicas;
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Forwarded-For;
{temp_paths}

{block}
}}
"""


@contextlib.contextmanager
def running_nginx(binary: str, folder: Path, replica_ports: tuple[int, int]) -> Iterator[str]:
    """nginx with the documented configuration in front of the replicas on `replica_ports`, its files in `folder`;
    yields its URL, and ends it on exit."""
    port = free_port()
    config = folder / "nginx.conf"
    config.write_text(runnable_nginx_config(folder, replica_ports, port))
    with open(folder / "nginx.out", "wb") as out:
        process = subprocess.Popen(
            [binary, "-p", str(folder), "-c", str(config), "-g", "daemon off;"],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        with contextlib.suppress(AssertionError):
            wait_until(lambda: process.poll() is not None or answers(url), 15, "nginx to answer", every=0.2)
        if process.poll() is not None or not answers(url):
            logs = (folder / "nginx.out").read_text() + (folder / "error.log").read_text(errors="replace")
            raise ProxyError(f"nginx did not start:\n{logs[-3000:]}")
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
