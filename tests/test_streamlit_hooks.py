"""The private Streamlit (and plotly) details Digit Lab relies on: each test fails loudly when one is renamed."""

import binascii

import numpy as np
import plotly.graph_objects as go
import pytest
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner import script_runner
from streamlit.web.server.starlette import starlette_app_utils, starlette_routes

from core import charts
from pages.common.frame import keep_keras_state_between_script_runs
from pages.common.identity import XSRF_COOKIE, xsrf_token


def test_the_keras_reset_hook_exists_and_is_switched_off():
    """pages.common.frame replaces it: Streamlit would clear Keras' session after every script and fragment run."""
    assert hasattr(script_runner, "_clean_problem_modules"), "Streamlit renamed _clean_problem_modules"
    keep_keras_state_between_script_runs()
    assert script_runner._clean_problem_modules() is None
    assert script_runner._clean_problem_modules.__name__ == "<lambda>"


def test_the_pages_folder_flag_that_ensure_frame_resets_exists():
    assert "uses_pages_directory" in vars(PagesManager), "Streamlit renamed PagesManager.uses_pages_directory"


def test_the_browser_token_is_read_from_streamlits_xsrf_cookie():
    """pages.common.identity.browser_owner unmasks the token in Streamlit's XSRF cookie; its format is Streamlit's."""
    assert starlette_routes.XSRF_COOKIE_NAME == XSRF_COOKIE
    token = bytes(range(16))
    first = starlette_app_utils.generate_xsrf_token_string(token, 1_800_000_000)
    second = starlette_app_utils.generate_xsrf_token_string(token, 1_800_000_000)
    assert first != second  # masked anew on every response...
    assert xsrf_token(first) == xsrf_token(second) == token  # ...the token inside stays the same


def test_foreign_cookies_give_no_token():
    for cookie in ("", "1|abc", "2|zz|00|1", "2|" + binascii.b2a_hex(b"ab").decode() + "|00|1", "anything"):
        assert xsrf_token(cookie) is None


def test_plotlys_switch_that_skips_checking_a_figure_exists():
    """core.charts.plain_figure builds the per-stroke charts with it: checking a figure takes milliseconds."""
    with pytest.raises(ValueError):
        go.Figure({"data": [{"type": "bar", "opacity": 5}]})
    unchecked = go.Figure({"data": [{"type": "bar", "opacity": 5}]}, _validate=False)
    assert unchecked.to_dict()["data"][0]["opacity"] == 5, "plotly renamed the _validate switch"
    bars = charts.probability_bars(np.full(10, 0.1)).to_dict()
    assert bars["layout"]["template"] == {} and bars["data"][0]["type"] == "bar"
