"""Plotly figures for the pages: data in, figure out, no Streamlit."""

from __future__ import annotations

import math

import numpy as np
import plotly.express as px
import plotly.graph_objects as go

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


CURVE_METRICS = {"loss": "Loss", "accuracy": "Accuracy"}


CURVE_KINDS = (("", "solid", "train"), ("test_", "dash", "held-out"), ("val_", "dot", "validation"))


def training_curves(runs: dict[str, dict[str, list[float]]], epochs: int | None = None, held_out: int = 0) -> go.Figure:
    """Loss and accuracy per epoch side by side, one colour per run: train solid, held-out test digits dashed
    (`held_out` of them, named in the legend when known), the validation split dotted.

    Built from plain dicts (~2 ms, not ~35 ms with make_subplots): the live view redraws it every second.
    """
    palette = px.colors.qualitative.Plotly
    traces = []
    for index, (name, history) in enumerate(runs.items()):
        for column, metric in enumerate(CURVE_METRICS, start=1):
            for prefix, dash, kind in CURVE_KINDS:
                values = history.get(prefix + metric)
                if not values:
                    continue
                kind = f"held-out ({held_out:,} test digits)" if prefix == "test_" and held_out else kind
                label = f"{name} {kind}" if len(runs) > 1 else kind
                traces.append(
                    {
                        "type": "scatter",
                        "x": list(range(1, len(values) + 1)),
                        "y": values,
                        "name": label,
                        "legendgroup": label,
                        "showlegend": column == 1,
                        "mode": "lines+markers",
                        "line": {"color": palette[index % len(palette)], "dash": dash},
                        "xaxis": "x" if column == 1 else "x2",
                        "yaxis": "y" if column == 1 else "y2",
                    }
                )
    longest = epochs or max((len(trace["x"]) for trace in traces), default=1)
    epoch_axis = {"title": {"text": "epoch"}, "range": [0.5, longest + 0.5], "dtick": 1 if longest <= 15 else None}
    titles = [
        {
            "text": title,
            "x": x,
            "y": 1.0,
            "xref": "paper",
            "yref": "paper",
            "xanchor": "center",
            "yanchor": "bottom",
            "showarrow": False,
            "font": {"size": 14},
        }
        for title, x in zip(CURVE_METRICS.values(), (0.225, 0.775), strict=True)
    ]
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

# Evidence for a class in red, against it in blue, nothing transparent: the digit shows through where it is 0.
EVIDENCE_SCALE = [[0.0, "rgba(33,102,172,1)"], [0.5, "rgba(247,247,247,0)"], [1.0, "rgba(178,24,43,1)"]]
WEIGHT_SCALE = "RdBu_r"  # positive weights red, negative blue, 0 white


