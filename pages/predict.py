"""Draw & predict: the user's digits and the test set, through a trained model's eyes."""

import time

import numpy as np
import streamlit as st
from sklearn.metrics import confusion_matrix

from core import cache, charts
from core.model import model_input_shape, predict_probabilities
from core.preprocess import FORMATS, TOO_SMALL_FRACTION, ImageError, canvas_to_mnist, image_bytes_to_mnist, ink_fraction
from pages.widgets import RUN_KEY, ensure_frame, load_selected_dataset

ensure_frame()

CANVAS_KEY = "canvas"
CANVAS_SIZE = 280
FIRST_TEST_DIGITS = 10
GALLERY_SIZE = 40

dataset = load_selected_dataset()
store = cache.run_store()
image_format = FORMATS[dataset.name]

st.title("Draw & predict")

# ---- Which model -----------------------------------------------------------------------------


@st.fragment(run_every=1.0)
def starter_progress(job) -> None:
    progress = job.progress()
    if progress.ended:
        st.rerun()
    done = (progress.epoch + progress.batch / max(progress.batches_per_epoch, 1)) / progress.epochs
    st.progress(min(done, 1.0), text=f"Training the notebook's network on {dataset.title} for everyone "
                f"(epoch {min(progress.epoch + 1, progress.epochs)} of {progress.epochs})...")  # fmt: skip


records = [record for record in store.records() if record.dataset == dataset.name]
if not records:
    starter = cache.starter_job(dataset.name)
    if starter.progress().active:
        st.info("No trained model yet: this first visit trains the seed notebook's network once and keeps it.")
        starter_progress(starter)
        st.stop()
    st.error(f"The starter model could not be trained: {starter.progress().message}")
    if st.button("Try again"):
        cache.starter_job.clear()
        st.rerun()
    st.stop()

by_id = {record.run_id: record for record in records}
session_run = st.session_state.get(RUN_KEY)
default = list(by_id).index(session_run) if session_run in by_id else 0


def describe(run_id: str) -> str:
    record = by_id[run_id]
    accuracy = f"{record.test_accuracy:.2%}" if record.test_accuracy is not None else "not evaluated"
    mine = ", your latest" if run_id == session_run else ""
    return f"{run_id}: test accuracy {accuracy} ({record.source}{mine})"


run_id = st.selectbox("Model", list(by_id), index=default, format_func=describe, key="predict_run")
model = cache.saved_model(str(store.root), run_id)
input_shape = model_input_shape(model)


def classify(image: np.ndarray) -> np.ndarray:
    """Probabilities for one preprocessed image."""
    return predict_probabilities(model, image.reshape((1, *input_shape)))[0]


def show_prediction(image: np.ndarray, started: float, column_input, column_output, source: str) -> None:
    """The image the model sees, its answer and the probabilities; `started` times the whole server path."""
    probabilities = classify(image)
    milliseconds = (time.perf_counter() - started) * 1000
    digit = int(np.argmax(probabilities))
    with column_input:
        st.plotly_chart(charts.image_heatmap(image, "What the model sees"), key=f"seen-{source}")
        st.caption(f"{image.shape[0]}x{image.shape[1]}, centred like the training digits.")
    with column_output:
        st.metric("Prediction", str(digit), f"{probabilities[digit]:.1%} sure", delta_color="off", delta_arrow="off")
        st.plotly_chart(charts.probability_bars(probabilities), key=f"bars-{source}")
        st.caption(f"Preprocessing and inference took {milliseconds:.1f} ms on the server.")


# ---- Draw --------------------------------------------------------------------------------------

draw_tab, upload_tab = st.tabs(["Draw a digit", "Upload a picture"])
with draw_tab:
    canvas_column, seen_column, output_column = st.columns([1.1, 1, 1.2])
    with canvas_column:
        from streamlit_drawable_canvas import st_canvas  # only importable inside a running app

        pen = st.slider("Pen width", 8, 40, 22, key="pen_width")
        drawing = st_canvas(
            stroke_width=pen, stroke_color="#FFFFFF", background_color="#000000", height=CANVAS_SIZE,
            width=CANVAS_SIZE, drawing_mode="freedraw", key=CANVAS_KEY, return_image_data=True,
        )  # fmt: skip
        st.caption("Draw one digit, large and centred. The toolbar under the canvas undoes and clears.")
    started = time.perf_counter()
    rgba = drawing.image_data
    image = canvas_to_mnist(rgba, image_format) if rgba is not None else None
    if image is None:
        output_column.info("Draw a digit on the black square: the prediction appears after each stroke.",
                           icon=":material/draw:")  # fmt: skip
    elif ink_fraction(rgba) < TOO_SMALL_FRACTION:
        output_column.warning("That is too small to be a digit: draw it bigger, filling most of the square.")
    else:
        show_prediction(image, started, seen_column, output_column, "canvas")

