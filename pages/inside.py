"""Inside the network: what the first layer learned, what each layer answers, why it read a digit the way it
did, how little it takes to fool it, and how that answer grew while the network trained."""

from __future__ import annotations

import numpy as np
import streamlit as st

from core import charts, insight_charts
from core.data import Dataset
from core.insight import (
    as_model_input,
    first_layer_responses,
    first_weighted_layer,
    layer_outputs,
    unit_order,
    weight_images,
)
from core.model import predict_probabilities
from core.state import LATEST_DRAWING_KEY
from pages.common import caches
from pages.common.frame import ensure_frame
from pages.common.sidebar import load_selected_dataset
from pages.common.widgets import fooling_ui, model_picker, runs_for, show_chart, show_evidence

YOUR_DRAWING = "Your latest drawing"
A_TEST_IMAGE = "A test image"
TOP_UNITS = 8


def main() -> None:
    ensure_frame()
    dataset = load_selected_dataset()
    st.title("Inside the network")
    st.caption(
        "Every answer the network gives is arithmetic on pixels. This page opens it up: the patterns its first "
        "layer looks for, what each layer makes of one digit, which pixels decided the answer, and how that "
        "answer grew epoch by epoch."
    )
    store = caches.run_store()
    records = runs_for(dataset)
    if not records:
        st.info("No trained model yet: train one on the Training page, or open Draw & predict.", icon=":material/info:")
        return
    run_id = model_picker(records)
    image, label = digit_picker(dataset, run_id)
    root = str(store.root)
    epochs = store.epochs_saved(run_id)
    epoch = epoch_slider(epochs)
    with caches.model_after(root, run_id, epoch) as model:
        probabilities = digit_ui(model, image, label)
        weights_ui(model, image)
        layers_ui(model, image)
        why_ui(model, image, probabilities)
        fooling_section(model, image)
        hidden_map_ui(root, run_id, epoch, dataset, model, image)
    if epochs > 1:
        history_ui(root, run_id, image, epoch or epochs)


def digit_picker(dataset: Dataset, run_id: str) -> tuple[np.ndarray, str]:
    """The digit to look at: the one drawn last on Draw & predict, or any test image."""
    drawing = st.session_state.get(LATEST_DRAWING_KEY)
    drawn = drawing is not None and np.shape(drawing["image"]) == dataset.image_shape
    sources = [YOUR_DRAWING, A_TEST_IMAGE] if drawn else [A_TEST_IMAGE]
    source_column, index_column = st.columns(2)
    source = source_column.radio("Digit", sources, horizontal=True, key="inside_source")
    if source == YOUR_DRAWING:
        elsewhere = "" if drawing["run_id"] == run_id else ", read there by another model"
        index_column.caption(f"Drawn on Draw & predict{elsewhere}.")
        return np.asarray(drawing["image"], np.float32), "your drawing"
    if not drawn:
        index_column.caption("Draw a digit on Draw & predict to look inside with your own.")
    index = index_column.number_input("Test image", 0, len(dataset.x_test) - 1, 0, key="inside_index")
    return dataset.x_test[index] / dataset.pixel_max, f"test image {index} (a {dataset.y_test[index]})"


def epoch_slider(epochs: int) -> int | None:
    """After which epoch to look; None for the final model (or when the run kept no snapshots)."""
    if epochs < 2:
        st.caption("This run kept no model per epoch (uploaded, or one epoch): the final model is shown.")
        return None
    epoch = st.slider(
        "After epoch",
        1,
        epochs,
        epochs,
        key="inside_epoch",
        help="Replay the network as it was after each epoch of training.",
    )
    return None if epoch == epochs else epoch


def digit_ui(model, image: np.ndarray, label: str) -> np.ndarray:
    probabilities = predict_probabilities(model, as_model_input(model, image))[0]
    answer = int(np.argmax(probabilities))
    seen, read = st.columns([1, 2])
    show_chart(seen, charts.image_heatmap(image, label), key="inside-digit")
    read.metric(
        "The network reads", str(answer), f"{probabilities[answer]:.1%} sure", delta_color="off", delta_arrow="off"
    )
    show_chart(read, charts.probability_bars(probabilities), key="inside-probabilities")
    return probabilities


def weights_ui(model, image: np.ndarray) -> None:
    st.header("What the first layer looks for")
    images = weight_images(model)
    count_column, order_column = st.columns(2)
    count = count_column.slider("How many", 8, min(64, len(images)), min(32, len(images)), step=8, key="inside_count")
    order_by = order_column.radio(
        "Order", ["strongest weights", "strongest answer to this digit"], horizontal=True, key="inside_order"
    )
    responses = first_layer_responses(model, image) if order_by != "strongest weights" else None
    if order_by != "strongest weights" and responses is None:
        st.caption("This uploaded model's first layer sits inside a wrapper: ordered by weights instead.")
    order = unit_order(images, responses)[:count]
    titles = [f"#{unit}" for unit in order]
    show_chart(st, insight_charts.weight_grid(images[order], titles), key="inside-weights")
    kind = "filter" if images.shape[1] < 8 else "unit"
    st.caption(
        f"Each picture is one {kind}'s weights on the pixels: red pixels excite it, blue ones hold it back. A dense "
        "layer's pictures look noisy, since each unit answers a blend of strokes (compare epoch 1 with the last); "
        "a CNN's filters look like small edge detectors. Order them by their answer to this digit, then draw a 7 "
        f"without its bar and watch which {kind}s fall silent."
    )


