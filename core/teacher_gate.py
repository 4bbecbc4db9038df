"""The teacher's key: what opens the Teacher page, and how many wrong keys anyone may try.

Wrong keys are counted in the model folder (every server and replica sees them), three ways, because a browser's
cookie is the client's to throw away (a private window, a script that sends none):
- per browser (its owner id): 5 a minute, then it waits out the minute;
- per network address, where the server knows one: 10 a minute, then it waits out the minute;
- for everyone together: 20 a minute, then nobody may try for a minute, then 2, 4, ... (at most an hour) each time
  the limit is reached again; the count of lockouts starts over after an hour without one.
A key shorter than MIN_KEY_CHARACTERS does not open the page at all: the page says so and how to set another.
"""

from __future__ import annotations

import hmac
import math
import time
from pathlib import Path

from core.files import JsonFile
from core.owners import owner_key
from core.state import ATTEMPTS_FILE

TEACHER_KEY_ENV = "DIGITLAB_TEACHER_KEY"
MIN_KEY_CHARACTERS = 12
WINDOW_SECONDS = 60
PER_BROWSER = 5
PER_ADDRESS = 10
PER_EVERYONE = 20
LONGEST_LOCKOUT_SECONDS = 3600


def key_matches(given: str, expected: str) -> bool:
    """Compared in constant time (a wrong key's first letters say nothing)."""
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def key_problem(key: str) -> str | None:
    """Why a configured key must not open the page (too short to resist guessing), or None."""
    if len(key) < MIN_KEY_CHARACTERS:
        return (
            f"The teacher key set on this server has {len(key)} characters; it needs at least {MIN_KEY_CHARACTERS}, "
            "or a script could guess it. Set a longer one and restart the server."
        )
    return None


class TeacherGate:
    """Wrong keys over the last minute per browser, per address and for everyone, and the lockout they lead to."""

    def __init__(self, root: Path | str):
        self.file = JsonFile(Path(root) / ATTEMPTS_FILE)

    def wait_seconds(self, owner: str, address: str | None = None, now: float | None = None) -> int:
        """How long this browser must wait before its next try (0: it may try now)."""
        now = now or time.time()
        attempts = self.file.read()
        waits = [
            _window_wait(attempts.get("browsers", {}).get(owner_key(owner), []), PER_BROWSER, now),
            _window_wait(attempts.get("addresses", {}).get(address or "", []), PER_ADDRESS, now) if address else 0,
            math.ceil(attempts.get("locked_until", 0) - now),
        ]
        return max(0, *waits)

    def try_key(self, owner: str, given: str, expected: str, address: str | None = None, now=None) -> bool:
        """Whether the key opens the view; a wrong one is counted. Call only when wait_seconds is 0."""
        if key_matches(given, expected):
            return True
        now = now or time.time()
        with self.file.updating() as attempts:
            browsers = _recent(attempts.setdefault("browsers", {}), now)
            browsers[owner_key(owner)] = [*browsers.get(owner_key(owner), []), now]
            addresses = _recent(attempts.setdefault("addresses", {}), now)
            if address:
                addresses[address] = [*addresses.get(address, []), now]
            everyone = [moment for moment in attempts.get("everyone", []) if now - moment < WINDOW_SECONDS] + [now]
            if now - attempts.get("last_lockout", 0) > LONGEST_LOCKOUT_SECONDS:
                attempts["lockouts"] = 0
            if len(everyone) >= PER_EVERYONE:
                lockout = min(WINDOW_SECONDS * 2 ** attempts.get("lockouts", 0), LONGEST_LOCKOUT_SECONDS)
                attempts.update(locked_until=now + lockout, last_lockout=now, lockouts=attempts.get("lockouts", 0) + 1)
                everyone = []
            attempts["everyone"] = everyone
        return False


def _recent(by_who: dict[str, list[float]], now: float) -> dict[str, list[float]]:
    """Keep each one's tries within the window; forget whoever has none left."""
    for who in list(by_who):
        by_who[who] = [moment for moment in by_who[who] if now - moment < WINDOW_SECONDS][-PER_EVERYONE:]
        if not by_who[who]:
            del by_who[who]
    return by_who


def _window_wait(moments: list[float], limit: int, now: float) -> int:
    recent = [moment for moment in moments if now - moment < WINDOW_SECONDS]
    return math.ceil(WINDOW_SECONDS - (now - min(recent))) if len(recent) >= limit else 0
