"""Home: the notebook's story, one step per page."""

import streamlit as st

from pages.common.frame import ensure_frame

ensure_frame()

st.title("Digit Lab")
st.markdown(
    "How does a neural network read handwritten digits? Digit Lab turns the classic Keras MNIST example "
    "(Chollet, *Deep Learning with Python*, 2.1) into something you can explore, tune, train and test by hand."
)

STEPS = [
    (
        "pages/dataset.py",
        "1. Look at the data",
        "60,000 training and 10,000 test images of 28x28 digits: shapes, labels, samples, averages.",
    ),
    (
        "pages/model.py",
        "2. Build the network",
        "Dense(512, relu) -> Dense(10, softmax), compiled with rmsprop: its summary and layer graph.",
    ),
    (
        "pages/training.py",
        "3. Train it live",
        "Flatten to 784, scale to [0, 1], fit 5 epochs at batch 128 and watch loss and accuracy.",
    ),
    (
        "pages/training.py",
        "4. Evaluate",
        "Test accuracy (~97.8%) below training accuracy (~98.9%): the gap is overfitting.",
    ),
    ("pages/predict.py", "5. Predict", "The first test digits with their probabilities, and digits you draw yourself."),
    (
        "pages/inside.py",
        "6. Look inside",
        "What the first layer learned, what each layer answers, and which pixels decided: epoch by epoch.",
    ),
]
for page, title, text in STEPS:
    with st.container(border=True):
        st.page_link(page, label=title)
        st.caption(text)

st.info("Choose the dataset in the sidebar: real MNIST, or scikit-learn's small 8x8 digits.", icon=":material/info:")
