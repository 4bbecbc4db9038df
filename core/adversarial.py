"""Fooling the network: adversarial digits by the fast gradient sign method and projected gradient descent.

FGSM (Goodfellow et al., 2015) moves every pixel by epsilon in the direction that hurts the model most, in one
step. PGD (Madry et al., 2018) takes several smaller steps, each pulled back into the box of images within
epsilon of the original (max norm) and into [0, 1]. Untargeted ("any other digit") pushes away from the model's
current answer; targeted pulls toward the digit asked for.

Images come in as the pages show them, (h, w) in [0, 1], or as a batch of them, or already in the model's input
shape; they come back in the shape they came in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.model import derived, model_input_shape, predict_probabilities

PGD_STEPS = 10
TRAINING_STEP_SHARE = 1.25  # adversarial training: one step of 1.25 epsilon from a uniform random start (Wong et al.)
PGD_STEP_SHARE = 2.5  # each PGD step moves pixels by 2.5 * epsilon / steps (Madry et al.): it can cross the box
METHODS = ("FGSM", "PGD")


class AttackError(Exception):
    """The attack cannot run on this model or with these settings; the message says why."""


@dataclass(frozen=True)
class Fooling:
    """One digit before and after an attack, with the model's probabilities for both."""

    method: str
    epsilon: float
    target: int | None  # the digit asked for; None for "any other"
    original: np.ndarray  # (h, w) in [0, 1]
    adversarial: np.ndarray  # (h, w) in [0, 1], within epsilon of the original
    before: np.ndarray  # (classes,) probabilities
    after: np.ndarray

    @property
    def answer_before(self) -> int:
        return int(np.argmax(self.before))

    @property
    def answer_after(self) -> int:
        return int(np.argmax(self.after))

    @property
    def change(self) -> np.ndarray:
        """adversarial - original: what the attack added (+) or took away (-) at each pixel."""
        return self.adversarial - self.original

    @property
    def fooled(self) -> bool:
        """The answer changed (any other) or became the target."""
        if self.target is None:
            return self.answer_after != self.answer_before
        return self.answer_after == self.target


def fgsm(model, image: np.ndarray, epsilon: float, target: int | np.ndarray | None = None) -> np.ndarray:
    """One step of epsilon per pixel along the sign of the loss gradient; the result stays in [0, 1]."""
    return _attack(model, image, epsilon, target, steps=1, step_size=epsilon)


def pgd(
    model, image: np.ndarray, epsilon: float, steps: int = PGD_STEPS, target: int | np.ndarray | None = None
) -> np.ndarray:
    """`steps` signed-gradient steps, each projected back within epsilon of the original and into [0, 1]."""
    if not 1 <= int(steps) <= 1000:
        raise AttackError(f"PGD takes 1 to 1000 steps, not {steps}.")
    return _attack(model, image, epsilon, target, steps=int(steps), step_size=PGD_STEP_SHARE * epsilon / int(steps))


def fool(
    model, image: np.ndarray, method: str, epsilon: float, target: int | None = None, steps: int = PGD_STEPS
) -> Fooling:
    """Attack one (h, w) digit with "FGSM" or "PGD" and read it before and after."""
    if method not in METHODS:
        raise AttackError(f"Unknown attack {method!r}: choose one of {', '.join(METHODS)}.")
    original = np.asarray(image, np.float32)
    if method == "FGSM":
        adversarial = fgsm(model, original, epsilon, target)
    else:
        adversarial = pgd(model, original, epsilon, steps, target)
    before, after = probabilities_of(model, np.stack([original, adversarial]))
    return Fooling(method, float(epsilon), target, original, adversarial, before, after)


def probabilities_of(model, images: np.ndarray) -> np.ndarray:
    """The model's probabilities for a batch of images of any shape that holds its inputs."""
    return predict_probabilities(model, _as_batch(model, images))


# ---- Training against attacks ---------------------------------------------------------------------------


def train_against_attacks(model, epsilon: float) -> None:
    """From now on `model.fit` trains on each batch as an attacker would change it: FGSM from a random start
    within epsilon (Wong, Rice and Kolter, "Fast is better than free", 2020), which costs about one more gradient
    a batch. Set on the model object, not saved with it: the saved model is an ordinary Keras model."""
    plain_step = model.train_step

    def train_step(data):
        x, y = data[0], data[1]
        return plain_step((_attacked_batch(model, x, y, float(epsilon)), y))

    model.train_step = train_step


