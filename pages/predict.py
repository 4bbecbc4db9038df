"""Draw & predict: the user's digits and the test set, through a trained model's eyes."""

from __future__ import annotations

import time

import numpy as np
import streamlit as st

from core import cache, charts
from core.data import Dataset
from core.jobs import JobError
from core.model import model_input_shape, predict_probabilities
from core.my_digits import CLASS_DIGITS_SOURCE, KEPT_BACK_EVERY, LabelledDigits, read_digits, training_share
from core.preprocess import (
    FORMATS,
    TOO_SMALL_FRACTION,
    CanvasReading,
    ImageError,
    ImageFormat,
    image_bytes_to_mnist,
    read_canvas,
)
from core.store import RunRecord, RunStore
from pages.widgets import (
    LATEST_DRAWING_KEY,
    browser_owner,
    ensure_frame,
    fooling_ui,
    load_selected_dataset,
    model_picker,
    runs_for,
    show_chart,
    show_evidence,
    show_refusal,
)

CANVAS_KEY = "canvas"
CANVAS_SIZE = 280
GALLERY_SIZE = 40
HANDWRITING_RUNS = 8  # the newest runs compared on the user's digits
NOTICEABLE_SLANT = 8  # degrees: a lean worth mentioning
ANY = "any"
KEPT_KEY = "kept_digit_message"  # said once the page has rerun after a digit was kept
TOUCH_AGENTS = ("Mobi", "Android", "iPhone", "iPad")  # phones and tablets: no hover
NORMALIZE_KEY = "normalize_width"
NORMALIZE_BY_DEFAULT = True  # chosen on bench/handstyle.py's tuning set (README: Your handwriting vs MNIST)


def main() -> None:
    ensure_frame()
    dataset = load_selected_dataset()
    st.title("Draw & predict")
    store = cache.run_store()
    records = runs_for(dataset)
    if not records:
        starter_ui(dataset)
        return
    if KEPT_KEY in st.session_state:
        st.toast(st.session_state.pop(KEPT_KEY), icon=":material/bookmark_added:")
    run_id = model_picker(records)
    model = cache.saved_model(str(store.root), run_id)
    draw_tab, upload_tab, handwriting_tab = st.tabs(["Draw a digit", "Upload a picture", "Your handwriting"])
    with draw_tab:
        drawing_ui(model, run_id, dataset)
    with upload_tab:
        picture_ui(model, run_id, dataset)
    with handwriting_tab:
        handwriting_ui(store, records, run_id, dataset)
    st.divider()
    test_set_ui(store, run_id, dataset)


# ---- Which model -----------------------------------------------------------------------------------------


def starter_ui(dataset: Dataset) -> None:
    """A fresh install has no model: train the notebook's network once, for every session, and wait for it."""
    try:
        run_id = cache.starter_run(dataset.image_format)
    except JobError as error:
        show_refusal("The starter model could not be trained.", str(error))
        return
    progress = cache.run_board().progress(run_id)
    if progress is not None and progress.active:
        st.info("No trained model yet: this first visit trains the seed notebook's network once and keeps it.")
        starter_progress(run_id, dataset.title)
        return
    show_refusal("The starter model could not be trained.", progress.message if progress else "It was lost.")
    if st.button("Try again", key="starter_again"):
        cache.starter_run.clear()
        st.rerun()


@st.fragment(run_every=1.0)
def starter_progress(run_id: str, title: str) -> None:
    progress = cache.run_board().progress(run_id)
    if progress is None or progress.ended:
        st.rerun()
    done = (progress.epoch + progress.batch / max(progress.batches_per_epoch, 1)) / progress.epochs
    step = progress.message or f"epoch {min(progress.epoch + 1, progress.epochs)} of {progress.epochs}"
    st.progress(min(done, 1.0), text=f"Training the notebook's network on {title} for everyone ({step})...")


# ---- The user's own digits -------------------------------------------------------------------------------


