"""Inside the network: what the first layer learned, what every layer answers, and why a digit was read so.

Images come in as the pages show them: (28, 28) or (8, 8), values in [0, 1]. Each function reshapes them to
what the model reads, and works for the dense family, the CNNs and uploaded models alike.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass

import numpy as np

from core.model import derived, model_input_shape, predict_probabilities
from core.snapshots import Snapshot

IG_STEPS = 64  # integrated gradients: points on the path from the black image (completeness holds within 0.03)


def first_weighted_layer(model):
    """The first layer that has a kernel: what looks at the pixels (looking inside nested models too)."""
    return next(layer for layer in all_layers(model) if getattr(layer, "kernel", None) is not None)


def all_layers(model):
    """A model's layers in order, those of nested models in their place."""
    for layer in model.layers:
        yield from all_layers(layer) if hasattr(layer, "layers") else (layer,)


def weight_images(model) -> np.ndarray:
    """The first layer's weights as pictures: (units, side, side) for a Dense layer on the pixels, each unit's
    incoming weights in the image's layout; (filters, kh, kw) for a Conv2D layer (its first input channel)."""
    layer = first_weighted_layer(model)
    kernel = np.asarray(layer.kernel)
    if kernel.ndim == 4:  # Conv2D: (kh, kw, channels in, filters)
        return np.moveaxis(kernel[:, :, 0, :], -1, 0)
    side = int(round(np.sqrt(kernel.shape[0])))
    if side * side != kernel.shape[0]:
        raise ValueError(f"The first layer reads {kernel.shape[0]} values, not a square image.")
    return kernel.T.reshape(-1, side, side)


def unit_order(images: np.ndarray, responses: np.ndarray | None = None) -> np.ndarray:
    """Unit indices, strongest first: by the norm of their weights, or by their response to a digit."""
    strength = np.linalg.norm(images.reshape(len(images), -1), axis=1) if responses is None else responses
    return np.argsort(-strength, kind="stable")


def as_model_input(model, image: np.ndarray) -> np.ndarray:
    """One (h, w) image in [0, 1] -> a batch of one in the model's input shape."""
    return np.asarray(image, np.float32).reshape((1, *model_input_shape(model)))


