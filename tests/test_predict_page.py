"""AppTest: Draw & predict with a drawn digit injected into the canvas, a blank canvas, and a fresh install."""

import base64
import io
import re

import numpy as np
from PIL import Image
from streamlit.testing.v1 import AppTest

from core.store import RunStore
from harness.waiting import wait_until
from pages.common import caches, services
from tests.apptest import open_page


def canvas_state(rgba: np.ndarray) -> dict:
    """What the drawable canvas sends back after a stroke (GUIDE: its session-state shape)."""
    buffer = io.BytesIO()
    Image.fromarray(rgba).save(buffer, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    return {"drawing": {"raw": {"objects": [{"type": "path"}]}, "data": url}}


def drawn(rows: slice, columns: slice) -> np.ndarray:
    rgba = np.zeros((280, 280, 4), np.uint8)
    rgba[..., 3] = 255
    rgba[rows, columns, :3] = 255
    return rgba


def open_predict_page(canvas: np.ndarray | None = None, **state) -> AppTest:
    if canvas is not None:
        state["canvas"] = canvas_state(canvas)
    return open_page("pages/predict.py", **state)


def test_a_drawn_one_is_predicted_with_its_probabilities(trained_run):
    app = open_predict_page(drawn(slice(40, 240), slice(125, 150)), chosen_run=trained_run)
    assert not app.exception
    [prediction] = [m for m in app.metric if m.label == "Prediction"]
    assert prediction.value == "1"
    [seen] = app.get("image")  # what the model sees: the 28x28 image, each of its pixels an 8x8 square
    picture = Image.open(io.BytesIO(base64.b64decode(seen.value[0].partition(",")[2])))
    big = np.asarray(picture)
    pixels = big[::8, ::8]
    assert picture.size == (224, 224) and (big == np.kron(pixels, np.ones((8, 8), np.uint8))).all()
    assert pixels[:, :8].max() == 0 and pixels[8:20].sum(axis=0).argmax() in (13, 14)  # an upright stroke, centred
    [table] = [html.proto.body for html in app.get("html") if "Probability of each digit" in html.proto.body]
    rows = re.findall(r'<tr style="font-weight:(\d+)"><th [^>]*>(\d)</th>.*?>([\d.]+)%</td></tr>', table)
    assert [(digit, weight) for weight, digit, _ in rows if weight == "700"] == [("1", "700")]
    assert len(rows) == 10 and abs(sum(float(percent) for *_, percent in rows) - 100) < 1
    assert {chart.key for chart in app.get("plotly_chart")} == {
        "first_ten",
        "first_probabilities",
        "confusion",
        "mistakes",
    }
    assert any(caption.value.startswith("The server answered in") for caption in app.caption)


def test_blank_canvas_shows_the_prompt(trained_run):
    app = open_predict_page(chosen_run=trained_run)
    assert not app.exception
    assert not [m for m in app.metric if m.label == "Prediction"]
    assert "Draw a digit" in app.info[0].value


def test_a_tiny_stroke_gets_a_hint(trained_run):
    app = open_predict_page(drawn(slice(100, 120), slice(100, 110)), chosen_run=trained_run)
    assert "too small" in app.warning[0].value
    assert not [m for m in app.metric if m.label == "Prediction"]


def test_test_set_views_match_the_notebook(trained_run, mnist):
    app = open_predict_page(chosen_run=trained_run)
    markdown = " ".join(block.value for block in app.markdown)
    assert "its label is **7**" in markdown and "highest probability is at index **7**" in markdown
    [accuracy] = [m for m in app.metric if m.label == "Test accuracy"]
    assert float(accuracy.value.rstrip("%")) > 85
    app.selectbox(key="mistake_true").set_value(4).run()
    app.selectbox(key="mistake_predicted").set_value(9).run()
    assert not app.exception
    captions = " ".join(caption.value for caption in app.caption)
    assert "such mistakes" in captions or "No mistakes of that kind" in captions


def test_fresh_install_trains_a_starter_model_in_a_worker(cluster, model_dir):
    try:  # this test's model folder is empty: no model yet
        app = open_predict_page(dataset="digits")
        assert not app.exception
        assert "trains the seed notebook's network once" in app.info[0].value
        run_id = services.starter_run("digits")
        wait_until(lambda: (p := caches.run_board().progress(run_id)) and p.ended, 300, "the starter run's end")
        app.run()
        assert not app.exception
        [record] = RunStore(model_dir).records()
        assert record.dataset == "digits" and record.result.test_accuracy > 0.9
        assert app.selectbox(key="model_picker").value == record.run_id
    finally:
        services.starter_run.clear()


def test_a_labelled_drawing_is_kept_and_the_handwriting_tab_tests_models_on_it(trained_run, model_dir):
    from core.my_digits import MyDigitsStore

    MyDigitsStore(model_dir, "mnist").clear()
    app = open_predict_page(drawn(slice(40, 240), slice(125, 150)), chosen_run=trained_run)
    assert "No labelled digits yet" in " ".join(info.value for info in app.info)
    app.pills(key="label_digit").set_value(1).run()
    app.button(key="keep_digit").click().run()
    assert not app.exception
    assert "Kept as a 1" in app.toast[0].value
    kept = MyDigitsStore(model_dir, "mnist").load()
    assert kept.labels.tolist() == [1] and kept.images.shape == (1, 28, 28)
    table = next(frame.value for frame in app.dataframe if "accuracy on these digits" in frame.value.columns)
    row = table[table["run"] == trained_run].iloc[0]  # the session's store may hold other runs too
    assert row["accuracy on these digits"] == 1.0
    app.button(key="clear_my_digits").click().run()
    assert len(MyDigitsStore(model_dir, "mnist").load()) == 0


def test_the_why_switch_shows_the_evidence_for_the_answer_and_another_digit(trained_run):
    app = open_predict_page(drawn(slice(40, 240), slice(125, 150)), chosen_run=trained_run)
    app.toggle(key="why-canvas").set_value(True).run()
    assert not app.exception
    titles = [chart.proto.spec for chart in app.get("plotly_chart") if '"evidence"' in chart.proto.spec]
    assert len(titles) == 2 and any("Evidence for 1" in spec for spec in titles)


def test_the_fool_switch_attacks_the_drawing_and_shows_it_before_and_after(trained_run):
    app = open_predict_page(drawn(slice(40, 240), slice(125, 150)), chosen_run=trained_run)
    assert not [m for m in app.metric if m.label == "After the attack it reads"]  # no attack until it is asked for
    app.toggle(key="fool-canvas").set_value(True).run()
    assert not app.exception
    assert app.selectbox(key="fooling-canvas-target").value == "any other"
    app.slider(key="fooling-canvas-epsilon").set_value(0.2).run()
    app.radio(key="fooling-canvas-method").set_value("PGD").run()
    assert not app.exception
    [after] = [m for m in app.metric if m.label == "After the attack it reads"]
    assert after.value != "1"
    specs = " ".join(chart.proto.spec for chart in app.get("plotly_chart"))
    for title in ("The fooling image", "x stronger", '"before"', '"after"'):
        assert title in specs
    assert any(c.value.startswith("Fooled: the network now reads a") for c in app.caption)
    app.selectbox(key="fooling-canvas-target").set_value(1).run()  # what it already reads
    assert "already reads a 1" in app.info[0].value