@st.fragment
def drawing_ui(model, run_id: str, dataset: Dataset) -> None:
    """The canvas and the model's answer: each stroke reruns only this fragment."""
    from streamlit_drawable_canvas import st_canvas  # only importable inside a running app

    started = time.perf_counter()  # the whole server path of a stroke: canvas data, preprocessing, model, charts
    canvas_column, seen_column, output_column = st.columns([1.1, 1, 1.2])
    with canvas_column:
        pen = st.slider("Pen width", 8, 40, 22, key="pen_width")
        deslant = st.toggle(
            "Stand slanted digits upright",
            value=True,
            key="deslant",
            help="Shears a leaning digit upright before reading it (image moments, as in the "
            "MNIST papers): slanted handwriting reads better.",
        )
        touch = on_a_touch_screen()
        drawing = st_canvas(
            stroke_width=pen,
            stroke_color="#FFFFFF",
            background_color="#000000",
            height=CANVAS_SIZE,
            width=CANVAS_SIZE,
            drawing_mode="freedraw",
            key=CANVAS_KEY,
            return_image_data=True,
            update_streamlit=not touch,  # on a touch screen the toolbar then stays in view, above the canvas
        )
        # Under the canvas, not above it with the deslanting toggle: one more row above would push the canvas's
        # bottom out of a 720-pixel-high window (bench/drawn_digits.py's 4 could not be drawn).
        normalize = st.toggle(
            "Match MNIST's stroke width",
            value=NORMALIZE_BY_DEFAULT,
            key=NORMALIZE_KEY,
            help="Thins a thick digit, or thickens a hairline one, until its strokes are as wide "
            "as MNIST's usually are (measured on the 28x28 image): a thick pen fills the gaps "
            "that tell a 3 from an 8.",
        )
        if touch:
            st.caption("Draw one digit, large and centred, then tap the arrow above the canvas to read it.")
        else:
            st.caption(
                "Draw one digit, large and centred. The toolbar above the canvas (point at it) undoes and clears."
            )
    rgba = drawing.image_data
    image_format = FORMATS[dataset.image_format]
    reading = read_canvas(rgba, image_format, deslant, normalize) if rgba is not None else None
    if reading is None or reading.image is None:
        output_column.info(
            "Draw a digit on the black square: the prediction appears after each stroke.", icon=":material/draw:"
        )
    elif reading.ink_fraction < TOO_SMALL_FRACTION:
        output_column.warning("That is too small to be a digit: draw it bigger, filling most of the square.")
    else:
        show_prediction(model, run_id, reading.image, started, seen_column, output_column, "canvas")
        with canvas_column:
            lean = reading.lean_degrees
            if abs(lean) >= NOTICEABLE_SLANT:
                side = "right" if lean > 0 else "left"
                done = "stood upright before reading" if deslant else "read as drawn: switch on the toggle to compare"
                st.caption(f"Your digit leans {abs(lean):.0f} degrees to the {side}: {done}.")
            if normalize:
                st.caption(stroke_width_caption(reading, image_format))
            label_ui(reading.image, dataset)


def stroke_width_caption(reading: CanvasReading, image_format: ImageFormat) -> str:
    """What the stroke-width toggle found and did, in pixels of the model's image."""
    if image_format.stroke_range is None:
        return "Stroke widths are brought to MNIST's only for 28x28 models."
    low, high = image_format.stroke_range
    size = f"{image_format.size}x{image_format.size}"
    found, read = reading.stroke_width, reading.stroke_width_read
    if abs(found - read) < 0.05:
        return f"Stroke width found: {found:.1f} px on the {size} image, within MNIST's usual {low:g}-{high:g} px."
    change = "thinned" if read < found else "thickened"
    return (
        f"Stroke width found: {found:.1f} px on the {size} image, {change} to {read:.1f} px (MNIST: {low:g}-{high:g})."
    )


