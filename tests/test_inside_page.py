"""AppTest: the Inside the network page, on a test image and on the user's latest drawing, across epochs."""

import numpy as np

from tests.apptest import open_page

PAGE = "pages/inside.py"


def charts(app) -> list[str]:
    return [chart.proto.spec for chart in app.get("plotly_chart")]


def test_every_view_shows_for_a_test_image(trained_run, mnist):
    app = open_page(PAGE, chosen_run=trained_run)
    assert not app.exception
    assert app.radio(key="inside_source").options == ["A test image"]  # nothing drawn yet
    [read] = [m for m in app.metric if m.label == "The network reads"]
    assert read.value == "7"  # test image 0 is a 7
    subheaders = [s.value for s in app.header]
    assert subheaders == [
        "What the first layer looks for",
        "What each layer answers",
        "Why it read it this way",
        "Fool the network",
        "Where your digit lands among the test digits",
        "How its answer grew while it trained",
    ]
    layers = app.table[0].value
    assert layers["output shape"].tolist() == ["(128,)", "(10,)"]
    assert len(charts(app)) >= 8 and any('"evidence"' in spec for spec in charts(app))
    assert app.slider(key="inside_epoch").value == 2 and app.slider(key="inside_epoch").max == 2


def test_the_epoch_slider_and_the_order_change_the_views(trained_run):
    app = open_page(PAGE, chosen_run=trained_run)
    before = charts(app)
    app.slider(key="inside_epoch").set_value(1).run()
    assert not app.exception
    after = charts(app)
    assert after != before  # weights, probabilities and evidence as they were after epoch 1
    app.radio(key="inside_order").set_value("strongest answer to this digit").run()
    assert not app.exception and charts(app) != after


def test_the_latest_drawing_is_the_default_digit(trained_run):
    drawing = np.zeros((28, 28), np.float32)
    drawing[4:24, 13:16] = 1.0  # a 1
    app = open_page(PAGE, chosen_run=trained_run, latest_drawing={"image": drawing, "run_id": trained_run})
    assert not app.exception
    assert app.radio(key="inside_source").value == "Your latest drawing"
    [read] = [m for m in app.metric if m.label == "The network reads"]
    assert read.value == "1"


def test_a_test_digit_is_fooled_toward_the_digit_asked_for(trained_run):
    app = open_page(PAGE, chosen_run=trained_run)
    assert [m for m in app.metric if m.label == "After the attack it reads"]  # shown at once: FGSM at 0.1
    assert app.radio(key="inside-fool-method").value == "FGSM"
    app.selectbox(key="inside-fool-target").set_value(3).run()
    app.slider(key="inside-fool-epsilon").set_value(0.3).run()
    app.radio(key="inside-fool-method").set_value("PGD").run()
    assert not app.exception
    [after] = [m for m in app.metric if m.label == "After the attack it reads"]
    assert after.value == "3"  # test image 0, a 7, read as a 3
    assert any(c.value.startswith("Fooled: the network now reads a 3") for c in app.caption)