def _attacked_batch(model, x, y, epsilon: float):
    import keras
    import tensorflow as tf

    start = tf.clip_by_value(x + tf.random.uniform(tf.shape(x), -epsilon, epsilon), 0.0, 1.0)
    with tf.GradientTape() as tape:
        tape.watch(start)
        loss = keras.losses.sparse_categorical_crossentropy(y, model(start, training=True))
    moved = start + TRAINING_STEP_SHARE * epsilon * tf.sign(tape.gradient(loss, start))
    return tf.stop_gradient(tf.clip_by_value(moved, tf.maximum(x - epsilon, 0.0), tf.minimum(x + epsilon, 1.0)))


def attacked_images(model, images: np.ndarray, labels: np.ndarray, epsilon: float, steps: int = PGD_STEPS):
    """Each image attacked by PGD away from its true label (for accuracy under attack), in its own shape."""
    import tensorflow as tf

    x = _as_batch(model, images)
    adversarial = _attack_function(model)(
        tf.constant(x),
        tf.constant(np.asarray(labels), tf.int32),
        tf.constant(epsilon, tf.float32),
        tf.constant(PGD_STEP_SHARE * epsilon / steps, tf.float32),
        tf.constant(steps, tf.int32),
        tf.constant(1.0, tf.float32),
    )
    return np.asarray(adversarial).reshape(np.shape(images))


# ---- The attack --------------------------------------------------------------------------------------------


def _attack(model, image: np.ndarray, epsilon: float, target, steps: int, step_size: float) -> np.ndarray:
    """Signed-gradient steps from the image: away from its current answer, or toward `target`."""
    import tensorflow as tf

    if not 0.0 <= float(epsilon) <= 1.0:
        raise AttackError(f"Epsilon is a change in pixel value (0 to 1), not {epsilon}.")
    image = np.asarray(image, np.float32)
    x = _as_batch(model, image)
    if target is None:
        labels, direction = predict_probabilities(model, x).argmax(axis=1), 1.0  # away from the current answer
    else:
        labels, direction = np.broadcast_to(np.asarray(target), (len(x),)), -1.0  # toward the target
        classes = int(model.outputs[0].shape[-1])
        if labels.min() < 0 or labels.max() >= classes:
            raise AttackError(f"The target must be a digit from 0 to {classes - 1}.")
    try:
        adversarial = _attack_function(model)(
            tf.constant(x),
            tf.constant(labels, tf.int32),
            tf.constant(epsilon, tf.float32),
            tf.constant(step_size, tf.float32),
            tf.constant(steps, tf.int32),
            tf.constant(direction, tf.float32),
        )
    except (ValueError, TypeError, tf.errors.OpError) as error:
        raise AttackError(f"This model cannot be attacked: {str(error).splitlines()[0][:200]}") from error
    return np.asarray(adversarial).reshape(image.shape)


def _as_batch(model, images: np.ndarray) -> np.ndarray:
    """Images of any shape that holds whole model inputs -> a float32 batch in the model's input shape."""
    images = np.asarray(images, np.float32)
    shape = model_input_shape(model)
    size = int(np.prod(shape))
    if images.size == 0 or images.size % size:
        raise AttackError(f"This model reads images of {size} pixels; got an array of shape {images.shape}.")
    return images.reshape((-1, *shape))


def _attack_function(model):
    """The attack loop as one TensorFlow graph per model, traced on first use (a PGD on one digit: a few ms)."""
    import tensorflow as tf

    def trace():
        logits_of = _logits_function(model)

        @tf.function(reduce_retracing=True)
        def attack(x0, labels, epsilon, step_size, steps, direction):
            low, high = tf.maximum(x0 - epsilon, 0.0), tf.minimum(x0 + epsilon, 1.0)
            x = x0
            for _ in tf.range(steps):
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    loss = tf.reduce_sum(
                        tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits_of(x))
                    )
                gradient = tape.gradient(loss, x)
                if gradient is None:
                    raise ValueError("its answer does not depend on its input through a gradient.")
                x = tf.clip_by_value(x + direction * step_size * tf.sign(gradient), low, high)
            return x

        return attack

    return derived(model, "attack", trace)


def _logits_function(model):
    """x -> the scores before the softmax. Read from the output layer when it is a Dense softmax (its gradient
    never vanishes on a confident digit); otherwise the log of the probabilities."""
    import keras
    import tensorflow as tf

    last, body = model.layers[-1], None
    if isinstance(last, keras.layers.Dense) and getattr(last.activation, "__name__", "") == "softmax":
        try:
            body = keras.Model(model.inputs[0], last.input)
        except (ValueError, TypeError, AttributeError):  # a graph Keras cannot cut there: use the probabilities
            body = None
    if body is not None:

        def logits(x):
            scores = tf.matmul(body(x, training=False), last.kernel)
            return scores + last.bias if last.bias is not None else scores

        return logits
    return lambda x: tf.math.log(tf.clip_by_value(model(x, training=False), 1e-12, 1.0))