def label_ui(image: np.ndarray, dataset: Dataset) -> None:
    """ "This is a 7": the drawing joins the user's labelled digits (the Your handwriting tab reads them)."""
    label = st.pills("This is a...", list(range(10)), key="label_digit", wrap=True)  # all ten in a narrow column
    if st.button("Keep it in my digits", disabled=label is None, icon=":material/bookmark_add:", key="keep_digit"):
        count = cache.my_digits(dataset.image_format).add(image, label, browser_owner())
        st.session_state[KEPT_KEY] = (
            f"Kept as a {label}. You have {count} labelled digits: see the Your handwriting tab."
        )
        st.rerun()  # the whole page: the Your handwriting tab counts it


def on_a_touch_screen() -> bool:
    """A phone or tablet, by its user agent.

    The canvas hides its toolbar until a pointer hovers it, yet the hidden toolbar still lies over the canvas's
    top-right corner: a finger, which never hovers, starting a stroke there lands on the toolbar and the stroke
    is lost (a 7's stem, say). With update_streamlit=False the component keeps its toolbar in view above the
    canvas instead, and its arrow sends the drawing. (iPadOS Safari says it is a desktop: not detected.)
    """
    agent = st.context.headers.get("User-Agent", "")
    return any(word in agent for word in TOUCH_AGENTS)


def picture_ui(model, run_id: str, dataset: Dataset) -> None:
    """A photo or scan of one digit, any size or polarity, read the same way as a drawing."""
    picture = st.file_uploader("A PNG or JPEG of one handwritten digit", type=["png", "jpg", "jpeg"], key="picture")
    if picture is None:
        return
    seen_column, output_column = st.columns(2)
    started = time.perf_counter()
    try:
        deslant = st.session_state.get("deslant", True)
        normalize = st.session_state.get(NORMALIZE_KEY, NORMALIZE_BY_DEFAULT)
        image = image_bytes_to_mnist(
            picture.getvalue(), FORMATS[dataset.image_format], deslant=deslant, normalize_width=normalize
        )
    except ImageError as error:
        show_refusal(f"{picture.name[:80]} cannot be used.", str(error))
    else:
        show_prediction(model, run_id, image, started, seen_column, output_column, "upload")


def show_prediction(model, run_id: str, image: np.ndarray, started: float, column_input, column_output, source: str):
    """The image the model sees, its answer and the probabilities; `started` times the whole server path.
    The digit is kept for the Inside page; its Why view and an attack on it are each one switch away."""
    probabilities = predict_probabilities(model, image.reshape((1, *model_input_shape(model))))[0]
    digit = int(np.argmax(probabilities))
    st.session_state[LATEST_DRAWING_KEY] = {"image": image, "run_id": run_id}
    with column_input:
        show_chart(st, charts.image_heatmap(image, "What the model sees"), key=f"seen-{source}")
        st.caption(f"{image.shape[0]}x{image.shape[1]}, centred like the training digits.")
    with column_output:
        st.metric("Prediction", str(digit), f"{probabilities[digit]:.1%} sure", delta_color="off", delta_arrow="off")
        show_chart(st, charts.probability_bars(probabilities), key=f"bars-{source}")
        runner_up = int(np.argsort(-probabilities)[1])
        st.caption(
            f"Most likely {digit} ({probabilities[digit]:.1%}), then {runner_up} ({probabilities[runner_up]:.1%})."
        )
        milliseconds = (time.perf_counter() - started) * 1000
        st.caption(f"The server answered in {milliseconds:.1f} ms.")
    if st.toggle("Why? Show the evidence in each pixel", key=f"why-{source}"):
        why_view(model, image, probabilities, source)
    if st.toggle(
        "Fool it: change each pixel a little to change the answer",
        key=f"fool-{source}",
        help="An adversarial attack (FGSM or PGD) on this digit, run only while this is on.",
    ):
        fooling_ui(model, image, key=f"fooling-{source}")


