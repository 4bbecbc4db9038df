"""What a Keras model asks to read one digit, counted from its config before any weight exists: its parameters,
its multiply-adds and its largest layer output (core.uploads refuses uploads above the limits)."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class ModelCost:
    """What a model asks, counted from its config without allocating any weights."""

    parameters: int
    multiply_adds: int  # to read one digit: see `multiply_adds_of`
    largest_layer_values: int  # the largest output of a layer, in values per digit


def in_words(count: int) -> str:
    """A large count as a teacher reads it: "1.4 billion", "300 million", "52,000"."""
    for size, word in ((1e12, "trillion"), (1e9, "billion"), (1e6, "million")):
        if count >= size:
            value = count / size
            return f"{value:.1f}".removesuffix(".0") + f" {word}" if value < 10 else f"{value:,.0f} {word}"
    return f"{count:,}"


def multiply_adds_of(model) -> int:
    """Multiply-adds for ONE digit of a built model (weights allocated or not), from its layers' input and output
    shapes:
    - Dense: input features x units, times the positions when its input has more than one axis;
    - Conv1D/2D/3D: output positions x kernel volume x input channels / groups x filters;
    - Conv1D/2D/3DTranspose: input positions x kernel volume x input channels x filters;
    - DepthwiseConv1D/2D: output positions x kernel volume x channels x depth multiplier;
    - SeparableConv1D/2D: that depthwise part plus a pointwise one (output positions x channels x filters);
    - attention (MultiHeadAttention, GroupQueryAttention, Attention, AdditiveAttention) and Dot: their
      projections and their query x key products; pooling: one per value in each window;
    - any other layer with weights that are not just per-value scales (LSTM, GRU, TimeDistributed, EinsumDense...):
      its parameters times its input positions;
    - nested models (Sequential or Functional inside): their own layers, each time they are called.
    Everything else costs 0 here: activations, normalisation, dropout, reshaping, merging by Add or Concatenate,
    rescaling and augmentation; they cost about one operation per value, small beside the layers above."""
    return walk_arithmetic(model)[0]


def walk_arithmetic(model, depth: int = 0) -> tuple[int, int]:
    """(multiply-adds for one digit, the largest layer output in values per digit) of a built model."""
    import keras

    total, largest = 0, 0
    for node in graph_nodes(model):
        inputs = [per_digit_shape(tensor) for tensor in node.input_tensors]
        outputs = [per_digit_shape(tensor) for tensor in node.output_tensors]
        largest = max([largest, *(math.prod(shape) for shape in outputs)])
        if isinstance(node.operation, keras.Model) and depth < 8:
            inner_total, inner_largest = walk_arithmetic(node.operation, depth + 1)
            total, largest = total + inner_total, max(largest, inner_largest)
        else:
            total += layer_multiply_adds(node.operation, inputs, outputs)
    return total, largest


def graph_nodes(model) -> list:
    """Every call of a layer in the model's graph (a Sequential keeps its graph in a Functional model inside)."""
    graph = getattr(model, "_functional", None) or model
    by_depth = getattr(graph, "_nodes_by_depth", None)
    if not isinstance(by_depth, dict):
        raise ValueError(f"the structure of {type(model).__name__} models cannot be checked")
    return [node for nodes in by_depth.values() for node in nodes]


def per_digit_shape(tensor) -> tuple[int, ...]:
    """A tensor's shape without its batch axis (an axis of unknown length counts 1)."""
    return tuple(int(size) if size is not None else 1 for size in tuple(tensor.shape)[1:])


def layer_multiply_adds(layer, inputs: list[tuple[int, ...]], outputs: list[tuple[int, ...]]) -> int:
    """One call of one layer, for one digit: see `multiply_adds_of`."""
    from keras import layers as kl

    x = inputs[0] if inputs else ()
    y = outputs[0] if outputs else ()
    channels_last = getattr(layer, "data_format", "channels_last") == "channels_last"
    x_spatial, x_channels = ((x[:-1], x[-1]) if channels_last else (x[1:], x[0])) if x else ((), 1)
    y_spatial = (y[:-1] if channels_last else y[1:]) if y else ()
    kernel = math.prod(getattr(layer, "kernel_size", ()) or (1,))
    if isinstance(layer, kl.Dense):
        return math.prod(x[:-1]) * (x[-1] if x else 1) * layer.units
    if isinstance(layer, (kl.Conv1D, kl.Conv2D, kl.Conv3D)):
        return math.prod(y_spatial) * kernel * x_channels // layer.groups * layer.filters
    if isinstance(layer, (kl.Conv1DTranspose, kl.Conv2DTranspose, kl.Conv3DTranspose)):
        return math.prod(x_spatial) * kernel * x_channels * layer.filters
    if isinstance(layer, (kl.DepthwiseConv1D, kl.DepthwiseConv2D)):
        return math.prod(y_spatial) * kernel * x_channels * layer.depth_multiplier
    if isinstance(layer, (kl.SeparableConv1D, kl.SeparableConv2D)):
        return math.prod(y_spatial) * x_channels * layer.depth_multiplier * (kernel + layer.filters)
    if isinstance(layer, (kl.MultiHeadAttention, kl.GroupQueryAttention)):
        query, value = inputs[0], inputs[1] if len(inputs) > 1 else inputs[0]
        queries, keys = math.prod(query[:-1]), math.prod(value[:-1])
        heads = getattr(layer, "num_heads", None) or layer.num_query_heads
        widths = (layer.key_dim + layer.value_dim) if hasattr(layer, "key_dim") else 2 * layer.head_dim
        return layer.count_params() * max(queries, keys) + heads * queries * keys * widths
    if isinstance(layer, (kl.Attention, kl.AdditiveAttention)):
        query, value = inputs[0], inputs[1] if len(inputs) > 1 else inputs[0]
        return 2 * math.prod(query[:-1]) * math.prod(value[:-1]) * query[-1]
    if isinstance(layer, kl.Dot):
        axes = layer.axes if isinstance(layer.axes, (list, tuple)) else (layer.axes, layer.axes)
        first = (None, *x)  # with its batch axis, as `axes` counts
        return math.prod(y) * first[axes[0]] if len(x) >= 1 else 0
    if isinstance(
        layer,
        (
            kl.MaxPooling1D,
            kl.MaxPooling2D,
            kl.MaxPooling3D,
            kl.AveragePooling1D,
            kl.AveragePooling2D,
            kl.AveragePooling3D,
        ),
    ):
        return math.prod(y) * math.prod(layer.pool_size)
    if isinstance(layer, scale_only_layers()) or not layer.weights:
        return 0
    return layer.count_params() * math.prod(x[:-1])


def scale_only_layers() -> tuple[type, ...]:
    """Layers whose weights scale or look up values one by one (normalisation, PReLU, Embedding): no product."""
    from keras import layers as kl

    names = (
        "BatchNormalization",
        "LayerNormalization",
        "GroupNormalization",
        "UnitNormalization",
        "RMSNormalization",
        "Normalization",
        "PReLU",
        "Embedding",
    )
    return tuple(getattr(kl, name) for name in names if hasattr(kl, name))
