"""The frame around every page: two Streamlit behaviours Digit Lab sets right before any page draws."""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager


def keep_keras_state_between_script_runs() -> None:
    """Stop Streamlit from calling `keras.backend.clear_session()` after every script and fragment run.

    Measured here: that call takes ~275 ms (it runs a full garbage collection) and makes the next call of a
    loaded model 4x slower, on every stroke of the Draw & predict fragment. Digit Lab names its layers itself
    and never relies on that reset. (Streamlit's hook also closes matplotlib figures; none are used.)
    tests/test_streamlit_hooks.py fails loudly if Streamlit renames the hook.
    """
    from streamlit.runtime.scriptrunner import script_runner

    script_runner._clean_problem_modules = lambda: None


def ensure_frame() -> None:
    """Call first in every page script: Digit Lab's Streamlit settings, and the frame (app.py) around the page.

    On a server's very first script run, Streamlit sees the pages/ folder and runs a deep-linked page in its
    old folder mode (no app.py, no navigation of ours). The first st.navigation call ends that mode; until a
    run calls it, this resets the flag and reruns, so the user gets the real frame.
    tests/test_streamlit_hooks.py fails loudly if Streamlit renames the flag.
    """
    keep_keras_state_between_script_runs()
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
