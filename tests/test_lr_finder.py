"""The learning-rate finder: its rates, its losses, its suggestion; and the button on the Training page."""

import dataclasses

import numpy as np
import pytest

from core.config import FIELDS, SEED
from core.lr_finder import END_RATE, START_RATE, LearningRateCurve, find_learning_rate, rates
from core.state import FINDER_KEY, FOUND_KEY
from harness.waiting import wait_until
from pages.common.panel import widget_key
from tests.apptest import open_page


def test_rates_rise_exponentially_from_start_to_end():
    swept = rates(300)
    assert swept[0] == pytest.approx(START_RATE) and swept[-1] == pytest.approx(END_RATE)
    ratios = swept[1:] / swept[:-1]
    assert np.allclose(ratios, ratios[0]) and ratios[0] > 1


@pytest.fixture(scope="module")
def seed_curve(mnist) -> LearningRateCurve:
    return find_learning_rate(SEED, "mnist", limit=6_000)


def test_the_seed_curve_stops_where_the_loss_explodes_and_suggests_a_slider_rate(seed_curve):
    curve = seed_curve
    assert curve.exploded and 100 < len(curve.learning_rates) < 300  # RMSprop blows up past ~0.05
    assert curve.learning_rates == pytest.approx(list(rates()[: len(curve.learning_rates)]))
    assert len(curve.losses) == len(curve.learning_rates) and all(np.isfinite(curve.losses))
    assert curve.losses[0] == pytest.approx(np.log(10), abs=0.3)  # untrained: a guess over ten digits
    assert min(curve.losses) < 1.5  # it learned while the rate rose
    assert curve.lowest_rate == curve.learning_rates[int(np.argmin(curve.losses))]
    assert curve.suggestion in FIELDS["learning_rate"].choices
    assert curve.suggestion == FIELDS["learning_rate"].snap(curve.lowest_rate / 10)
    assert LearningRateCurve.from_dict(curve.to_dict()) == curve


def test_plain_sgd_is_told_to_go_much_faster_than_rmsprop(seed_curve):
    sgd = find_learning_rate(dataclasses.replace(SEED, optimizer="sgd"), "mnist", limit=6_000)
    assert sgd.suggestion >= 10 * seed_curve.suggestion  # bench/lr_finder.py: 0.1 against 0.001


@pytest.mark.cluster
def test_the_training_page_finds_a_rate_and_uses_it():
    app = open_page("pages/training.py", {"optimizer": "sgd"})
    next(b for b in app.button if b.label == "Find a learning rate").click().run()
    wait_until(lambda: FINDER_KEY not in app.run().session_state, what="the finder's end", every=0.5)
    assert not app.exception and not app.error
    searched_config, curve = app.session_state[FOUND_KEY]
    assert searched_config.optimizer == "sgd" and curve.suggestion > 0.001
    assert any(f"suggested: {curve.suggestion:g}" in caption.value for caption in app.sidebar.caption)
    next(b for b in app.button if b.label == f"Use {curve.suggestion:g}").click().run()
    assert app.session_state[widget_key("learning_rate")] == curve.suggestion
    assert app.query_params["learning_rate"] == str(curve.suggestion)  # the link shares it
    assert not [b for b in app.button if b.label.startswith("Use ")]  # the slider holds it now

    app.session_state[widget_key("batch_size")] = 256  # another network: the old curve no longer applies
    app.run()
    assert any("find again" in caption.value for caption in app.sidebar.caption)
