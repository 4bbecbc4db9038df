"""Text from users, links and files, shown as text: never Markdown, links, pictures or HTML."""

from __future__ import annotations

import re
import string

import streamlit as st

MARKDOWN_SPECIALS = set(string.punctuation)


# GitHub-flavoured Markdown turns bare addresses into links after escapes are resolved: an invisible
# zero-width space after these breaks the pattern without changing what the reader sees.
AUTOLINK_STARTS = re.compile(r"(https?|ftp|mailto|www|@)", flags=re.IGNORECASE)


def escape_markdown(text: str, limit: int = 300) -> str:
    """Text that Streamlit's Markdown shows as it is: no links, images, colours or HTML, on one line."""
    text = AUTOLINK_STARTS.sub("\\1\u200b", " ".join(str(text)[:limit].split()))
    return "".join("\\" + char if char in MARKDOWN_SPECIALS else char for char in text)


def show_refusal(title: str, reason: str) -> None:
    """An error box: a bold title, then the reason; both may quote a file name or a link, so both are escaped."""
    st.error(f"**{escape_markdown(title)}** {escape_markdown(reason)}", icon=":material/block:")
