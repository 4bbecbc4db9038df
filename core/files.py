"""Files in the model folder, written safely: one lock, one atomic replace, one small JSON file.

Every writer of the model folder uses these. A reader never sees half a file (each is written under a temporary
name and renamed into place), and writers on several threads, processes and servers take turns (a file lock).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
from pathlib import Path

from core.state import TEMPORARY_PREFIX


@contextlib.contextmanager
def replacing(path: Path, durable: bool = True):
    """Yields a temporary path beside `path` (with its suffix: Keras saves only to a .keras name); what is written
    there replaces `path` whole, or not at all. `durable`: flushed to disk before the rename."""
    temporary = path.with_name(f"{TEMPORARY_PREFIX}{secrets.token_hex(3)}-{path.name}")
    try:
        yield temporary
        if durable:
            with open(temporary, "rb") as file:
                os.fsync(file.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_atomically(path: Path, data: bytes | str, durable: bool = True) -> None:
    """Replace `path` with `data`, whole or not at all."""
    with replacing(path, durable) as temporary:
        if isinstance(data, str):
            temporary.write_text(data)
        else:
            temporary.write_bytes(data)


@contextlib.contextmanager
def locked(path: Path):
    """One holder at a time, across threads, processes and servers sharing the folder (a file lock at `path`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as file:
        fcntl.flock(file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(file, fcntl.LOCK_UN)


def lock_path(path: Path) -> Path:
    """The lock file that guards `path`: hidden, beside it."""
    return path.with_name(f".{path.name}.lock")


class JsonFile:
    """A small JSON object in the model folder (names, the class's challenge), read whole and replaced whole."""

    def __init__(self, path: Path | str):
        self.path = Path(path)

    def read(self) -> dict:
        try:
            values = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return values if isinstance(values, dict) else {}

    @contextlib.contextmanager
    def updating(self):
        """Yields the object to change in place; it is written back whole when the block ends."""
        with locked(lock_path(self.path)):
            values = self.read()
            yield values
            write_atomically(self.path, json.dumps(values, ensure_ascii=False, indent=1))


def fsync_folder(folder: Path) -> None:
    """Flush every file of a folder to disk before it is renamed into place."""
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as file:
                os.fsync(file.fileno())
