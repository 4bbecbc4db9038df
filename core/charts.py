"""Plotly figures for the pages: data in, figure out, no Streamlit."""

from __future__ import annotations

import numpy as np
import plotly.express as px
import plotly.graph_objects as go

DIGITS = [str(digit) for digit in range(10)]
INK = "gray"  # white ink on black, as the model sees it
INK_SCALE = [[0.0, "#000000"], [1.0, "#ffffff"]]
COMPACT = {"margin": {"l": 10, "r": 10, "t": 40, "b": 10}}


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
        barmode="group", xaxis_title="digit", yaxis_title="images", title="Images per digit", **COMPACT
    )
    return figure


def tile(images: np.ndarray, columns: int, gap: int = 2) -> np.ndarray:
    """Lay images out in a grid on one array, NaN in the gaps (one heatmap draws fast)."""
    count, height, width = images.shape
    rows = int(np.ceil(count / columns))
    grid = np.full((rows * (height + gap) - gap, columns * (width + gap) - gap), np.nan)
    for index, image in enumerate(images):
        row, column = divmod(index, columns)
        grid[
            row * (height + gap) : row * (height + gap) + height,
            column * (width + gap) : column * (width + gap) + width,
        ] = image
    return grid


def image_grid(images: np.ndarray, titles: list[str], columns: int = 8, gap: int = 2) -> go.Figure:
    """Images side by side in one heatmap, each with its title in the corner (built from plain dicts: fast)."""
    columns = min(columns, len(images))
    height, width = images.shape[1:]
    rows = int(np.ceil(len(images) / columns))
    annotations = [
        {"x": column * (width + gap) - 0.5, "y": row * (height + gap) - 0.5, "text": title, "showarrow": False,
         "xanchor": "left", "yanchor": "top", "font": {"color": "#ffd54f", "size": 11}}
        for row, column, title in ((*divmod(index, columns), title) for index, title in enumerate(titles))
    ]  # fmt: skip
    return go.Figure(
        {
            "data": [{"type": "heatmap", "z": tile(images, columns, gap), "colorscale": INK_SCALE, "showscale": False,
                      "hoverongaps": False, "hovertemplate": "%{z:.0f}<extra></extra>"}],
            "layout": {"height": 60 + rows * max(90, 900 // columns), "annotations": annotations, **COMPACT,
                       "xaxis": {"visible": False, "constrain": "domain"},
                       "yaxis": {"visible": False, "autorange": "reversed", "scaleanchor": "x"}},
        }
    )  # fmt: skip


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
        title="Pixel intensities", xaxis_title="pixel value", yaxis_title="pixels", yaxis_type="log", **COMPACT
    )
    return figure


def image_heatmap(image: np.ndarray, title: str = "") -> go.Figure:
    """One image up close, pixel values on hover (built from plain dicts: it is redrawn after every stroke)."""
    height, width = image.shape
    return go.Figure(
        {
            "data": [{"type": "heatmap", "z": np.asarray(image, np.float64), "colorscale": INK_SCALE,
                      "showscale": False, "hovertemplate": "row %{y}, col %{x}: %{z}<extra></extra>"}],
            "layout": {"title": {"text": title}, "height": 420, **COMPACT,
                       "xaxis": {"constrain": "domain", "range": [-0.5, width - 0.5]},
                       "yaxis": {"autorange": "reversed", "scaleanchor": "x", "constrain": "domain"}},
        }
    )  # fmt: skip


def pca_scatter(coordinates: np.ndarray, labels: np.ndarray, explained: tuple[float, float]) -> go.Figure:
    """A 2-D PCA map coloured by label."""
    figure = px.scatter(
        x=coordinates[:, 0],
        y=coordinates[:, 1],
        color=labels.astype(str),
        category_orders={"color": DIGITS},
        labels={"x": f"PC 1 ({explained[0]:.0%} of variance)", "y": f"PC 2 ({explained[1]:.0%})", "color": "digit"},
        opacity=0.7,
        render_mode="svg",  # 3,000 points draw fine as SVG, also where WebGL is slow or missing
    )
    figure.update_traces(marker_size=4, hovertemplate="digit %{fullData.name}<extra></extra>")
    figure.update_layout(title="Principal components of the images", height=520, **COMPACT)
    return figure


CURVE_METRICS = {"loss": "Loss", "accuracy": "Accuracy"}


def training_curves(runs: dict[str, dict[str, list[float]]], epochs: int | None = None) -> go.Figure:
    """Loss and accuracy per epoch side by side, train solid and validation dashed, one colour per run.

    Built from plain dicts (~2 ms, not ~35 ms with make_subplots): the live view redraws it every second.
    """
    palette = px.colors.qualitative.Plotly
    traces = []
    for index, (name, history) in enumerate(runs.items()):
        for column, metric in enumerate(CURVE_METRICS, start=1):
            for prefix, dash in (("", "solid"), ("val_", "dash")):
                values = history.get(prefix + metric)
                if not values:
                    continue
                kind = "validation" if prefix else "train"
                label = f"{name} {kind}" if len(runs) > 1 else kind
                traces.append(
                    {"type": "scatter", "x": list(range(1, len(values) + 1)), "y": values, "name": label,
                     "legendgroup": label, "showlegend": column == 1, "mode": "lines+markers",
                     "line": {"color": palette[index % len(palette)], "dash": dash},
                     "xaxis": "x" if column == 1 else "x2", "yaxis": "y" if column == 1 else "y2"}
                )  # fmt: skip
    longest = epochs or max((len(trace["x"]) for trace in traces), default=1)
    epoch_axis = {"title": {"text": "epoch"}, "range": [0.5, longest + 0.5], "dtick": 1 if longest <= 15 else None}
    titles = [
        {"text": title, "x": x, "y": 1.0, "xref": "paper", "yref": "paper", "xanchor": "center", "yanchor": "bottom",
         "showarrow": False, "font": {"size": 14}}
        for title, x in zip(CURVE_METRICS.values(), (0.225, 0.775), strict=True)
    ]  # fmt: skip
    layout = {
        "xaxis": {**epoch_axis, "domain": [0, 0.45], "anchor": "y"},
        "xaxis2": {**epoch_axis, "domain": [0.55, 1], "anchor": "y2"},
        "yaxis": {"anchor": "x"},
        "yaxis2": {"anchor": "x2"},
        "annotations": titles,
        "height": 380,
        "legend": {"orientation": "h", "y": -0.25},
        **COMPACT,
    }
    return go.Figure({"data": traces, "layout": layout})


def probability_bars(probabilities: np.ndarray, highlight: int | None = None) -> go.Figure:
    """The model's probability for each digit; the predicted one stands out (plain dicts: redrawn per stroke)."""
    top = int(np.argmax(probabilities)) if highlight is None else highlight
    colors = ["#d62728" if digit == top else "#1f77b4" for digit in range(len(probabilities))]
    return go.Figure(
        {
            "data": [{"type": "bar", "x": DIGITS, "y": np.asarray(probabilities, np.float64),
                      "marker": {"color": colors}, "hovertemplate": "digit %{x}: %{y:.2%}<extra></extra>"}],
            "layout": {"height": 300, **COMPACT, "xaxis": {"title": {"text": "digit"}, "type": "category"},
                       "yaxis": {"title": {"text": "probability"}, "range": [0, 1], "tickformat": ".0%"}},
        }
    )  # fmt: skip


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
