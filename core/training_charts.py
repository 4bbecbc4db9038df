"""Plotly figures of training: per-epoch curves, the learning-rate finder's curve, step mode's batches, a sweep."""

from __future__ import annotations

import math

import plotly.express as px
import plotly.graph_objects as go

from core.charts import COMPACT, plain_figure

CURVE_METRICS = {"loss": "Loss", "accuracy": "Accuracy"}
CURVE_KINDS = (
    ("", "solid", "train"),
    ("test_", "dash", "held-out"),
    ("val_", "dot", "validation"),
    ("test_adversarial_", "dashdot", "held-out, attacked (PGD)"),
)


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


def learning_rate_curve(
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


def curves_summary(history: dict[str, list[float]]) -> str:
    """The curves' key numbers in words (their text alternative)."""
    epochs, loss, accuracy = len(history["loss"]), history["loss"], history.get("accuracy", [])
    text = f"After epoch {epochs}: training loss {loss[-1]:.4f} (from {loss[0]:.4f})"
    text += f", training accuracy {accuracy[-1]:.2%}" if accuracy else ""
    if history.get("test_accuracy"):
        text += f", held-out accuracy {history['test_accuracy'][-1]:.2%} (loss {history['test_loss'][-1]:.4f})"
    if history.get("val_accuracy"):
        text += f", validation accuracy {history['val_accuracy'][-1]:.2%}"
    return text + "." + overfitting_note(history)


def overfitting_note(history: dict[str, list[float]]) -> str:
    """Where the held-out loss was lowest, and how far it has risen since: overfitting, as it grows."""
    held_out = history.get("test_loss") or []
    if len(held_out) < 2:
        return ""
    best = min(range(len(held_out)), key=held_out.__getitem__)
    if best == len(held_out) - 1:
        return f" The held-out loss is still falling: lowest now, after epoch {best + 1}."
    text = (
        f" The held-out loss was lowest after epoch {best + 1} ({held_out[best]:.4f}) and has risen by "
        f"{held_out[-1] - held_out[best]:.4f} since"
    )
    if history["loss"][-1] < history["loss"][best]:
        return text + " while the training loss kept falling: the model has begun to overfit."
    return text + "."
