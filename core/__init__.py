"""Digit Lab's core: data, models, training, preprocessing, storage, the cluster and charts.

Nothing here imports Streamlit: pages/common/ wraps core in Streamlit's caches for the pages.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out of the logs
# oneDNN's convolution kernels: off by default on some CPUs (AMD here), where a small CNN's epoch then takes
# ~2x longer (measured: 20.7 -> 8.7-11 s). Must be set before TensorFlow is first imported.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
