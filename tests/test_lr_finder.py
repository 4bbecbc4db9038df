"""The learning-rate finder: its rates, its losses, its suggestion; and the button on the Training page."""

import dataclasses
import time

import numpy as np
import pytest

from core.config import FIELDS, SEED
from core.lr_finder import END_RATE, START_RATE, LearningRateSweep, find_learning_rate, rates
from pages.widgets import FINDER_KEY, FOUND_KEY, widget_key
from tests.apptest import open_page


def test_rates_rise_exponentially_from_start_to_end():
    swept = rates(300)
    assert swept[0] == pytest.approx(START_RATE) and swept[-1] == pytest.approx(END_RATE)
    ratios = swept[1:] / swept[:-1]
    assert np.allclose(ratios, ratios[0]) and ratios[0] > 1


@pytest.fixture(scope="module")
def seed_sweep(mnist) -> LearningRateSweep:
    return find_learning_rate(SEED, "mnist", limit=6_000)


def test_the_seed_sweep_stops_where_the_loss_explodes_and_suggests_a_slider_rate(seed_sweep):
    sweep = seed_sweep
    assert sweep.exploded and 100 < len(sweep.learning_rates) < 300  # RMSprop blows up past ~0.05
    assert sweep.learning_rates == pytest.approx(list(rates()[: len(sweep.learning_rates)]))
    assert len(sweep.losses) == len(sweep.learning_rates) and all(np.isfinite(sweep.losses))
    assert sweep.losses[0] == pytest.approx(np.log(10), abs=0.3)  # untrained: a guess over ten digits
    assert min(sweep.losses) < 1.5  # it learned while the rate rose
    assert sweep.lowest_rate == sweep.learning_rates[int(np.argmin(sweep.losses))]
    assert sweep.suggestion in FIELDS["learning_rate"].choices
    assert sweep.suggestion == FIELDS["learning_rate"].snap(sweep.lowest_rate / 10)
    assert LearningRateSweep.from_dict(sweep.to_dict()) == sweep


def test_plain_sgd_is_told_to_go_much_faster_than_rmsprop(seed_sweep):
    sgd = find_learning_rate(dataclasses.replace(SEED, optimizer="sgd"), "mnist", limit=6_000)
    assert sgd.suggestion >= 10 * seed_sweep.suggestion  # bench/lr_finder.py: 0.1 against 0.001


@pytest.mark.cluster
def test_the_training_page_finds_a_rate_and_uses_it():
    app = open_page("pages/training.py", {"optimizer": "sgd"})
    next(b for b in app.button if b.label == "Find a learning rate").click().run()
    deadline = time.monotonic() + 120
    while FINDER_KEY in app.session_state:
        assert not app.exception
        assert time.monotonic() < deadline, "the finder did not end"
        time.sleep(0.5)
        app.run()
    assert not app.exception and not app.error
    swept_config, sweep = app.session_state[FOUND_KEY]
    assert swept_config.optimizer == "sgd" and sweep.suggestion > 0.001
    assert any(f"suggested: {sweep.suggestion:g}" in caption.value for caption in app.sidebar.caption)
    next(b for b in app.button if b.label == f"Use {sweep.suggestion:g}").click().run()
    assert app.session_state[widget_key("learning_rate")] == sweep.suggestion
    assert app.query_params["learning_rate"] == str(sweep.suggestion)  # the link shares it
    assert not [b for b in app.button if b.label.startswith("Use ")]  # the slider holds it now

    app.session_state[widget_key("batch_size")] = 256  # another network: the old curve no longer applies
    app.run()
    assert any("find again" in caption.value for caption in app.sidebar.caption)
