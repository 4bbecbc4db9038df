"""Placeholder."""

import streamlit as st

from pages.widgets import ensure_frame

ensure_frame()

st.title("Draw & predict")
