"""Writers of the model folder killed midway (SIGKILL, as the machine going down would): what they were writing is
never found half-written under its real name, and what they left behind is cleared by the store's clean-up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from core.state import SPOOL_FOLDER, TEMPORARY_PREFIX
from core.store import STALE_PARTIAL_SECONDS, RunStore
from harness.waiting import wait_until

ROOT = Path(__file__).resolve().parent.parent
# Each writer, run in a process of its own whose rename never comes (os.replace hangs): it is killed there.
WRITERS = {
    "a recovered run's record": """
        from core.store import RunStore
        RunStore(root).clean_up()
    """,
    "an upload spooled for its task": """
        from core.tasks import Task
        Task(None, root / ".uploads", "class.zip", print, b"z" * 1_000_000)
    """,
    "an imported dataset": """
        from core.data import load_dataset
        from core.zip_import import save_uploaded_dataset
        import dataclasses
        save_uploaded_dataset(dataclasses.replace(load_dataset("digits"), name="uploaded:ours"), root / "datasets")
    """,
}
TARGETS = {
    "a recovered run's record": "20250101-000000-abcdef/run.json",
    "an upload spooled for its task": f"{SPOOL_FOLDER}/[!.]*.upload",
    "an imported dataset": "datasets/ours.npz",
}


def orphan_run(root: Path) -> None:
    """A run folder whose record was lost (its model survived): clean-up recovers it under a new record."""
    from core.config import SEED
    from core.model import build_model, model_to_bytes

    folder = root / "20250101-000000-abcdef"
    folder.mkdir(parents=True)
    (folder / "model.keras").write_bytes(model_to_bytes(build_model(SEED, (64,))))
    old = time.time() - 2 * STALE_PARTIAL_SECONDS
    os.utime(folder, (old, old))


@pytest.mark.parametrize("writer", list(WRITERS))
def test_a_writer_killed_before_its_rename_leaves_nothing_half_written(model_dir, writer):
    if writer == "a recovered run's record":
        orphan_run(model_dir)
    script = textwrap.dedent("""
        import os, sys, time
        from pathlib import Path
        os.replace = lambda *args: time.sleep(600)  # the rename never comes: the test kills the writer here
        root = Path(sys.argv[1])
    """) + textwrap.dedent(WRITERS[writer])
    process = subprocess.Popen([sys.executable, "-c", script, str(model_dir)], cwd=ROOT)
    try:
        wait_until(lambda: list(model_dir.rglob(f"{TEMPORARY_PREFIX}*")), 60, "the writer's temporary file")
        time.sleep(0.5)  # well into its write
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        process.kill()
    assert list(model_dir.glob(TARGETS[writer])) == []  # never half a file under its real name
    [leftover] = list(model_dir.rglob(f"{TEMPORARY_PREFIX}*"))
    old = time.time() - 2 * STALE_PARTIAL_SECONDS
    os.utime(leftover, (old, old))
    done = RunStore(model_dir).clean_up()  # the next server's start
    assert not leftover.exists() and any(leftover.name in line for line in done)