def layers_ui(model, image: np.ndarray) -> None:
    st.header("What each layer answers")
    outputs = layer_outputs(model, image)
    st.table(
        [
            {
                "layer": name,
                "type": type(layer).__name__,
                "output shape": str(value.shape),
                "largest value": f"{float(np.max(value)):.3f}",
            }
            for (name, value), layer in zip(outputs, model.layers, strict=True)
        ],
        hide_index=True,
    )
    first = first_weighted_layer(model)
    answer = dict(outputs)[first.name]
    if answer.ndim == 3:  # a convolution: one map per filter
        maps = np.moveaxis(answer, -1, 0)[:16]
        maps = maps / (np.abs(maps).max(axis=(1, 2), keepdims=True) + 1e-9)
        show_chart(
            st, charts.image_grid(np.clip(maps, 0, 1), [f"filter {i}" for i in range(len(maps))]), key="inside-maps"
        )
        st.caption("Each square is one filter's answer at every position: it lights up where its pattern appears.")
        return
    strip, strongest = st.columns([3, 2])
    show_chart(strip, insight_charts.activation_strip(answer), key="inside-strip")
    top = np.argsort(-answer)[:TOP_UNITS]
    show_chart(
        strongest,
        insight_charts.weight_grid(weight_images(model)[top], [f"#{unit}" for unit in top], columns=4),
        key="inside-top-units",
    )
    active = int(np.sum(answer > 0))
    st.caption(
        f"{active} of {answer.size} units of {first.name} answer this digit at all (ReLU silences the rest). Right: "
        f"the weights of the {TOP_UNITS} that answer most. The output layer weighs these answers into ten scores."
    )


def why_ui(model, image: np.ndarray, probabilities: np.ndarray) -> None:
    st.header("Why it read it this way")
    ranked = [int(digit) for digit in np.argsort(-probabilities)]
    other = st.selectbox(
        "Compare with", ranked[1:], key="inside_why_not", format_func=lambda d: f"why not {d}? ({probabilities[d]:.1%})"
    )
    columns = st.columns(2)
    for column, digit in zip(columns, (ranked[0], other), strict=True):
        show_evidence(column, model, image, digit, f"Evidence for {digit}", key=f"inside-why-{digit}")
    st.caption(
        "Integrated gradients: how much each pixel moved the probability of that digit, on the way from a black "
        "image to this one. Red pixels are evidence for it, blue against; they add up to the change in probability."
    )


def fooling_section(model, image: np.ndarray) -> None:
    st.header("Fool the network")
    st.caption(
        "The gradient that explains an answer also shows how to change it: move every pixel a little in the "
        "direction that hurts the network most. Pick a digit to aim for (or any other) and how far a pixel may move."
    )
    fooling_ui(model, image, key="inside-fool")


def hidden_map_ui(root: str, run_id: str, epoch: int | None, dataset: Dataset, model, image: np.ndarray) -> None:
    st.header("Where your digit lands among the test digits")
    hidden = caches.hidden_layer_map(root, run_id, epoch, dataset.name)
    star = hidden.place(dict(layer_outputs(model, image))[hidden.layer])
    event = show_chart(
        st,
        insight_charts.hidden_map_scatter(hidden.coordinates, hidden.labels, star),
        key="inside-map",
        on_select="rerun",
        selection_mode="points",
    )
    st.caption(
        f"{len(hidden.labels):,} test digits placed by what the last hidden layer ({hidden.layer}) answers, squeezed "
        "to two dimensions (PCA); the star is the digit above. Digits the network finds alike land together. "
        "Click a point to see that digit."
    )
    points = event.selection.points if event and event.selection else []
    if points and points[0].get("curve_number", 10) < 10:
        members = np.flatnonzero(hidden.labels == points[0]["curve_number"])
        chosen = members[points[0].get("point_index", points[0].get("point_number", 0))]
        index = int(hidden.indices[chosen])
        picture, text = st.columns([1, 2])
        show_chart(picture, charts.image_heatmap(dataset.x_test[index], f"test image {index}"), key="inside-clicked")
        text.metric(
            "Label",
            str(hidden.labels[chosen]),
            f"read as {hidden.predicted[chosen]}",
            delta_color="off",
            delta_arrow="off",
        )


def history_ui(root: str, run_id: str, image: np.ndarray, epoch: int) -> None:
    st.header("How its answer grew while it trained")
    curves = caches.epoch_replay(root, run_id).probabilities(image)
    show_chart(st, insight_charts.epoch_probabilities(curves, epoch), key="inside-history")
    settled = int(np.argmax(curves[-1]))
    first = next((k + 1 for k, row in enumerate(curves) if int(np.argmax(row)) == settled), len(curves))
    st.caption(
        f"This digit's probability for each class after every epoch; the dashed line is the epoch shown above. "
        f"The network first read it as a {settled} after epoch {first}. Move the slider to replay the pictures."
    )


main()
