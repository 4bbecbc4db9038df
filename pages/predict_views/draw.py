"""Draw a digit (or upload a picture of one) and see what the model reads, stroke by stroke."""

from __future__ import annotations

import time

import numpy as np
import streamlit as st

from core import charts
from core.data import Dataset
from core.preprocess import FORMATS, CanvasReading, ImageError, ImageFormat, image_bytes_to_mnist
from core.state import KEPT_KEY, LATEST_DRAWING_KEY
from core.strokes import StrokeOptions, answer_stroke, image_probabilities
from pages.common import caches
from pages.common.identity import browser_owner
from pages.common.text import show_refusal
from pages.common.widgets import corruption_ui, fooling_ui, show_evidence

CANVAS_KEY = "canvas"
CANVAS_SIZE = 280
SEEN_WIDTH = 224  # the 28x28 image, 8 screen pixels to each of its pixels
NOTICEABLE_SLANT = 8  # degrees: a lean worth mentioning
TOUCH_AGENTS = ("Mobi", "Android", "iPhone", "iPad")  # phones and tablets: no hover
NORMALIZE_KEY = "normalize_width"
DESLANT_KEY = "deslant"
DEFAULTS = StrokeOptions()  # the toggles' defaults: chosen on bench/handstyle.py's tuning set


def drawing_ui(model, run_id: str, dataset: Dataset) -> None:
    """The pen and reading options (a change reruns the page), then the canvas and the model's answer."""
    pen_column, deslant_column, normalize_column = st.columns([1.1, 1, 1.2], vertical_alignment="bottom")
    pen = pen_column.slider("Pen width", 8, 40, 22, key="pen_width")
    deslant = deslant_column.toggle(
        "Stand slanted digits upright",
        value=DEFAULTS.deslant,
        key=DESLANT_KEY,
        help="Shears a leaning digit upright before reading it (image moments, as in the "
        "MNIST papers): slanted handwriting reads better.",
    )
    normalize = normalize_column.toggle(
        "Match MNIST's stroke width",
        value=DEFAULTS.normalize_width,
        key=NORMALIZE_KEY,
        help="Thins a thick digit, or thickens a hairline one, until its strokes are as wide "
        "as MNIST's usually are (measured on the 28x28 image): a thick pen fills the gaps "
        "that tell a 3 from an 8.",
    )
    stroke_ui(model, run_id, dataset, pen, StrokeOptions(FORMATS[dataset.image_format], deslant, normalize))


@st.fragment
def stroke_ui(model, run_id: str, dataset: Dataset, pen: int, options: StrokeOptions) -> None:
    """The canvas and the model's answer: each stroke reruns only this fragment, which sends only what a stroke
    changes (the controls above are outside it)."""
    from streamlit_drawable_canvas import st_canvas  # only importable inside a running app

    started = time.perf_counter()  # the whole server path of a stroke: canvas data, preprocessing, model, reply
    # A row that wraps, the canvas's part as wide as the canvas: in a narrower column the canvas would be cut off
    # and its frame scroll (a scroll region no keyboard reaches); on a narrow screen the answer goes below it.
    row = st.container(horizontal=True)
    canvas_column = row.container(width=CANVAS_SIZE)
    seen_column, output_column = row.container(), row.container()
    with canvas_column:
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
        if touch:
            st.caption("Draw one digit, large and centred, then tap the arrow above the canvas to read it.")
        else:
            st.caption(
                "Draw one digit, large and centred. The toolbar above the canvas (point at it) undoes and clears."
            )
    answer = answer_stroke(drawing.image_data, model, options)
    if not answer.drawn:
        output_column.info(
            "Draw a digit on the black square: the prediction appears after each stroke.", icon=":material/draw:"
        )
    elif answer.too_small:
        output_column.warning("That is too small to be a digit: draw it bigger, filling most of the square.")
    else:
        reading = answer.reading
        show_prediction(
            model, run_id, reading.image, answer.probabilities, started, seen_column, output_column, "canvas"
        )
        with canvas_column:
            lean = reading.lean_degrees
            if abs(lean) >= NOTICEABLE_SLANT:
                side = "right" if lean > 0 else "left"
                done = (
                    "stood upright before reading"
                    if options.deslant
                    else "read as drawn: switch on the toggle to compare"
                )
                st.caption(f"Your digit leans {abs(lean):.0f} degrees to the {side}: {done}.")
            if options.normalize_width:
                st.caption(stroke_width_caption(reading, options.image_format))
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
        count = caches.my_digits(dataset.image_format).add(image, label, browser_owner())
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
        deslant = st.session_state.get(DESLANT_KEY, DEFAULTS.deslant)
        normalize = st.session_state.get(NORMALIZE_KEY, DEFAULTS.normalize_width)
        image = image_bytes_to_mnist(
            picture.getvalue(), FORMATS[dataset.image_format], deslant=deslant, normalize_width=normalize
        )
    except ImageError as error:
        show_refusal(f"{picture.name[:80]} cannot be used.", str(error))
    else:
        probabilities = image_probabilities(model, image)
        show_prediction(model, run_id, image, probabilities, started, seen_column, output_column, "upload")


def show_prediction(
    model,
    run_id: str,
    image: np.ndarray,
    probabilities: np.ndarray,
    started: float,
    column_input,
    column_output,
    source: str,
) -> None:
    """The image the model sees, its answer and the probabilities; `started` times the whole server path.
    The digit is kept for the Inside page; its Why view and an attack on it are each one switch away."""
    digit = int(np.argmax(probabilities))
    st.session_state[LATEST_DRAWING_KEY] = {"image": image, "run_id": run_id}
    size = f"{image.shape[0]}x{image.shape[1]}"
    with column_input:
        st.markdown("**What the model sees**")
        st.image(charts.image_data_url(image), alt=f"The {size} image the model reads", width=SEEN_WIDTH)
        st.caption(f"{size}, centred like the training digits.")
    with column_output:
        st.metric("Prediction", str(digit), f"{probabilities[digit]:.1%} sure", delta_color="off", delta_arrow="off")
        st.html(charts.probability_table_html(probabilities))
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
    if st.toggle(
        "Corrupt it: noise, blur, a turn, fog...",
        key=f"corrupt-{source}",
        help="MNIST-C's everyday corruptions on this digit, run only while this is on.",
    ):
        corruption_ui(model, image, probabilities, key=f"corrupting-{source}")


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
