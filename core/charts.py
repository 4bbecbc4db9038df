"""Plotly figures for the pages: the shared building blocks, the dataset's charts and a model's answers. Data in,
figure out, no Streamlit (training_charts.py and insight_charts.py hold the rest)."""

from __future__ import annotations

import base64
import io

import numpy as np
import plotly.express as px
import plotly.graph_objects as go
from PIL import Image

DIGITS = [str(digit) for digit in range(10)]
INK = "gray"  # white ink on black, as the model sees it
INK_SCALE = [[0.0, "#000000"], [1.0, "#ffffff"]]
COMPACT = {"margin": {"l": 10, "r": 10, "t": 56, "b": 10}}  # room on top for the title below the toolbar


def titled(text: str) -> dict:
    """A chart title just above the plot, below the chart's toolbar (a narrow chart's toolbar covers its top)."""
    return {"text": text, "y": 1, "yref": "paper", "yanchor": "bottom", "pad": {"b": 6}}


def plain_figure(data: list[dict], layout: dict) -> go.Figure:
    """A figure built without plotly's checks and without a template: for the charts redrawn after every stroke.

    Streamlit styles every chart in the browser whatever its template says, so plotly's default template is only
    weight; and st.plotly_chart validates again any figure given as a dict. Checking and copying the template was
    most of the ~5 ms each per-stroke chart took to send; built this way, ~1 ms. `_validate` is plotly's own
    switch (tests/test_streamlit_hooks.py fails if it goes).
    """
    return go.Figure({"data": data, "layout": {"template": {}, **layout}}, _validate=False)


# One colour per digit, the same on every chart; from Paul Tol's colour-blind-safe "muted" scheme plus grey.
DIGIT_COLORS = [
    "#332288",
    "#88CCEE",
    "#44AA99",
    "#117733",
    "#999933",
    "#DDCC77",
    "#CC6677",
    "#882255",
    "#AA4499",
    "#777777",
]


def class_distribution(train_counts: np.ndarray, test_counts: np.ndarray) -> go.Figure:
    """Images per digit, train and test side by side."""
    figure = go.Figure(
        [
            go.Bar(
                name="train", x=DIGITS, y=train_counts, hovertemplate="digit %{x}: %{y:,} train images<extra></extra>"
            ),
            go.Bar(name="test", x=DIGITS, y=test_counts, hovertemplate="digit %{x}: %{y:,} test images<extra></extra>"),
        ]
    )
    figure.update_layout(
        barmode="group", xaxis_title="digit", yaxis_title="images", title=titled("Images per digit"), **COMPACT
    )
    return figure


def tile(images: np.ndarray, columns: int, gap: int = 2) -> np.ndarray:
    """Lay images out in a grid on one array, NaN in the gaps (one heatmap draws fast)."""
    count, height, width = images.shape
    rows = int(np.ceil(count / columns))
    grid = np.full((rows * (height + gap) - gap, columns * (width + gap) - gap), np.nan, np.float32)
    for index, image in enumerate(images):
        row, column = divmod(index, columns)
        grid[
            row * (height + gap) : row * (height + gap) + height,
            column * (width + gap) : column * (width + gap) + width,
        ] = image
    return grid


