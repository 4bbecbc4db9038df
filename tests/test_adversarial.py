"""core.adversarial: FGSM and PGD stay within epsilon and in [0, 1], fool the seed network, and reach a target."""

import dataclasses

import keras
import numpy as np
import pytest

from core.adversarial import AttackError, fgsm, fool, pgd, probabilities_of
from core.config import SEED, SMALL_CNN
from core.model import build_model
from core.training import train_model

ROUNDING = 1e-6  # x0 + epsilon is rounded to float32
DIGITS = 50


@pytest.fixture(scope="module")
def seed_network():
    """The notebook's Dense(512) network, trained briefly on a slice of MNIST (~2 s)."""
    return train_model(dataclasses.replace(SEED, epochs=2), "mnist", limit=3000)


@pytest.fixture(scope="module")
def read_right(seed_network, mnist):
    """The first test digits the seed network reads correctly, (n, 28, 28) in [0, 1], and their labels."""
    images = mnist.x_test[:200].astype(np.float32) / 255.0
    right = np.flatnonzero(probabilities_of(seed_network, images).argmax(axis=1) == mnist.y_test[:200])[:DIGITS]
    return images[right], mnist.y_test[right]


def linear_softmax(seed: int = 0):
    """Dense(10, softmax) on 784 pixels with random weights: its loss gradient is known in closed form."""
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(10, activation="softmax")])
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, 0.05, (784, 10)).astype(np.float32), rng.normal(0, 0.1, 10).astype(np.float32)])
    return model


def test_fgsm_on_a_linear_model_moves_each_pixel_by_epsilon_along_the_known_gradient():
    model = linear_softmax()
    kernel, bias = model.get_weights()
    image = np.random.default_rng(1).uniform(0.2, 0.8, 784).astype(np.float32)  # no pixel near the clip
    logits = image @ kernel + bias
    probabilities = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    answer = int(np.argmax(probabilities))
    gradient = kernel @ (probabilities - np.eye(10)[answer])  # d cross-entropy(answer) / d pixels
    np.testing.assert_allclose(fgsm(model, image, 0.1), image + 0.1 * np.sign(gradient), atol=ROUNDING)
    toward = kernel @ (probabilities - np.eye(10)[3])  # targeted: down the loss of class 3
    np.testing.assert_allclose(fgsm(model, image, 0.1, target=3), image - 0.1 * np.sign(toward), atol=ROUNDING)


@pytest.mark.parametrize("epsilon", [0.05, 0.2])
@pytest.mark.parametrize("target", [None, 4])
def test_both_attacks_stay_within_epsilon_and_in_the_unit_range(seed_network, read_right, epsilon, target):
    images, _ = read_right
    for adversarial in (fgsm(seed_network, images, epsilon, target), pgd(seed_network, images, epsilon, 5, target)):
        assert adversarial.shape == images.shape and adversarial.dtype == np.float32
        assert np.abs(adversarial - images).max() <= epsilon + ROUNDING
        assert adversarial.min() >= 0.0 and adversarial.max() <= 1.0


def test_epsilon_zero_changes_nothing(seed_network, read_right):
    images, _ = read_right
    np.testing.assert_array_equal(pgd(seed_network, images[:3], 0.0), images[:3])


def test_an_attack_at_0_2_flips_the_seed_networks_seven(seed_network, mnist):
    seven = mnist.x_test[0] / 255.0  # the first test digit, read right
    for method in ("FGSM", "PGD"):
        result = fool(seed_network, seven, method, 0.2)
        assert result.answer_before == 7 and result.answer_after != 7 and result.fooled
        assert result.adversarial.shape == (28, 28) and np.abs(result.change).max() <= 0.2 + ROUNDING
        np.testing.assert_allclose(result.before, probabilities_of(seed_network, seven)[0], atol=1e-6)


