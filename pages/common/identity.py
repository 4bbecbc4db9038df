"""Who this browser is: its owner id, from the token in Streamlit's XSRF cookie (core.owners hashes it)."""

from __future__ import annotations

import binascii
import uuid

import streamlit as st

from core.owners import owner_id
from core.state import SESSION_OWNER_KEY

XSRF_COOKIE = "_streamlit_xsrf"  # Streamlit's per-browser cookie; tests/test_streamlit_hooks.py checks it


def browser_owner() -> str:
    """Who owns the runs this browser starts: the same across reloads and tabs, unguessable by anyone else.

    Streamlit's XSRF cookie carries a random per-browser token (masked anew on every response, so it is unmasked
    here); only its hash is kept (core.owners). Without the cookie (AppTest, XSRF protection off) it is this
    session's own random id.
    """
    token = xsrf_token(st.context.cookies.get(XSRF_COOKIE, ""))
    if token is not None:
        return owner_id(token)
    return st.session_state.setdefault(SESSION_OWNER_KEY, owner_id(uuid.uuid4().bytes))


def xsrf_token(cookie: str) -> bytes | None:
    """The token inside a version-2 XSRF cookie ("2|mask|masked token|timestamp"), or None."""
    parts = cookie.strip("\"'").split("|")
    if len(parts) != 4 or parts[0] != "2":
        return None
    try:
        mask, masked = binascii.a2b_hex(parts[1]), binascii.a2b_hex(parts[2])
    except (binascii.Error, ValueError):
        return None
    if len(mask) != 4 or len(masked) < 8:
        return None
    return bytes(byte ^ mask[index % 4] for index, byte in enumerate(masked))


def browser_address() -> str | None:
    """The network address this browser's connection comes from, when the server knows one (behind a proxy: the
    proxy's); None otherwise."""
    address = st.context.ip_address
    return address if isinstance(address, str) and address else None
