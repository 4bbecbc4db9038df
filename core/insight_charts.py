"""Plotly figures of what a network does inside: weight pictures, evidence maps, layer answers, the hidden map,
an answer epoch by epoch, and an attack's change."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from core.charts import COMPACT, DIGIT_COLORS, DIGITS, INK_SCALE, plain_figure, tile, titled

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


def robustness_bars(clean: float, accuracies: dict[str, float]) -> go.Figure:
    """Accuracy under each corruption (titles -> accuracy), worst first, with the clean accuracy as a line."""
    ordered = sorted(accuracies.items(), key=lambda item: item[1])
    return go.Figure(
        {
            "data": [
                {
                    "type": "bar",
                    "orientation": "h",
                    "y": [title for title, _ in ordered],
                    "x": [accuracy for _, accuracy in ordered],
                    "text": [f"{accuracy:.1%}" for _, accuracy in ordered],
                    "textposition": "outside",
                    "marker": {"color": "#1f77b4"},
                    "name": "under the corruption",
                    "hovertemplate": "%{y}: %{x:.1%}<extra></extra>",
                },
                {
                    "type": "scatter",
                    "mode": "lines",
                    "x": [clean, clean],
                    "y": [ordered[0][0], ordered[-1][0]],
                    "line": {"color": "#d62728", "dash": "dash"},
                    "name": f"clean: {clean:.1%}",
                },
            ],
            "layout": {
                "height": 60 + 24 * len(ordered),
                "margin": {"l": 10, "r": 40, "t": 10, "b": 40},
                "xaxis": {"range": [0, 1.08], "tickformat": ".0%", "title": {"text": "accuracy"}},
                "yaxis": {"automargin": True},
                "legend": {"orientation": "h", "y": -0.12},
            },
        }
    )
