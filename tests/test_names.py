"""Learners' names: cleaned, bounded, kept per browser, shown in the sidebar."""

import pytest

from core.names import MAX_NAME_CHARACTERS, NameBook, NameRefused, clean_name, generated_name
from core.state import NAME_KEY
from tests.apptest import open_page


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("  Ada   Lovelace ", "Ada Lovelace"),
        ("Zoë\u200b 7", "Zoë 7"),
        ("line\nbreak\ttab", "line break tab"),
        ("**bold** [x](http://e.vil)", "**bold** [x](http://e.vil)"),
    ],  # Markdown kept as text: pages escape it
)
def test_names_are_one_clean_line(text, name):
    assert clean_name(text) == name


@pytest.mark.parametrize("text", ["", "   ", "\u200b\u200b", "x" * (MAX_NAME_CHARACTERS + 1)])
def test_empty_or_long_names_are_refused(text):
    with pytest.raises(NameRefused):
        clean_name(text)


def test_a_browser_keeps_its_name_and_others_get_a_stable_generated_one(tmp_path):
    book = NameBook(tmp_path)
    owner, other = "a1" * 32, "b2" * 32
    assert book.name_of(owner) == generated_name(owner) == book.name_of(owner)
    assert generated_name(owner) != generated_name(other) and generated_name(owner).startswith("Learner ")
    assert book.set(owner, " Grace  H ") == "Grace H"
    assert NameBook(tmp_path).name_of(owner) == "Grace H" and book.name_of(other) == generated_name(other)


def test_the_sidebar_name_is_kept_and_a_bad_one_refused():
    app = open_page("app.py")
    assert app.sidebar.text_input(key=NAME_KEY).value.startswith("Learner ")
    app.sidebar.text_input(key=NAME_KEY).input("Alan T").run()
    assert not app.exception
    again = open_page("app.py", session_owner=app.session_state["session_owner"])  # the same browser, later
    assert again.sidebar.text_input(key=NAME_KEY).value == "Alan T"
    again.sidebar.text_input(key=NAME_KEY).input("   ").run()
    assert again.sidebar.text_input(key=NAME_KEY).value == "Alan T"
    assert any("at least one letter" in toast.value for toast in again.toast)
