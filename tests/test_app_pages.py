"""AppTest: the frame and every page run without an exception; the Dataset page's widgets work."""

import pytest
from streamlit.testing.v1 import AppTest

from tests.apptest import open_page, plain

PAGES = [
    "pages/home.py",
    "pages/dataset.py",
    "pages/model.py",
    "pages/training.py",
    "pages/predict.py",
    "pages/leaderboard.py",
    "pages/teacher.py",
]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_runs_through_the_frame(page, trained_run):
    app = open_page("app.py")
    assert not app.exception
    app.switch_page(page).run()
    assert not app.exception, app.exception
    assert app.title, "every page has a title"


@pytest.mark.parametrize("dataset", ["mnist", "digits"])
def test_dataset_page_shows_what_the_notebook_prints(dataset):
    app = open_page("pages/dataset.py", dataset=dataset)
    assert not app.exception
    shapes = app.dataframe[0].value
    expected = (60000, 28, 28) if dataset == "mnist" else (1347, 8, 8)
    assert shapes.loc[0, "shape"] == str(expected)
    assert len(app.get("plotly_chart")) == 6


def shown_labels(app: AppTest) -> list[int]:
    caption = next(c.value for c in app.caption if c.value.startswith("Labels shown:"))
    return [int(label) for label in caption.removeprefix("Labels shown:").split()]


def test_digit_filter_and_count_change_the_grid():
    app = open_page("pages/dataset.py")
    assert len(set(shown_labels(app))) > 1
    app.selectbox(key="sample_digit").set_value(7).run()
    assert set(shown_labels(app)) == {7}
    app.slider(key="sample_count").set_value(40).run()
    assert len(shown_labels(app)) == 40 and set(shown_labels(app)) == {7}


def test_reshuffle_draws_other_images():
    app = open_page("pages/dataset.py")
    before = app.caption
    first = [c.value for c in before]
    app.button(key="reshuffle").click().run()
    assert [c.value for c in app.caption] != first


def test_bad_mnist_override_is_a_message_not_a_traceback(monkeypatch, tmp_path):
    broken = tmp_path / "mnist.npz"
    broken.write_bytes(b"PK\x03\x04 truncated")
    monkeypatch.setenv("DIGITLAB_MNIST_NPZ", str(broken))
    app = open_page("pages/dataset.py")
    assert not app.exception
    message = plain(app.error[0].value)
    assert "mnist.npz" in message and "could not be loaded" in message
