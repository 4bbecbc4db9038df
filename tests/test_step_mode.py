"""Step mode: a network trained a batch at a time, in-process and on the cluster, and its place on the Training page."""

import dataclasses

import numpy as np
import pytest

from core.config import SEED
from core.state import LATEST_DRAWING_KEY, STEPPER_KEY
from core.stepper import MAX_STEPS_PER_CALL, SHOWN_UNITS, StepModeError, Stepper, StepSessions, close_idle
from tests.apptest import open_page

SMALL = dataclasses.replace(SEED, units=64)


@pytest.fixture
def stepper(mnist) -> Stepper:
    return Stepper(dataclasses.asdict(SMALL), "mnist", limit=1_000)


def test_each_step_trains_one_batch_and_the_loss_falls(stepper, mnist):
    before = stepper.view(None)
    assert before.step == 0 and before.losses == [] and (before.epoch, before.batch) == (1, 0)
    first = stepper.step(1)
    assert first.step == 1 and len(first.losses) == 1 == len(first.accuracies)
    assert first.losses[0] == pytest.approx(np.log(10), abs=0.3)  # fresh weights: a guess over ten digits
    assert not np.array_equal(first.weights, before.weights)  # one batch moved the first layer
    later = stepper.step(10)
    assert later.step == 11 and len(later.losses) == 11
    assert np.mean(later.losses[-3:]) < first.losses[0] - 0.5
    assert later.weights.shape == (SHOWN_UNITS, 28, 28) and later.units == list(range(SHOWN_UNITS))
    assert (later.epoch, later.batch, later.batches_per_epoch) == (2, 3, 8)  # 1,000 images: 8 batches an epoch


def test_a_drawing_gets_probabilities_and_steps_are_bounded(stepper, mnist):
    digit = mnist.x_test[0] / 255.0
    stepper.step(11)
    view = stepper.step(MAX_STEPS_PER_CALL + 50, digit)
    assert view.step - 11 == MAX_STEPS_PER_CALL
    assert view.probabilities.shape == (10,) and view.probabilities.sum() == pytest.approx(1, abs=1e-4)
    assert int(view.probabilities.argmax()) == mnist.y_test[0]  # after 112 batches it reads the 7
    assert stepper.step(-5).step == view.step  # nothing to train


def test_the_same_seed_steps_the_same_way(mnist):
    one, two = (Stepper(dataclasses.asdict(SMALL), "mnist", limit=1_000) for _ in range(2))
    assert one.step(3).losses == two.step(3).losses


@pytest.mark.cluster
def test_one_step_mode_network_per_worker_found_again_by_its_owner(cluster):
    sessions = StepSessions(cluster)
    first = sessions.open("learner-0", SMALL, "mnist", 1_000)  # with no worker yet, the cluster starts one
    workers = len(cluster.client().scheduler_info()["workers"])
    owners = [f"learner-{index}" for index in range(workers + 1)]
    try:
        handles = [first] + [sessions.open(owner, SMALL, "mnist", 1_000) for owner in owners[1:workers]]
        assert len({entry["worker"] for entry in close_idle(cluster.client()).values()}) == workers
        with pytest.raises(StepModeError, match="already runs another learner's step mode"):
            sessions.open(owners[-1], SMALL, "mnist", 1_000)
        view = sessions.step(owners[0], handles[0], 2, None)
        assert view.step == 2
        again, config = sessions.find(owners[0])  # a reload, or another server: the same network, on its worker
        assert config == SMALL and sessions.step(owners[0], again, 1, None).step == 3
        sessions.close(owners[0])
        assert sessions.find(owners[0]) is None
        sessions.open(owners[-1], SMALL, "mnist", 1_000)  # its worker is free again
    finally:
        for owner in owners:
            sessions.close(owner)


def test_the_training_page_steps_and_shows_the_drawing_move(cluster, mnist):
    app = open_page(
        "pages/training.py",
        {"units": "64", "view": "step"},
        **{LATEST_DRAWING_KEY: {"image": mnist.x_test[0] / 255.0, "run_id": "x"}},
    )
    next(b for b in app.button if b.label == "Start step mode").click().run()
    assert not app.exception and not app.error
    try:
        assert [m.value for m in app.metric if m.label == "Batches trained"] == ["0"]
        next(b for b in app.button if b.label == "Step").click().run()
        assert [m.value for m in app.metric if m.label == "Batches trained"] == ["1"]
        next(b for b in app.button if b.label == "Step 10").click().run()
        assert [m.value for m in app.metric if m.label == "Batches trained"] == ["11"]
        assert any("Epoch 1, batch 11 of 469 next" in c.value for c in app.caption)
        assert any(c.value.startswith("Your latest drawing reads as a") for c in app.caption)
        assert [m.label for m in app.metric][1:3] == ["Loss of the last batch", "Its accuracy"]

        reloaded = open_page("pages/training.py", {"units": "64", "view": "step"})  # another browser
        assert not reloaded.exception
        assert [m.value for m in reloaded.metric if m.label == "Batches trained"] == []  # not theirs to step

        next(b for b in app.button if b.label == "Leave step mode").click().run()
        assert STEPPER_KEY not in app.session_state
        assert [b for b in app.button if b.label == "Start step mode"]
    finally:
        if STEPPER_KEY in app.session_state:
            next(b for b in app.button if b.label == "Leave step mode").click().run()


def test_adversarial_training_steps_on_attacked_batches(mnist):
    plain = Stepper(dataclasses.asdict(SMALL), "mnist", limit=1_000).step(20)
    attacked = Stepper(dataclasses.asdict(dataclasses.replace(SMALL, adversarial=0.2)), "mnist", limit=1_000).step(20)
    assert np.mean(attacked.losses[-5:]) > np.mean(plain.losses[-5:]) + 0.3, "attacked batches are harder to read"
