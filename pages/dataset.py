"""Dataset: what the notebook prints about the data, then a closer look."""

import numpy as np
import streamlit as st

from core import charts
from core.data import uploaded_folder
from core.dataset_stats import sample_indices
from core.retention import NoRoom
from core.state import IMPORT_KEY, SAMPLE_SEED_KEY, ZIP_UPLOAD_KEY
from core.tasks import import_digits
from pages.common import caches, services
from pages.common.frame import ensure_frame
from pages.common.sidebar import load_selected_dataset, select_dataset
from pages.common.text import escape_markdown, show_refusal
from pages.common.widgets import show_chart, task_ui

ensure_frame()

FIRST_LABELS = 10


def own_digits_ui() -> None:
    """A zip of digit images becomes a dataset every page can use (kept in the model folder); the cluster reads
    it, with a progress bar and Cancel here."""
    with st.expander("Bring your own digits: upload a .zip of images", icon=":material/upload:"):
        st.caption(
            "Folders named 0 to 9 holding the pictures, or any pictures plus a labels.csv of file,label. "
            "Any size, colour or polarity: each one is prepared like a drawing (centred, 28x28). "
            "At most 20,000 images and 50 MB; the set is split 80/20 into training and test, once."
        )
        uploaded = st.file_uploader("Your digits", type=["zip"], key="digits_zip")
        if (task := st.session_state.get(IMPORT_KEY)) is not None and (ended := task_ui(IMPORT_KEY)) is not None:
            if ended.error:
                show_refusal(f"{task.label} was refused.", ended.error)
            else:
                select_dataset(ended.result)
                st.rerun()
        already_sent = uploaded is not None and st.session_state.get(ZIP_UPLOAD_KEY) == uploaded.file_id
        if uploaded is None or already_sent or IMPORT_KEY in st.session_state:
            return
        st.session_state[ZIP_UPLOAD_KEY] = uploaded.file_id
        try:
            name, folder = uploaded.name.removesuffix(".zip"), str(uploaded_folder())
            st.session_state[IMPORT_KEY] = services.start_task(
                uploaded.name[:80], import_digits, uploaded.getvalue(), name, folder
            )
        except OSError as error:
            show_refusal(f"{uploaded.name[:80]} could not be read now.", f"The cluster is not reachable: {error}")
            return
        except NoRoom as error:
            show_refusal(f"{uploaded.name[:80]} could not be read now.", str(error))
            return
        st.rerun()


own_digits_ui()
dataset = load_selected_dataset()
stats = caches.dataset_stats(dataset.name)

st.title("Dataset")
st.caption(f"{escape_markdown(dataset.title)}. Source: {escape_markdown(dataset.source)}.")
if dataset.problems:
    with st.expander(f"{len(dataset.problems)} files of the zip could not be used", icon=":material/warning:"):
        st.dataframe({"file and reason": list(dataset.problems)}, hide_index=True)

st.header("What the notebook prints")
arrays = {
    "train_images": dataset.x_train,
    "train_labels": dataset.y_train,
    "test_images": dataset.x_test,
    "test_labels": dataset.y_test,
}
st.dataframe(
    [{"array": name, "shape": str(array.shape), "dtype": str(array.dtype)} for name, array in arrays.items()],
    hide_index=True,
)
train_column, test_column = st.columns(2)
train_column.metric("Training labels", f"{len(dataset.y_train):,}")
test_column.metric("Test labels", f"{len(dataset.y_test):,}")
train_column.markdown(f"First training labels: `{' '.join(map(str, dataset.y_train[:FIRST_LABELS]))}`")
test_column.markdown(f"First test labels: `{' '.join(map(str, dataset.y_test[:FIRST_LABELS]))}`")
show_chart(st, stats.figures["class_distribution"])
counts = stats.train_counts
st.caption(
    f"Training images per digit: from {counts.min():,} (digit {counts.argmin()}) to {counts.max():,} "
    f"(digit {counts.argmax()}); test images: {stats.test_counts.min():,} to {stats.test_counts.max():,}."
)

st.header("Sample images")
count_column, digit_column, button_column = st.columns([3, 2, 1], vertical_alignment="bottom")
count = count_column.slider("How many", min_value=8, max_value=64, value=24, step=8, key="sample_count")
digit = digit_column.selectbox("Which digit", ["all", *range(10)], key="sample_digit", help="Show only this digit.")
if button_column.button("Reshuffle", icon=":material/shuffle:", key="reshuffle"):
    st.session_state[SAMPLE_SEED_KEY] = st.session_state.get(SAMPLE_SEED_KEY, 0) + 1
indices = sample_indices(
    dataset.y_train, count, digit=None if digit == "all" else digit, seed=st.session_state.get(SAMPLE_SEED_KEY, 0)
)
labels = dataset.y_train[indices]
show_chart(
    st,
    charts.image_grid(dataset.x_train[indices], [f"#{i}: {label}" for i, label in zip(indices, labels, strict=True)]),
)
st.caption(f"Labels shown: {' '.join(map(str, labels))}")

st.header("The average digit, and the pixels")
show_chart(st, stats.figures["mean_images"])
st.caption("Each square averages every training image of one digit: bright where the ink usually is.")
show_chart(st, stats.figures["pixel_histogram"])
background = stats.pixel_histogram[0] / stats.pixel_histogram.sum()
st.caption(
    f"{background:.0%} of all pixels are pure background (0). The model divides by {dataset.pixel_max} to get [0, 1]."
)

st.header("One image up close")
split_column, index_column = st.columns(2)
split = split_column.radio("Split", ["train", "test"], horizontal=True)
images, image_labels = (dataset.x_train, dataset.y_train) if split == "train" else (dataset.x_test, dataset.y_test)
index = index_column.number_input("Index", min_value=0, max_value=len(images) - 1, value=0, step=1)
show_chart(st, charts.image_heatmap(images[index], f"{split}[{index}]: label {image_labels[index]}"))
st.caption(
    f"{split}[{index}] is labelled {image_labels[index]}: {np.count_nonzero(images[index]):,} of "
    f"{images[index].size} pixels have ink, the brightest at {images[index].max()}. Hover a pixel for its value."
)

st.header("Map of the images (PCA)")
pca = stats.pca
show_chart(st, stats.figures["pca"])
st.caption(
    f"{len(pca.labels):,} training images projected onto their first two principal components, "
    f"which keep {np.sum(pca.explained_variance):.0%} of the variance. Hover a point for its label."
)