def why_view(model, image: np.ndarray, probabilities: np.ndarray, source: str) -> None:
    """Integrated gradients for the answer and for a class the user picks: which pixels spoke for or against."""
    ranked = [int(digit) for digit in np.argsort(-probabilities)]
    answer_column, other_column = st.columns(2)
    other = other_column.selectbox(
        "Why not...", ranked[1:], key=f"why-not-{source}", format_func=lambda d: f"{d} ({probabilities[d]:.1%})"
    )
    for column, digit in ((answer_column, ranked[0]), (other_column, other)):
        attribution = show_evidence(
            column, model, image, digit, f"Evidence for {digit}", key=f"why-{source}-{digit}-{column is answer_column}"
        )
        column.caption(
            f"Red pixels pushed the model towards {digit}, blue ones away; together they add up to "
            f"{attribution.sum():+.1%} of probability against a black image."
        )


def handwriting_ui(store: RunStore, records: list[RunRecord], run_id: str, dataset: Dataset) -> None:
    """The user's labelled digits as a test set: every saved model on them beside MNIST, and what it misread."""
    owner = browser_owner()
    digits_store = cache.my_digits(dataset.image_format)
    everyone = digits_store.load()
    whose = st.radio("Whose digits", ["mine", "everyone's on this server"], horizontal=True, key="whose_digits")
    digits = everyone.of(owner if whose == "mine" else None)
    if not len(digits):
        st.info(
            'No labelled digits yet. On the Draw tab, draw a digit, pick what it is ("This is a...") and '
            "keep it: your digits collect here, and every saved model is tested on them.",
            icon=":material/draw:",
        )
        return
    st.caption(f"{len(digits)} labelled digits; models read them exactly as the canvas sends them.")
    rows = []
    picked_first = sorted(records, key=lambda record: record.run_id != run_id)  # the run chosen above, then the newest
    for record in picked_first[:HANDWRITING_RUNS]:
        report = read_digits(cache.saved_model(str(store.root), record.run_id), digits)
        rows.append(
            {
                "run": record.run_id,
                "source": record.source,
                "MNIST test accuracy": record.result.test_accuracy,
                "accuracy on these digits": report.accuracy,
            }
        )
    st.dataframe(
        rows,
        hide_index=True,
        column_config={
            "MNIST test accuracy": st.column_config.NumberColumn(format="percent"),
            "accuracy on these digits": st.column_config.NumberColumn(format="percent"),
        },
    )
    if any(CLASS_DIGITS_SOURCE in record.source for record in records[:HANDWRITING_RUNS]):
        st.caption(
            "A run trained with the class's digits has seen most of these: compare runs on the digits kept "
            "back from it, below."
        )
    report = read_digits(cache.saved_model(str(store.root), run_id), digits)
    show_chart(st, charts.accuracy_by_digit(report.per_digit, report.counts), key="handwriting-per-digit")
    drawn = report.counts > 0
    st.caption(
        f"The chosen model reads {report.accuracy:.0%} of these digits right; by digit from "
        f"{np.nanmin(report.per_digit[drawn]):.0%} to {np.nanmax(report.per_digit[drawn]):.0%}."
    )
    misread = np.flatnonzero(report.predicted != digits.labels)[:GALLERY_SIZE]
    if len(misread):
        titles = [f"{report.predicted[i]}, true {digits.labels[i]} ({report.confidence[i]:.0%})" for i in misread]
        show_chart(st, charts.image_grid(digits.images[misread] * 255, titles), key="handwriting-misread")
        st.caption(f"The {len(misread)} digits the chosen model misread, as it saw them.")
    kept_back_ui(store, records, everyone)
    download_column, clear_column = st.columns(2)
    download_column.download_button(
        "Download as .npz",
        digits_store.download(owner if whose == "mine" else None),
        file_name=f"my-digits-{dataset.image_format}.npz",
        mime="application/octet-stream",
        icon=":material/download:",
        key="download_my_digits",
    )
    if clear_column.button("Forget my digits", icon=":material/delete:", key="clear_my_digits"):
        digits_store.clear(owner)
        st.rerun()