def weight_grid(images: np.ndarray, titles: list[str], columns: int = 8) -> go.Figure:
    """Weight pictures side by side on one colour scale centred at 0."""
    columns = min(columns, len(images))
    rows = int(np.ceil(len(images) / columns))
    limit = float(np.abs(images).max()) or 1.0
    height, width = images.shape[1:]
    annotations = [
        {
            "x": column * (width + 2) - 0.5,
            "y": row * (height + 2) - 0.5,
            "text": title,
            "showarrow": False,
            "xanchor": "left",
            "yanchor": "top",
            "font": {"size": 10, "color": "#333333"},
        }
        for row, column, title in ((*divmod(index, columns), title) for index, title in enumerate(titles))
    ]
    return go.Figure(
        {
            "data": [
                {
                    "type": "heatmap",
                    "z": tile(images, columns),
                    "colorscale": WEIGHT_SCALE,
                    "zmid": 0,
                    "zmin": -limit,
                    "zmax": limit,
                    "hoverongaps": False,
                    "colorbar": {"title": {"text": "weight"}},
                    "hovertemplate": "weight %{z:.3f}<extra></extra>",
                }
            ],
            "layout": {
                "height": 40 + rows * max(70, 900 // columns),
                "annotations": annotations,
                **COMPACT,
                "xaxis": {"visible": False, "constrain": "domain"},
                "yaxis": {"visible": False, "autorange": "reversed", "scaleanchor": "x"},
            },
        }
    )


def attribution_overlay(image: np.ndarray, attribution: np.ndarray, title: str) -> go.Figure:
    """The digit the model sees, dimmed, with each pixel's evidence on top: red for the class, blue against."""
    limit = float(np.abs(attribution).max()) or 1.0
    return go.Figure(
        {
            "data": [
                {
                    "type": "heatmap",
                    "z": np.asarray(image, np.float64) * 0.45,
                    "colorscale": INK_SCALE,
                    "zmin": 0,
                    "zmax": 1,
                    "showscale": False,
                    "hoverinfo": "skip",
                },
                {
                    "type": "heatmap",
                    "z": np.asarray(attribution, np.float64),
                    "colorscale": EVIDENCE_SCALE,
                    "zmid": 0,
                    "zmin": -limit,
                    "zmax": limit,
                    "colorbar": {"title": {"text": "evidence"}},
                    "hovertemplate": "row %{y}, col %{x}: %{z:+.4f}<extra></extra>",
                },
            ],
            "layout": {
                "title": titled(title),
                "height": 340,
                **COMPACT,
                "xaxis": {"visible": False, "constrain": "domain"},
                "yaxis": {"visible": False, "autorange": "reversed", "scaleanchor": "x"},
            },
        }
    )


def activation_strip(values: np.ndarray, shown: int = 64) -> go.Figure:
    """The most active units of a layer, strongest first, with their unit numbers."""
    order = np.argsort(-values, kind="stable")[:shown]
    return go.Figure(
        {
            "data": [
                {
                    "type": "bar",
                    "x": [f"#{unit}" for unit in order],
                    "y": values[order].astype(np.float64),
                    "marker": {"color": "#3b6fd4"},
                    "hovertemplate": "unit %{x}: %{y:.3f}<extra></extra>",
                }
            ],
            "layout": {
                "height": 260,
                **COMPACT,
                "xaxis": {
                    "title": {"text": "unit, most active first"},
                    "type": "category",
                    "showticklabels": shown <= 32,
                },
                "yaxis": {"title": {"text": "activation"}},
            },
        }
    )


def epoch_probabilities(curves: np.ndarray, current: int | None = None) -> go.Figure:
    """A digit's probability for each class after each epoch; a dashed line marks the epoch shown."""
    epochs = list(range(1, len(curves) + 1))
    traces = [
        {
            "type": "scatter",
            "x": epochs,
            "y": curves[:, digit].astype(np.float64),
            "name": str(digit),
            "mode": "lines+markers",
            "line": {"color": DIGIT_COLORS[digit]},
            "hovertemplate": f"digit {digit}, epoch %{{x}}: %{{y:.1%}}<extra></extra>",
        }
        for digit in range(curves.shape[1])
    ]
    shapes = (
        [
            {
                "type": "line",
                "x0": current,
                "x1": current,
                "y0": 0,
                "y1": 1,
                "yref": "paper",
                "line": {"dash": "dash", "color": "#888888"},
            }
        ]
        if current
        else []
    )
    return go.Figure(
        {
            "data": traces,
            "layout": {
                "height": 320,
                **COMPACT,
                "shapes": shapes,
                "legend": {"title": {"text": "digit"}},
                "xaxis": {"title": {"text": "epoch"}, "dtick": 1 if len(epochs) <= 15 else None},
                "yaxis": {"title": {"text": "probability"}, "range": [0, 1], "tickformat": ".0%"},
            },
        }
    )


def hidden_map_scatter(coordinates: np.ndarray, labels: np.ndarray, star: np.ndarray | None = None) -> go.Figure:
    """Test digits placed by the last hidden layer's answer, coloured by their label; a star for the user's digit.
    Points can be clicked (each carries its position in the list)."""
    traces = []
    for digit in range(10):
        chosen = np.flatnonzero(labels == digit)
        traces.append(
            {
                "type": "scatter",
                "x": coordinates[chosen, 0],
                "y": coordinates[chosen, 1],
                "mode": "markers",
                "name": str(digit),
                "customdata": chosen,
                "marker": {"size": 5, "color": DIGIT_COLORS[digit], "opacity": 0.75},
                "hovertemplate": f"a {digit}<extra></extra>",
            }
        )
    if star is not None:
        marker = {"symbol": "star", "size": 22, "color": "#111111", "line": {"color": "#ffffff", "width": 2}}
        traces.append(
            {
                "type": "scatter",
                "x": [float(star[0])],
                "y": [float(star[1])],
                "mode": "markers",
                "name": "your digit",
                "marker": marker,
                "hovertemplate": "your digit<extra></extra>",
            }
        )
    return go.Figure(
        {
            "data": traces,
            "layout": {
                "height": 520,
                **COMPACT,
                "clickmode": "event+select",
                "legend": {"title": {"text": "label"}},
                "xaxis": {"title": {"text": "hidden component 1"}},
                "yaxis": {"title": {"text": "hidden component 2"}},
            },
        }
    )


def learning_rate_sweep(
    learning_rates: list[float], losses: list[float], suggestion: float, lowest: float
) -> go.Figure:
    """The learning-rate finder's smoothed loss against the rate (log axis), with the lowest loss and the suggestion
    as vertical lines named in the legend (narrow enough for the sidebar)."""

    def line(name: str, x: list, y: list, color: str, dash: str = "solid") -> dict:
        return {
            "type": "scatter",
            "x": x,
            "y": y,
            "mode": "lines",
            "name": name,
            "line": {"color": color, "dash": dash},
        }

    loss = {**line("loss", learning_rates, losses, "#1f77b4"), "hovertemplate": "rate %{x:.2g}: loss %{y:.3f}"}
    span = [min(losses), max(losses)]
    traces = [
        loss,
        line(f"suggested {suggestion:g}", [suggestion] * 2, span, "#117733", "dash"),
        line(f"lowest {lowest:.2g}", [lowest] * 2, span, "#882255", "dot"),
    ]
    return go.Figure(
        {
            "data": traces,
            "layout": {
                "height": 260,
                "margin": {"l": 10, "r": 10, "t": 36, "b": 10},
                "legend": {"orientation": "h", "y": -0.4},
                "xaxis": {
                    "type": "log",
                    "title": {"text": "learning rate"},
                    "exponentformat": "power",
                    "range": [math.log10(learning_rates[0]), math.log10(learning_rates[-1])],
                },
                "yaxis": {"title": {"text": "loss"}},
            },
        }
    )


# ---- Fooling the network -------------------------------------------------------------------------------------

CHANGE_SCALE = "RdBu_r"  # ink added red, ink taken away blue, unchanged white


def change_heatmap(change: np.ndarray, title: str) -> go.Figure:
    """An attack's change to each pixel, scaled to its largest so even a faint change shows; the true values on
    hover (a plain figure: redrawn with each drawing)."""
    limit = float(np.abs(change).max()) or 1.0
    height, width = change.shape
    return plain_figure(
        [
            {
                "type": "heatmap",
                "z": np.round(np.asarray(change, np.float64), 3),
                "colorscale": CHANGE_SCALE,
                "zmid": 0,
                "zmin": -limit,
                "zmax": limit,
                "colorbar": {"title": {"text": "change"}, "thickness": 12},
                "hovertemplate": "row %{y}, col %{x}: %{z:+.3f}<extra></extra>",
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


def probabilities_before_after(before: np.ndarray, after: np.ndarray) -> go.Figure:
    """The probability of each digit before an attack (grey) and after it (red), side by side."""
    bars = [
        {
            "type": "bar",
            "name": name,
            "x": DIGITS,
            "y": np.asarray(values, np.float64),
            "marker": {"color": color},
            "hovertemplate": f"digit %{{x}} {name}: %{{y:.2%}}<extra></extra>",
        }
        for name, values, color in (("before", before, "#888888"), ("after", after, "#d62728"))
    ]
    return plain_figure(
        bars,
        {
            "height": 300,
            **COMPACT,
            "barmode": "group",
            "legend": {"orientation": "h", "y": 1.12, "x": 1, "xanchor": "right"},
            "xaxis": {"title": {"text": "digit"}, "type": "category"},
            "yaxis": {"title": {"text": "probability"}, "range": [0, 1], "tickformat": ".0%"},
        },
    )


def batch_curves(losses: list[float], accuracies: list[float]) -> go.Figure:
    """Step mode: each batch's loss and accuracy as it was trained (a plain figure: redrawn after every click)."""
    batches = list(range(1, len(losses) + 1))
    return plain_figure(
        [
            {
                "type": "scatter",
                "x": batches,
                "y": losses,
                "name": "loss",
                "mode": "lines+markers",
                "line": {"color": "#1f77b4"},
                "marker": {"size": 4},
            },
            {
                "type": "scatter",
                "x": batches,
                "y": accuracies,
                "name": "batch accuracy",
                "mode": "lines+markers",
                "line": {"color": "#d62728"},
                "marker": {"size": 4},
                "yaxis": "y2",
            },
        ],
        {
            "height": 280,
            **COMPACT,
            "legend": {"orientation": "h", "y": -0.3},
            "xaxis": {"title": {"text": "batch"}, "rangemode": "tozero", "tickformat": ",d"},
            "yaxis": {"title": {"text": "loss"}, "rangemode": "tozero"},
            "yaxis2": {
                "title": {"text": "accuracy"},
                "overlaying": "y",
                "side": "right",
                "range": [0, 1],
                "tickformat": ".0%",
            },
        },
    )


# ---- Sweeps --------------------------------------------------------------------------------------------------

SWEEP_BEST_COLOR = "#CC3311"  # Paul Tol's vibrant red, on every theme
SWEEP_OTHER_COLOR = "#4477AA"  # Tol's bright blue
SWEEP_ACCURACY_TICKS = 6  # at most this many labelled accuracies (all of them when there are no more)


def sweep_axis(name: str, values: list) -> dict:
    """One hyperparameter's parallel-coordinates axis: log10 for a log-scale field, the choice's position for a
    categorical one (its labels as ticks), the value itself otherwise; the range covers every swept value."""
    from core.config import FIELDS

    spec = FIELDS[name]
    swept = sorted(set(values), key=spec.choices.index if spec.choices else None)
    if spec.log_scale and min(swept) > 0:
        position, label = (lambda value: math.log10(value)), f"{spec.label} (log)"
    elif spec.choices:
        position, label = swept.index, spec.label
    else:
        position, label = (lambda value: value), spec.label
    ticks = [position(value) for value in swept]
    return {
        "label": label,
        "values": [position(value) for value in values],
        "range": [min(ticks), max(ticks)],
        "tickvals": ticks,
        "ticktext": [spec.text(value) for value in swept],
    }


def sweep_coordinates(fields: list[str], configs: list, accuracies: list[float | None], best: int | None) -> go.Figure:
    """A sweep in parallel coordinates: its hyperparameters, then test accuracy; one line per run that has one,
    the best run's in red (drawn last, on top) and starred on the accuracy axis."""
    done = [index for index, accuracy in enumerate(accuracies) if accuracy is not None]
    done.sort(key=lambda index: index == best)  # the best line last: on top
    dimensions = []
    for name in fields:
        axis = sweep_axis(name, [getattr(config, name) for config in configs])  # every run: stable axes
        dimensions.append({**axis, "values": [axis["values"][index] for index in done]})
    scores = [accuracies[index] for index in done]
    low, high = (min(scores), max(scores)) if scores else (0.0, 1.0)
    pad = max((high - low) * 0.05, 0.001)
    ticks = sorted(set(scores)) or [low, high]
    if len(ticks) > SWEEP_ACCURACY_TICKS:
        ticks = [low + (high - low) * index / 4 for index in range(4)] + [high]  # the best is the highest
    apart = (high - low) * 0.06  # labels closer than this would print over each other
    ticks = [tick for tick in ticks if tick in (low, high) or min(tick - low, high - tick) >= apart]
    ticks = [tick for index, tick in enumerate(ticks) if index == 0 or tick - ticks[index - 1] >= apart or tick == high]
    labels = [f"{'★ ' if best is not None and tick == accuracies[best] else ''}{tick:.2%}" for tick in ticks]
    dimensions.append(
        {
            "label": "test accuracy",
            "values": scores,
            "range": [max(low - pad, 0), min(high + pad, 1)],
            "tickvals": ticks,
            "ticktext": labels,
        }
    )
    colors = [1 if index == best else 0 for index in done]
    title = "Test accuracy by hyperparameters" + ("" if scores else ": lines appear as runs finish")
    return go.Figure(
        {
            "data": [
                {
                    "type": "parcoords",
                    "dimensions": dimensions,
                    "line": {
                        "color": colors,
                        "colorscale": [[0, SWEEP_OTHER_COLOR], [1, SWEEP_BEST_COLOR]],
                        "cmin": 0,
                        "cmax": 1,
                    },
                }
            ],
            "layout": {
                "title": {"text": title, "x": 0, "xanchor": "left", "y": 0.98, "yref": "container", "yanchor": "top"},
                "height": 400,
                "margin": {"l": 70, "r": 70, "t": 100, "b": 20},
            },
        }
    )