def test_attacks_flip_far_more_digits_than_random_noise_of_the_same_size(seed_network, read_right):
    images, labels = read_right
    noise = np.random.default_rng(0).choice([-0.1, 0.1], size=images.shape).astype(np.float32)
    flipped_by_noise = np.mean(probabilities_of(seed_network, np.clip(images + noise, 0, 1)).argmax(1) != labels)
    flipped_by_fgsm = np.mean(probabilities_of(seed_network, fgsm(seed_network, images, 0.1)).argmax(1) != labels)
    flipped_by_pgd = np.mean(probabilities_of(seed_network, pgd(seed_network, images, 0.1)).argmax(1) != labels)
    assert flipped_by_noise < 0.2 < flipped_by_fgsm <= flipped_by_pgd + 0.05


def test_targeted_pgd_at_0_2_reaches_the_target_more_often_than_not(seed_network, read_right):
    images, labels = read_right
    targets = (labels + 1) % 10
    reached = probabilities_of(seed_network, pgd(seed_network, images, 0.2, target=targets)).argmax(1) == targets
    assert reached.mean() > 0.5
    result = fool(seed_network, images[0], "PGD", 0.2, target=int(targets[0]))
    assert result.target == targets[0] and result.fooled == (result.answer_after == targets[0])


def test_a_cnn_takes_the_same_images():
    model = build_model(SMALL_CNN, (28, 28, 1))  # untrained: the shapes and bounds are what matter
    images = np.random.default_rng(2).uniform(0, 1, (3, 28, 28)).astype(np.float32)
    one = pgd(model, images[0], 0.1, steps=3)
    assert one.shape == (28, 28) and np.abs(one - images[0]).max() <= 0.1 + ROUNDING
    batch = fgsm(model, images, 0.1, target=np.array([1, 2, 3]))
    assert batch.shape == (3, 28, 28) and batch.min() >= 0 and batch.max() <= 1


def test_a_model_without_a_dense_softmax_output_is_attacked_through_its_probabilities(read_right):
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(10), keras.layers.Activation("softmax")])
    images, _ = read_right
    adversarial = fgsm(model, images[:4], 0.1)
    assert np.abs(adversarial - images[:4]).max() <= 0.1 + ROUNDING
    assert not np.array_equal(adversarial, images[:4])


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda m, x: fgsm(m, x, 1.5), "Epsilon is a change in pixel value"),
        (lambda m, x: fgsm(m, x, 0.1, target=12), "target must be a digit from 0 to 9"),
        (lambda m, x: pgd(m, x[:5, :5], 0.1), "reads images of 784 pixels"),
        (lambda m, x: pgd(m, x, 0.1, steps=0), "PGD takes 1 to 1000 steps"),
        (lambda m, x: fool(m, x, "DeepFool", 0.1), "Unknown attack"),
    ],
)
def test_bad_settings_are_refused_with_a_clear_message(call, message):
    with pytest.raises(AttackError, match=message):
        call(linear_softmax(), np.zeros((28, 28), np.float32))


def test_adversarial_training_resists_pgd_better_and_draws_its_attacked_curve(mnist, tmp_path):
    from core.runs import LocalReporter, TrainingRequest
    from core.training import run_training

    config = dataclasses.replace(SEED, units=256, epochs=2)

    def trained(adversarial: float):
        request = TrainingRequest("local", dataclasses.replace(config, adversarial=adversarial), "mnist", 4_000)
        return run_training(request, LocalReporter(), keep_model=True)

    (_, plain), (progress, hardened) = trained(0.0), trained(0.1)
    images, labels = mnist.x_test[:400].astype(np.float32) / 255.0, mnist.y_test[:400]

    def flips(model) -> float:
        right = probabilities_of(model, images).argmax(axis=1) == labels
        attacked = pgd(model, images[right], 0.1)
        return float(np.mean(probabilities_of(model, attacked).argmax(axis=1) != labels[right]))

    assert flips(hardened) < flips(plain) - 0.1, (flips(hardened), flips(plain))
    history = progress.result.history
    attacked = history["test_adversarial_accuracy"]  # the plain network keeps ~15% under this attack
    assert len(attacked) == config.epochs and attacked[-1] > 0.3
    hardened.save(tmp_path / "hard.keras")  # an ordinary Keras model: the attack lives on the object, not the file
    reloaded = keras.saving.load_model(tmp_path / "hard.keras")
    assert np.allclose(probabilities_of(reloaded, images[:20]), probabilities_of(hardened, images[:20]), atol=1e-5)
