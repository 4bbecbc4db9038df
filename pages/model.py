"""Model: the network the hyperparameters describe, its summary and its layer graph."""

import streamlit as st

from core import charts
from core.augmentation import ELASTIC_SIGMA, augmented_examples, elastic_examples
from core.config import ConfigError
from core.state import LAST_GOOD_KEY
from pages.common import caches
from pages.common.frame import ensure_frame
from pages.common.panel import hyperparameter_panel
from pages.common.sidebar import load_selected_dataset
from pages.common.text import show_refusal
from pages.common.widgets import show_chart

ensure_frame()

AUGMENTED_EXAMPLES = 16
ELASTIC_EXAMPLES = 8
ELASTIC_PREVIEW_STRENGTH = 34.0  # shown while elastic distortion is off: Simard et al.'s MNIST setting

dataset = load_selected_dataset()
config = hyperparameter_panel()

st.title("Model")
st.caption(
    f"For {dataset.title}. Change the hyperparameters in the sidebar: the summary and the graph follow. "
    "The address bar holds this configuration: share the link to open the same one."
)

try:
    description = caches.model_description(config, dataset.image_shape)
    st.session_state[LAST_GOOD_KEY] = description
except ConfigError as error:
    show_refusal("This configuration cannot be built.", str(error))
    description = st.session_state.get(LAST_GOOD_KEY)
    if description is None:
        st.stop()
    st.caption("Below: the last model that could be built.")

summary = description.summary
total, trainable, memory = st.columns(3)
total.metric("Parameters", f"{summary.total_parameters:,}")
trainable.metric("Trainable", f"{summary.trainable_parameters:,}")
memory.metric("Weight memory", f"{summary.weight_bytes / 2**20:.2f} MiB", help="float32: 4 bytes per parameter")

table_column, graph_column = st.columns([3, 2])
with table_column:
    st.header("Summary")
    rows = [
        {
            "layer": row.name,
            "type": row.type,
            "activation": row.activation,
            "output shape": row.output_shape,
            "parameters": f"{row.parameters:,}",
            "trainable": "yes" if row.trainable else "no",
        }
        for row in summary.rows
    ]
    rows.append({"layer": "total", "parameters": f"{summary.total_parameters:,}"})
    st.table(rows, hide_index=True)
    st.markdown(
        "Each `Dense` layer has one weight per input-output pair plus one bias per output: "
        "784 x 512 + 512 = 401,920 for the notebook's hidden layer. The first dimension, `None`, is the batch size, "
        "unknown until you call the model."
    )
    st.info(
        "The notebook printed *unknown* output shapes because its `Sequential` model had no `Input`: Keras could not "
        "know the shapes before the first call. Here the model starts with `keras.Input`, so every shape and "
        "parameter count is known at once.",
        icon=":material/lightbulb:",
    )
    with st.expander("Keras' own `model.summary()`"):
        st.code(summary.text, language=None)
with graph_column:
    st.header("Layer graph")
    st.graphviz_chart(description.dot, width="stretch")
    st.caption("Read it top to bottom: the order in which an image flows through the layers.")

st.header("Augmentation: what training will see")
if not config.augmented:
    st.caption(
        "Augmentation is off, as in the notebook: the network trains on the images as they are. Turn it on "
        "in the sidebar (Augmentation) to see one digit as training would show it."
    )
else:
    digit = dataset.x_test[0] / dataset.pixel_max
    examples = augmented_examples(config, digit, AUGMENTED_EXAMPLES)
    show_chart(st, charts.image_grid(examples * 255, [""] * len(examples), columns=8), key="augmented")
    st.caption(
        f"The first test digit, {len(examples)} times, as the augmentation layers would change it in training "
        "(new draws on every rerun). They sit in front of the network, act only while it trains and are saved with "
        "it: a digit to read passes through unchanged."
    )

st.subheader("Elastic distortion")
strength = config.elastic or ELASTIC_PREVIEW_STRENGTH
digit = dataset.x_test[0] / dataset.pixel_max
wobbled = elastic_examples(digit, strength, ELASTIC_EXAMPLES)
show_chart(st, charts.image_grid(wobbled * 255, [""] * len(wobbled), columns=ELASTIC_EXAMPLES), key="elastic")
state = (
    "on in this configuration"
    if config.elastic
    else "off in this configuration: set Elastic distortion in the sidebar (Augmentation) to use it"
)
st.caption(
    f"The first test digit under elastic distortion of strength {strength:g} (Simard, Steinkraus and Platt, 2003): "
    f"each pixel moves along a random field smoothed over {ELASTIC_SIGMA:g} pixels, as a hand wobbles. It is "
    f"{state}."
)
