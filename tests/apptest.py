"""Open the app's scripts in Streamlit's AppTest (no browser, real widgets and state)."""

from __future__ import annotations

import functools
import re
from pathlib import Path

from streamlit.components.v2.component_manager import BidiComponentManager
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 180


def open_page(script: str, query: dict[str, str] | None = None, **state) -> AppTest:
    """Run `script` (e.g. "pages/model.py") once, with URL query parameters and session state preset."""
    app = AppTest.from_file(str(ROOT / script), default_timeout=TIMEOUT)
    app._bidi_component_manager = installed_components()  # else each AppTest reads every package's metadata again
    app.query_params.update(query or {})
    for key, value in state.items():
        app.session_state[key] = value
    return app.run()


@functools.cache
def installed_components() -> BidiComponentManager:
    """The installed packages' Streamlit components, found once for the session: AppTest looks for them in every
    installed package's metadata, 0.25 s for each new AppTest here."""
    manager = BidiComponentManager()
    manager.discover_and_register_components(start_file_watching=False)
    return manager


def plain(markdown: str) -> str:
    """What an escaped Markdown string shows: its text without the backslash escapes."""
    return re.sub(r"\\(.)", r"\1", markdown)
