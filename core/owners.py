"""Who owns a run, a sweep, a name or a labelled digit: a browser, told apart without an account.

A browser's owner id is a hash of the random token in Streamlit's XSRF cookie (the same on every replica and
after a reload), cut to OWNER_CHARACTERS hex digits: unguessable, never shown. It is computed here and nowhere
else, and stored in that one form everywhere; `owner_key` reads ids stored in full by earlier versions.
"""

from __future__ import annotations

import hashlib

OWNER_CHARACTERS = 16  # 64 bits: enough to tell a class's browsers apart, short enough to store per digit
SALT = b"digit-lab-owner:"


def owner_id(token: bytes) -> str:
    """The owner id of a browser token (or of a session's own random id where a browser sends no cookie)."""
    return hashlib.sha256(SALT + token).hexdigest()[:OWNER_CHARACTERS]


def owner_key(stored: str) -> str:
    """An owner id as stored anywhere, in the one form ids are compared in (earlier versions kept all 64 digits)."""
    return str(stored or "")[:OWNER_CHARACTERS]
