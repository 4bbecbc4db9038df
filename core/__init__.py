"""Digit Lab's core: data, models, training, preprocessing, storage and charts.

Nothing here imports Streamlit except `core.cache`, the one module that wraps
core functions in Streamlit's caches for the pages.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out of the logs
