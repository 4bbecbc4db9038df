"""AppTest: the handwriting options in the pages: stroke-width normalization on Draw & predict (with the width
found in a caption), the class's digits as training data on Training, and the kept-back digits on Your
handwriting."""

from __future__ import annotations

import numpy as np
import pytest

from core.my_digits import MyDigitsStore, training_share
from core.run_board import JobError
from pages.common import services
from tests.apptest import open_page
from tests.test_predict_page import drawn, open_predict_page

CLASS_OWNER = "apptest-class-digits"


@pytest.fixture
def class_digits(model_dir):
    """Twenty labelled digits in the session's store, everyone's view; forgotten afterwards."""
    store = MyDigitsStore(model_dir, "mnist")
    rng = np.random.default_rng(0)
    for index in range(20):
        image = np.zeros((28, 28), np.float32)
        image[6:22, 12:16] = rng.uniform(0.5, 1.0)
        image[index % 28, (3 * index) % 28] = 1.0
        store.add(image, 1, CLASS_OWNER)
    yield store
    store.clear(CLASS_OWNER)


def captions(app) -> str:
    return " ".join(caption.value for caption in app.caption)


def test_a_thick_digit_is_read_with_the_stroke_width_normalized_by_default(trained_run):
    app = open_predict_page(drawn(slice(40, 240), slice(115, 160)), chosen_run=trained_run)  # a 45-pixel pen
    assert not app.exception
    assert app.toggle(key="normalize_width").value is True
    assert "Stroke width found: 4." in captions(app) and "thinned to" in captions(app)
    app.toggle(key="normalize_width").set_value(False).run()
    assert not app.exception and "Stroke width found" not in captions(app)
    assert [m for m in app.metric if m.label == "Prediction"]


def test_a_digit_already_like_mnist_is_left_as_drawn(trained_run):
    app = open_predict_page(drawn(slice(40, 240), slice(130, 146)), chosen_run=trained_run)  # 16 px: 1.6 px
    assert "within MNIST's usual" in captions(app)


def test_the_training_page_offers_the_class_digits_with_how_they_count(class_digits, monkeypatch):
    calls = []

    def refuse(*args, **kwargs):
        calls.append(kwargs)
        raise JobError("not in this test")

    monkeypatch.setattr(services, "start_training", refuse)
    app = open_page("pages/training.py")
    option = app.toggle(key="class_digits")
    assert not app.exception and not option.disabled
    train, back = training_share(class_digits.load())
    assert f"{len(train)} of the class's digits to train on" in captions(app) and f"{len(back)} kept back" in captions(
        app
    )
    option.set_value(True).run()
    next(b for b in app.button if b.label == "Train").click().run()
    assert calls and calls[-1]["class_digits"] is True
    assert not app.exception and "Training could not start" in app.error[0].value


def test_without_labelled_digits_the_option_is_off(monkeypatch, tmp_path):
    monkeypatch.setenv("DIGITLAB_MODEL_DIR", str(tmp_path))  # a store of its own: other tests keep digits
    app = open_page("pages/training.py")
    assert app.toggle(key="class_digits").disabled
    assert "No labelled digits to train on yet" in captions(app)


def test_your_handwriting_shows_the_kept_back_digits(trained_run, class_digits):
    app = open_predict_page(chosen_run=trained_run, whose_digits="everyone's on this server")
    assert not app.exception
    _, back = training_share(class_digits.load())
    assert any("kept back" in header.value for header in app.subheader)
    assert f"{len(back)} of the class's" in captions(app)
    assert "no run trained with the class's digits" in captions(app)


def test_the_model_page_previews_elastic_distortion_and_its_slider_sets_it():
    app = open_page("pages/model.py")
    assert not app.exception
    assert "elastic distortion of strength 34" in captions(app) and "off in this configuration" in captions(app)
    app.sidebar.slider(key="hp_elastic").set_value(20.0).run()
    assert not app.exception
    assert "strength 20" in captions(app) and "on in this configuration" in captions(app)
    assert app.query_params["elastic"] == "20.0"  # part of the link