def kept_back_ui(store: RunStore, records: list[RunRecord], everyone: LabelledDigits) -> None:
    """What training on the class's digits did: every recent run on the class's digits that no run trains on."""
    st.subheader("Trained on the class's digits: the digits kept back")
    _, back = training_share(everyone)
    if not len(back):
        st.caption(
            f"One in {KEPT_BACK_EVERY} of the class's labelled digits (chosen by its pixels) is kept "
            "back from training on them; none is yet. Label more digits to see what training on them "
            "does."
        )
        return
    rows = []
    for record in records[:HANDWRITING_RUNS]:
        report = read_digits(cache.saved_model(str(store.root), record.run_id), back)
        rows.append(
            {
                "run": record.run_id,
                "trained on the class's digits": CLASS_DIGITS_SOURCE in record.source,
                "MNIST test accuracy": record.result.test_accuracy,
                "on the kept-back digits": report.accuracy,
            }
        )
    st.dataframe(
        rows,
        hide_index=True,
        column_config={
            "MNIST test accuracy": st.column_config.NumberColumn(format="percent"),
            "on the kept-back digits": st.column_config.NumberColumn(format="percent"),
        },
    )
    best = {
        with_them: max(
            (row["on the kept-back digits"] for row in rows if row["trained on the class's digits"] == with_them),
            default=None,
        )
        for with_them in (True, False)
    }
    summary = (
        f"{len(back)} of the class's {len(everyone)} digits are kept back (one in {KEPT_BACK_EVERY}, by its pixels)"
    )
    if best[True] is not None and best[False] is not None:
        summary += (
            f": the best run trained with the class's other digits reads {best[True]:.0%} of them, the best "
            f"without {best[False]:.0%}."
        )
    else:
        summary += (
            ": no run trained with the class's digits is among these yet (Training: Also train on the class's "
            "labelled digits)."
            if best[True] is None
            else ": every run here trained with the class's digits."
        )
    st.caption(summary)


# ---- The test set, as in the notebook ------------------------------------------------------------------------


def test_set_ui(store: RunStore, run_id: str, dataset: Dataset) -> None:
    """The notebook's test-set views: the first digits, one probability vector, accuracy, confusions, mistakes."""
    st.header("The test set, as in the notebook")
    views = cache.test_set_views(str(store.root), run_id, dataset.name)
    wrong = views.predicted != dataset.y_test
    mistakes = f"{wrong.sum():,} of {len(wrong):,} wrong"
    accuracy_column, download_column = st.columns([3, 1], vertical_alignment="bottom")
    accuracy_column.metric("Test accuracy", f"{1 - wrong.mean():.2%}", mistakes, delta_color="off", delta_arrow="off")
    download_column.download_button(
        "Predictions as CSV",
        views.predictions_csv,
        file_name=f"predictions-{run_id}.csv",
        mime="text/csv",
        icon=":material/download:",
        key="download_predictions",
    )
    show_chart(st, views.first_digits, key="first_ten")
    first = slice(0, 10)
    st.caption(
        f"The first ten test digits. Read as: {' '.join(map(str, views.predicted[first]))}; labels: "
        f"{' '.join(map(str, dataset.y_test[first]))}."
    )
    vector_column, text_column = st.columns([2, 1])
    show_chart(vector_column, views.first_probabilities, key="first_probabilities")
    first, answer = views.probabilities[0], views.predicted[0]
    text_column.markdown(
        f"**The first test digit.** Its highest probability is at index **{answer}** ({first[answer]:.4f}); "
        f"its label is **{dataset.y_test[0]}**.\n\n"
        + "\n".join(f"- {digit}: {value:.6f}" for digit, value in enumerate(first))
    )
    matrix_column, accuracy_column = st.columns([2, 1])
    with matrix_column:
        event = show_chart(st, views.confusion_figure, on_select="rerun", selection_mode="points", key="confusion")
        off_diagonal = views.confusion - np.diag(np.diag(views.confusion))
        true_digit, read_as = np.unravel_index(off_diagonal.argmax(), off_diagonal.shape)
        commonest = (
            f"The commonest mistake: {true_digit} read as {read_as}, {off_diagonal.max()} times. "
            if off_diagonal.max()
            else "No mistakes. "
        )
        st.caption(commonest + "Click a cell off the diagonal to see those mistakes below.")
    with accuracy_column:
        totals = views.confusion.sum(axis=1)
        accuracy = [
            f"{right / total:.1%}" if total else "no test images"
            for right, total in zip(views.confusion.diagonal(), totals, strict=True)
        ]
        st.table({"digit": list(range(10)), "accuracy": accuracy}, hide_index=True)
    follow_clicked_cell(event)
    mistakes_ui(cache.saved_model(str(store.root), run_id), dataset, views.probabilities, views.predicted, wrong)


