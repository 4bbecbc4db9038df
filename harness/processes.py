"""The app's processes measured from outside: which process serves a URL, its memory and CPU, the training
cluster's memory; and percentiles of the timings."""

from __future__ import annotations

import contextlib

import psutil

from core.cluster_client import TrainingCluster


def process_tree_mb(pid: int) -> tuple[float, float]:
    """(RSS of the process; PSS of its descendants, the training cluster and its workers), in MB.
    PSS counts each page once across them: workers share what they forked from the cluster's forkserver."""
    process = psutil.Process(pid)
    children = sum(child.memory_full_info().pss for child in process.children(recursive=True))
    return process.memory_info().rss / 2**20, children / 2**20


def cpu_seconds(server: int) -> dict[str, float]:
    """CPU seconds used so far by the web server, by its training cluster, and by this script's Chromium."""

    def used(processes) -> float:
        total = 0.0
        for process in processes:
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                total += times.user + times.system
        return total

    web = psutil.Process(server)
    browsers = [p for p in psutil.Process().children(recursive=True) if "chrom" in p.name().lower()]
    return {
        "web server": used([web]),
        "training cluster": used(web.children(recursive=True)),
        "Chromium": used(browsers),
    }


def server_pid(url: str) -> int:
    port = url.rsplit(":", 1)[1]
    for process in psutil.process_iter(["cmdline"]):
        if "--server.port" in (cmdline := process.info["cmdline"] or []) and port in cmdline:
            return process.pid
    raise RuntimeError("the app's process was not found")


def percentile(values: list[float], share: float) -> float:
    return values[min(len(values) - 1, round(share / 100 * (len(values) - 1)))]


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


def process_tree(pid: int) -> list[psutil.Process]:
    """A process and all its descendants, now (they can be watched after their parent is gone)."""
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def gone(processes: list[psutil.Process]) -> bool:
    """None of them runs any more (a zombie has exited; only its parent's reaping is left)."""
    return not any(running(process) for process in processes)


def running(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


ALLOCATORS = ("tcmalloc", "jemalloc")  # preloaded in place of glibc's malloc


def memory_allocator(pid: int) -> str:
    """The malloc a process runs on: a preloaded one it has mapped ("tcmalloc", "jemalloc"), else "glibc"."""
    with open(f"/proc/{pid}/maps") as maps:
        mapped = maps.read()
    return next((name for name in ALLOCATORS if f"lib{name}" in mapped), "glibc")