def layer_outputs(model, image: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """Every layer's output for one image, in order, batch dimension dropped; the last is the probabilities."""
    import keras

    probe = derived(model, "every layer", lambda: keras.Model(model.inputs[0], [x.output for x in model.layers]))
    outputs = probe(as_model_input(model, image), training=False)
    outputs = outputs if isinstance(outputs, list | tuple) else [outputs]
    return [(layer.name, np.asarray(output)[0]) for layer, output in zip(model.layers, outputs, strict=True)]


def first_layer_responses(model, image: np.ndarray) -> np.ndarray | None:
    """How strongly each first-layer unit (or filter, at its strongest pixel) answers this digit; None when that
    layer sits inside a nested model (an uploaded model that Digit Lab wrapped)."""
    first = first_weighted_layer(model)
    if first not in model.layers:
        return None
    output = dict(layer_outputs(model, image))[first.name]
    return output.reshape(-1, output.shape[-1]).max(axis=0) if output.ndim > 1 else output


def integrated_gradients(model, image: np.ndarray, target: int | None = None, steps: int = IG_STEPS) -> np.ndarray:
    """(h, w) attribution of one class (the predicted one by default), measured from a black image.

    Positive pixels are evidence for the class, negative against it. The steps run as one batch through one
    GradientTape, and the path integral uses the trapezoidal rule, so the attributions add up to
    p(image) - p(black) for that class.
    """
    x = as_model_input(model, image)
    if target is None:
        target = int(np.argmax(predict_probabilities(model, x)[0]))
    alphas = np.linspace(0.0, 1.0, steps + 1, dtype=np.float32).reshape((-1,) + (1,) * (x.ndim - 1))
    gradients = np.asarray(_gradient_function(model)(alphas * x, np.int32(target)))
    average = (gradients[:-1] + gradients[1:]).mean(axis=0) / 2.0  # trapezoids along the path
    return (x[0] * average).reshape(np.shape(image))


def _gradient_function(model):
    """d p(target) / d input for a batch, traced once per model."""

    def trace():
        import tensorflow as tf

        @tf.function(reduce_retracing=True)
        def gradients(batch, target):
            with tf.GradientTape() as tape:
                tape.watch(batch)
                probabilities = model(batch, training=False)[:, target]
            return tape.gradient(probabilities, batch)

        return gradients

    return derived(model, "gradients", trace)


# ---- The hidden map -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HiddenMap:
    """The last hidden layer's answers for some test images, projected to 2-D."""

    layer: str
    coordinates: np.ndarray  # (n, 2)
    labels: np.ndarray  # (n,) true digits
    predicted: np.ndarray  # (n,)
    indices: np.ndarray  # (n,) positions in the test set
    mean: np.ndarray  # the projection, to place a new digit on the same map
    components: np.ndarray  # (2, units)

    def place(self, hidden: np.ndarray) -> np.ndarray:
        """Where a new digit's hidden answer lands on this map."""
        return (np.ravel(hidden) - self.mean) @ self.components.T


def last_hidden_layer(model):
    """The layer whose answer the output layer reads."""
    return model.layers[-2] if len(model.layers) > 1 else model.layers[-1]


def hidden_answers(model, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """The last hidden layer's output for a batch of model inputs, flattened: (n, units)."""
    import keras

    probe = keras.Model(model.inputs[0], last_hidden_layer(model).output)
    parts = [np.asarray(probe(x[start : start + batch_size], training=False)) for start in range(0, len(x), batch_size)]
    return np.concatenate(parts).reshape(len(x), -1)


def hidden_map(model, images: np.ndarray, labels: np.ndarray, count: int = 2000, seed: int = 0) -> HiddenMap:
    """PCA of the last hidden layer's answers for `count` test images (uint8 or [0, 1] floats)."""
    from sklearn.decomposition import PCA

    indices = np.sort(np.random.default_rng(seed).choice(len(images), size=min(count, len(images)), replace=False))
    chosen = images[indices].astype(np.float32)
    chosen = chosen / chosen.max() if chosen.max() > 1 else chosen
    x = chosen.reshape((len(indices), *model_input_shape(model)))
    hidden = hidden_answers(model, x)
    pca = PCA(n_components=2, random_state=seed).fit(hidden)
    predicted = predict_probabilities(model, x).argmax(axis=1)
    return HiddenMap(
        last_hidden_layer(model).name,
        pca.transform(hidden),
        labels[indices],
        predicted,
        indices,
        pca.mean_,
        pca.components_,
    )


# ---- Across the epochs --------------------------------------------------------------------------------------


class EpochReplay:
    """A private copy of a run's model with its weights after every epoch; `at(k)` loads epoch k's weights.

    One lock guards the copy: sessions take turns (each use takes milliseconds). It is reentrant, so a view
    computed inside `at(k)` may ask for the same epoch again."""

    def __init__(self, model, snapshots: list[Snapshot]):
        self.model = model
        self.snapshots = snapshots  # kept as stored (8 bits): 30 epochs of the seed network hold 14 MB, not 48 MB
        self._lock = threading.RLock()

    @classmethod
    def of_run(cls, store, run_id: str) -> EpochReplay | None:
        """A stored run's replay (a core.store.RunStore's): its epochs' snapshots, the last one exact (the saved
        model's own weights: snapshots keep 8 bits), or None when it kept none."""
        epochs = store.epochs_saved(run_id)
        if not epochs:
            return None
        model = store.load_model(run_id)
        earlier = [store.epoch_snapshot(run_id, k) for k in range(1, epochs)]
        return cls(model, [*earlier, Snapshot.exact(model.get_weights())])

    @property
    def epochs(self) -> int:
        return len(self.snapshots)

    @contextlib.contextmanager
    def at(self, epoch: int):
        """The model as it was after `epoch` (1-based), for the length of the `with` block."""
        with self._lock:
            self.model.set_weights(self.snapshots[epoch - 1].weights())
            yield self.model

    def probabilities(self, image: np.ndarray) -> np.ndarray:
        """(epochs, 10): the digit's probabilities after each epoch."""
        rows = []
        for epoch in range(1, self.epochs + 1):
            with self.at(epoch) as model:
                rows.append(predict_probabilities(model, as_model_input(model, image))[0])
        return np.stack(rows) if rows else np.zeros((0, 10), np.float32)