def follow_clicked_cell(event) -> None:
    """A click on a confusion cell sets the mistakes filters below (once per new click)."""
    points = event.selection.points if event and event.selection else []
    if points and st.session_state.get("clicked_cell") != points[0]:
        st.session_state["clicked_cell"] = points[0]
        st.session_state["mistake_true"] = int(points[0]["y"])
        st.session_state["mistake_predicted"] = int(points[0]["x"])


def mistakes_ui(model, dataset: Dataset, probabilities: np.ndarray, predicted: np.ndarray, wrong: np.ndarray):
    """The misread test images of the chosen kind; clicking one shows why, for its answer and for the truth."""
    st.header("Mistakes")
    true_column, predicted_column = st.columns(2)
    true_digit = true_column.selectbox("True digit", [ANY, *range(10)], key="mistake_true")
    predicted_digit = predicted_column.selectbox("Predicted as", [ANY, *range(10)], key="mistake_predicted")
    selected = wrong.copy()
    if true_digit != ANY:
        selected &= dataset.y_test == true_digit
    if predicted_digit != ANY:
        selected &= predicted == predicted_digit
    indices = np.flatnonzero(selected)
    if len(indices) == 0:
        st.caption("No mistakes of that kind.")
        return
    shown = indices[:GALLERY_SIZE]
    labels = [f"{predicted[i]}, true {dataset.y_test[i]} ({probabilities[i, predicted[i]]:.0%})" for i in shown]
    event = show_chart(
        st,
        charts.image_grid(dataset.x_test[shown], labels, clickable=True),
        key="mistakes",
        on_select="rerun",
        selection_mode="points",
    )
    st.caption(
        f"{len(indices):,} such mistakes; the first {len(shown)} shown with the model's confidence. "
        "Click one to see why it was misread."
    )
    points = event.selection.points if event and event.selection else []
    clicked = points[0].get("point_index", points[0].get("point_number")) if points else None
    if clicked is not None:
        index = int(shown[clicked])
        why_chain(model, dataset.x_test[index] / dataset.pixel_max, int(predicted[index]), int(dataset.y_test[index]))


def why_chain(model, image: np.ndarray, answer: int, truth: int) -> None:
    """One misread test image: the evidence the model saw for its answer beside the evidence for the truth."""
    answer_column, truth_column = st.columns(2)
    for column, digit, role in ((answer_column, answer, "its answer"), (truth_column, truth, "the truth")):
        show_evidence(column, model, image, digit, f"Evidence for {digit} ({role})", key=f"why-mistake-{role}")
    st.caption(
        f"Red pixels pushed the model towards the digit above them, blue ones away. Where the {answer} "
        f"found more red than the {truth}, the model read a {answer}."
    )


main()