def image_grid(
    images: np.ndarray, titles: list[str], columns: int = 8, gap: int = 2, clickable: bool = False
) -> go.Figure:
    """Images side by side in one heatmap, each with its title in the corner (built from plain dicts: fast).
    `clickable` lays an invisible marker on each image (heatmaps cannot be selected): its point index is the
    image's position in `images`."""
    columns = min(columns, len(images))
    height, width = images.shape[1:]
    rows = int(np.ceil(len(images) / columns))
    places = [divmod(index, columns) for index in range(len(images))]
    annotations = [
        {
            "x": column * (width + gap) - 0.5,
            "y": row * (height + gap) - 0.5,
            "text": title,
            "showarrow": False,
            "xanchor": "left",
            "yanchor": "top",
            "font": {"color": "#ffd54f", "size": 11},
        }
        for (row, column), title in zip(places, titles, strict=False)
    ]
    data = [
        {
            "type": "heatmap",
            "z": tile(images, columns, gap),
            "colorscale": INK_SCALE,
            "showscale": False,
            "hoverongaps": False,
            "hovertemplate": "%{z:.0f}<extra></extra>",
        }
    ]
    if clickable:
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "showlegend": False,
                "hoverinfo": "skip",
                "x": [column * (width + gap) + width / 2 - 0.5 for _, column in places],
                "y": [row * (height + gap) + height / 2 - 0.5 for row, _ in places],
                "marker": {"symbol": "square", "size": 40, "color": "#d62728", "opacity": 0},
                "selected": {"marker": {"opacity": 0.3}},
                "unselected": {"marker": {"opacity": 0}},
            }
        )
    return go.Figure(
        {
            "data": data,
            "layout": {
                "height": 60 + rows * max(90, 900 // columns),
                "annotations": annotations,
                **COMPACT,
                "clickmode": "event+select",
                "xaxis": {"visible": False, "constrain": "domain"},
                "yaxis": {"visible": False, "autorange": "reversed", "scaleanchor": "x"},
            },
        }
    )


def mean_images(means: np.ndarray) -> go.Figure:
    """The average image of each digit, in one row of ten."""
    figure = image_grid(means, [str(digit) for digit in range(10)], columns=10)
    figure.update_layout(title="Mean image of each digit")
    return figure


def pixel_histogram(counts: np.ndarray) -> go.Figure:
    """How often each pixel value occurs (log scale: most pixels are background)."""
    figure = go.Figure(
        go.Bar(x=np.arange(len(counts)), y=counts, hovertemplate="value %{x}: %{y:,} pixels<extra></extra>")
    )
    figure.update_layout(
        title=titled("Pixel intensities"), xaxis_title="pixel value", yaxis_title="pixels", yaxis_type="log", **COMPACT
    )
    return figure


def image_heatmap(image: np.ndarray, title: str = "") -> go.Figure:
    """One image up close, pixel values (to 3 decimals) on hover; a plain figure: redrawn after every stroke."""
    height, width = image.shape
    return plain_figure(
        [
            {
                "type": "heatmap",
                "z": np.round(np.asarray(image, np.float64), 3),
                "colorscale": INK_SCALE,
                "showscale": False,
                "hovertemplate": "row %{y}, col %{x}: %{z}<extra></extra>",
            }
        ],
        {
            "title": titled(title),
            "height": 420,
            **COMPACT,
            "xaxis": {"constrain": "domain", "range": [-0.5, width - 0.5]},
            "yaxis": {"autorange": "reversed", "scaleanchor": "x", "constrain": "domain"},
        },
    )


def image_data_url(image: np.ndarray, scale: int = 8) -> str:
    """One image as a PNG data URL, each pixel a `scale`-wide square (no smoothing): the per-stroke picture, which
    a browser shows at once, where a plotly heat map takes a redraw (and Streamlit's media files a request)."""
    pixels = np.clip(np.asarray(image, np.float64) * 255 + 0.5, 0, 255).astype(np.uint8)
    big = np.kron(pixels, np.ones((scale, scale), np.uint8))
    buffer = io.BytesIO()
    Image.fromarray(big, "L").save(buffer, format="PNG", optimize=False)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def probability_table_html(probabilities: np.ndarray) -> str:
    """The ten probabilities as a table of bars, the top one in red: the per-stroke answer as light HTML (numbers
    only, formatted here), readable by a screen reader as a table of digit and probability."""
    top = int(np.argmax(probabilities))
    rows = []
    for digit, probability in enumerate(np.asarray(probabilities, np.float64)):
        color, weight = ("#d62728", "700") if digit == top else ("#1f77b4", "400")
        width = f"{max(probability * 100, 0.5):.1f}%"
        rows.append(
            f'<tr style="font-weight:{weight}"><th scope="row" style="padding:0 0.5em;text-align:center">{digit}</th>'
            f'<td style="width:100%;padding:1px 0"><div aria-hidden="true" style="height:0.9em;width:{width};'
            f'background:{color};border-radius:2px"></div></td>'
            f'<td style="padding:0 0.5em;text-align:right">{probability:.1%}</td></tr>'
        )
    return (
        '<table style="width:100%;border-collapse:collapse;font-size:0.85rem;line-height:1.35">'
        '<caption style="caption-side:top;text-align:left;padding-bottom:0.3em">Probability of each digit</caption>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def pca_scatter(coordinates: np.ndarray, labels: np.ndarray, explained: tuple[float, float]) -> go.Figure:
    """A 2-D PCA map, one colour per digit (plain dicts: ~30x faster to build than plotly express)."""
    traces = [
        {
            "type": "scatter",
            "mode": "markers",
            "name": digit,
            "x": coordinates[labels == int(digit), 0],
            "y": coordinates[labels == int(digit), 1],
            "opacity": 0.7,
            "marker": {"size": 4, "color": DIGIT_COLORS[int(digit)]},
            "hovertemplate": f"digit {digit}<extra></extra>",
        }
        for digit in DIGITS
    ]
    return go.Figure(
        {
            "data": traces,
            "layout": {
                "title": titled("Principal components of the images"),
                "height": 520,
                **COMPACT,
                "legend": {"title": {"text": "digit"}},
                "xaxis": {"title": {"text": f"PC 1 ({explained[0]:.0%} of variance)"}},
                "yaxis": {"title": {"text": f"PC 2 ({explained[1]:.0%})"}},
            },
        }
    )


def probability_bars(probabilities: np.ndarray, highlight: int | None = None) -> go.Figure:
    """The model's probability for each digit; the predicted one stands out (a plain figure: redrawn per stroke)."""
    top = int(np.argmax(probabilities)) if highlight is None else highlight
    colors = ["#d62728" if digit == top else "#1f77b4" for digit in range(len(probabilities))]
    return plain_figure(
        [
            {
                "type": "bar",
                "x": DIGITS,
                "y": np.asarray(probabilities, np.float64),
                "marker": {"color": colors},
                "hovertemplate": "digit %{x}: %{y:.2%}<extra></extra>",
            }
        ],
        {
            "height": 300,
            **COMPACT,
            "xaxis": {"title": {"text": "digit"}, "type": "category"},
            "yaxis": {"title": {"text": "probability"}, "range": [0, 1], "tickformat": ".0%"},
        },
    )


def accuracy_by_digit(accuracy: np.ndarray, counts: np.ndarray) -> go.Figure:
    """Accuracy for each digit, with how many examples each bar stands on."""
    return go.Figure(
        {
            "data": [
                {
                    "type": "bar",
                    "x": DIGITS,
                    "y": np.nan_to_num(accuracy).astype(np.float64),
                    "customdata": counts,
                    "marker": {"color": DIGIT_COLORS},
                    "text": [f"{c}" for c in counts],
                    "textposition": "outside",
                    "hovertemplate": "digit %{x}: %{y:.0%} of %{customdata}<extra></extra>",
                }
            ],
            "layout": {
                "height": 300,
                **COMPACT,
                "title": titled("Accuracy by digit (number drawn above each bar)"),
                "xaxis": {"title": {"text": "digit"}, "type": "category"},
                "yaxis": {"title": {"text": "accuracy"}, "range": [0, 1.1], "tickformat": ".0%"},
            },
        }
    )


def confusion_heatmap(matrix: np.ndarray) -> go.Figure:
    """True digit by predicted digit; the diagonal is what the model gets right. Cells can be clicked."""
    figure = px.imshow(
        matrix,
        x=DIGITS,
        y=DIGITS,
        text_auto=True,
        color_continuous_scale="Blues",
        labels={"x": "predicted", "y": "true", "color": "images"},
        title="Confusion matrix (test set)",
    )
    figure.update_traces(hoverinfo="skip", hovertemplate=None)
    # Heatmaps cannot be selected in plotly: an invisible square marker per cell takes the clicks and the hover.
    true_digits, predicted_digits = np.meshgrid(DIGITS, DIGITS, indexing="ij")
    figure.add_scatter(
        x=predicted_digits.ravel(),
        y=true_digits.ravel(),
        customdata=matrix.ravel(),
        mode="markers",
        marker={"symbol": "square", "size": 34, "color": "#d62728", "opacity": 0},
        selected={"marker": {"opacity": 0.35}},
        unselected={"marker": {"opacity": 0}},
        hovertemplate="true %{y}, predicted %{x}: %{customdata} images<extra></extra>",
        showlegend=False,
    )
    figure.update_xaxes(dtick=1, side="top", range=[-0.5, 9.5])
    figure.update_yaxes(dtick=1, range=[9.5, -0.5], autorange=False)  # the markers must not widen the axes
    figure.update_layout(height=520, clickmode="event+select", **COMPACT)
    return figure


# ---- Inside the network ---------------------------------------------------------------------------------------


# ---- Fooling the network -------------------------------------------------------------------------------------


# ---- Sweeps --------------------------------------------------------------------------------------------------
