"""Learners' display names, without accounts: one per browser (its owner hash), kept in the model folder.

A name is hostile input: cleaned to one line of at most MAX_NAME_CHARACTERS printable characters here, and
escaped by every page that shows it. A browser that never gave one is "Learner NNNN", from its owner hash.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

from core.files import JsonFile
from core.owners import owner_key
from core.state import NAMES_FILE

MAX_NAME_CHARACTERS = 40


class NameRefused(ValueError):
    """A name that cannot be used; the message is meant for the user."""


def clean_name(text: str) -> str:
    """One line of printable text, spaces collapsed, at most MAX_NAME_CHARACTERS; NameRefused if none is left."""
    spaced = " ".join(str(text)[: 4 * MAX_NAME_CHARACTERS].split())
    name = "".join(char for char in spaced if char == " " or not unicodedata.category(char).startswith(("C", "Z")))
    name = " ".join(name.split())
    if not name:
        raise NameRefused("A name needs at least one letter or digit.")
    if len(name) > MAX_NAME_CHARACTERS:
        raise NameRefused(f"A name has at most {MAX_NAME_CHARACTERS} characters, not {len(name)}.")
    return name


def generated_name(owner: str) -> str:
    """The name of a browser that gave none: the same on every visit, from its owner hash."""
    try:
        number = int(owner[:8], 16) % 9000 + 1000
    except ValueError:
        number = sum(owner.encode()) % 9000 + 1000
    return f"Learner {number}"


class NameBook:
    """Names by owner id in `root`/names.json."""

    def __init__(self, root: Path | str):
        self.file = JsonFile(Path(root) / NAMES_FILE)

    def all(self) -> dict[str, str]:
        return self.file.read()

    def name_of(self, owner: str) -> str:
        """The owner's chosen name, or its generated one."""
        return str(self.all().get(owner_key(owner)) or generated_name(owner))

    def set(self, owner: str, text: str) -> str:
        """Keep the owner's name (cleaned; NameRefused when it cannot be used); returns it."""
        name = clean_name(text)
        with self.file.updating() as names:
            names[owner_key(owner)] = name
        return name
