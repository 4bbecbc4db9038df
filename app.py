"""Digit Lab: the frame around the pages (page config, navigation, shared sidebar)."""

import streamlit as st

from pages.common import lesson, services
from pages.common.sidebar import dataset_selector, learner_name_ui

st.set_page_config(page_title="Digit Lab", page_icon="✍️", layout="wide")

PAGES = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/dataset.py", title="Dataset", icon=":material/grid_on:", url_path="dataset"),
    st.Page("pages/model.py", title="Model", icon=":material/account_tree:", url_path="model"),
    st.Page("pages/training.py", title="Training", icon=":material/monitoring:", url_path="training"),
    st.Page("pages/predict.py", title="Draw & predict", icon=":material/draw:", url_path="predict"),
    st.Page("pages/inside.py", title="Inside the network", icon=":material/neurology:", url_path="inside"),
    st.Page("pages/leaderboard.py", title="Leaderboard", icon=":material/leaderboard:", url_path="leaderboard"),
    st.Page("pages/teacher.py", title="Teacher", icon=":material/school:", url_path="teacher"),
]

services.keep_the_store()
services.warm_up()
closed = lesson.controls().hidden_pages  # the teacher's, for this lesson (none for the teacher's own tab)
navigation = st.navigation([page for page in PAGES if page.url_path not in closed])
st.sidebar.title("Digit Lab")
dataset_selector()
learner_name_ui()
lesson.announcement()
with st.sidebar:
    lesson.watch(navigation.title)
navigation.run()