with upload_tab:
    picture = st.file_uploader("A PNG or JPEG of one handwritten digit", type=["png", "jpg", "jpeg"], key="picture")
    if picture is not None:
        seen_column, output_column = st.columns(2)
        started = time.perf_counter()
        try:
            image = image_bytes_to_mnist(picture.getvalue(), image_format)
        except ImageError as error:
            st.error(f"**{picture.name} cannot be used.** {error}")
        else:
            show_prediction(image, started, seen_column, output_column, "upload")

# ---- The test set, as in the notebook ------------------------------------------------------------

st.divider()
st.subheader("The test set, as in the notebook")
probabilities = cache.test_probabilities(str(store.root), run_id, dataset.name)
predicted = probabilities.argmax(axis=1)
truth = dataset.y_test
wrong = predicted != truth
mistakes = f"{wrong.sum():,} of {len(truth):,} wrong"
st.metric("Test accuracy", f"{1 - wrong.mean():.2%}", mistakes, delta_color="off", delta_arrow="off")

first = slice(0, FIRST_TEST_DIGITS)
titles = [f"{p} (true {t})" for p, t in zip(predicted[first], truth[first], strict=True)]
st.plotly_chart(charts.image_grid(dataset.x_test[first], titles, columns=FIRST_TEST_DIGITS), key="first_ten")
vector_column, text_column = st.columns([2, 1])
vector_column.plotly_chart(charts.probability_bars(probabilities[0]), key="first_probabilities")
text_column.markdown(
    f"**The first test digit.** Its highest probability is at index **{predicted[0]}** "
    f"({probabilities[0, predicted[0]]:.4f}); its label is **{truth[0]}**.\n\n"
    + "\n".join(f"- {digit}: {value:.6f}" for digit, value in enumerate(probabilities[0]))
)

matrix = confusion_matrix(truth, predicted, labels=range(10))
matrix_column, accuracy_column = st.columns([2, 1])
with matrix_column:
    figure = charts.confusion_heatmap(matrix)
    event = st.plotly_chart(figure, on_select="rerun", selection_mode="points", key="confusion")
    st.caption("Click a cell off the diagonal to see those mistakes below.")
with accuracy_column:
    per_class = matrix.diagonal() / matrix.sum(axis=1)
    st.table({"digit": list(range(10)), "accuracy": [f"{value:.1%}" for value in per_class]}, hide_index=True)

points = event.selection.points if event and event.selection else []
if points and st.session_state.get("clicked_cell") != points[0]:
    st.session_state["clicked_cell"] = points[0]
    st.session_state["mistake_true"] = int(points[0]["y"])
    st.session_state["mistake_predicted"] = int(points[0]["x"])

st.subheader("Mistakes")
true_column, predicted_column = st.columns(2)
choices = ["any", *range(10)]
true_digit = true_column.selectbox("True digit", choices, key="mistake_true")
predicted_digit = predicted_column.selectbox("Predicted as", choices, key="mistake_predicted")
selected = wrong.copy()
if true_digit != "any":
    selected &= truth == true_digit
if predicted_digit != "any":
    selected &= predicted == predicted_digit
indices = np.flatnonzero(selected)
if len(indices) == 0:
    st.caption("No mistakes of that kind.")
else:
    shown = indices[:GALLERY_SIZE]
    labels = [f"{predicted[i]}, true {truth[i]} ({probabilities[i, predicted[i]]:.0%})" for i in shown]
    st.plotly_chart(charts.image_grid(dataset.x_test[shown], labels), key="mistakes")
    st.caption(f"{len(indices):,} such mistakes; the first {len(shown)} shown with the model's confidence.")
