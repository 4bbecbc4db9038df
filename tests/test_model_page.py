"""AppTest: the Model page follows its sliders, presets and the link's query parameters."""

import dataclasses

from streamlit.testing.v1 import AppTest

from core.config import PRESETS, config_to_query
from tests.apptest import open_page


def open_model_page(**query) -> AppTest:
    return open_page("pages/model.py", query)


def parameters(app: AppTest) -> str:
    return next(metric.value for metric in app.metric if metric.label == "Parameters")


def test_seed_has_the_notebooks_parameter_count():
    app = open_model_page()
    assert not app.exception
    assert parameters(app) == "407,050"
    assert app.table[0].value["parameters"].tolist() == ["401,920", "5,130", "407,050"]
    assert "Total params: 407,050" in app.code[0].value
    assert app.get("graphviz_chart")


def test_units_slider_changes_the_parameter_total():
    app = open_model_page()
    app.sidebar.slider(key="hp_units").set_value(64).run()
    assert parameters(app) == f"{784 * 64 + 64 + 64 * 10 + 10:,}"
    assert app.query_params["units"] == "64"


def test_preset_sets_every_widget_and_reset_restores_the_seed():
    app = open_model_page()
    app.sidebar.selectbox(key="hp_preset").set_value("Wider with dropout").run()
    preset = PRESETS["Wider with dropout"].config
    for field in dataclasses.fields(preset):
        assert app.session_state[f"hp_{field.name}"] == getattr(preset, field.name), field.name
    assert parameters(app) == f"{784 * 512 + 512 + 512 * 512 + 512 + 5130:,}"
    app.button(key="reset_seed").click().run()
    assert parameters(app) == "407,050" and app.session_state["hp_hidden_layers"] == 1


def test_link_opens_the_same_configuration():
    shared = dataclasses.replace(PRESETS["Wider with dropout"].config, units=256, learning_rate=0.002)
    app = open_model_page(**config_to_query(shared))
    assert not app.exception
    assert app.session_state["model_config"] == shared
    assert app.sidebar.slider(key="hp_units").value == 256
    assert dict(app.query_params) == config_to_query(shared)


def test_a_cnn_reads_8x8_digits_too():
    app = open_model_page()
    app.sidebar.selectbox(key="hp_preset").set_value("Small CNN").run()
    cnn_parameters = parameters(app)
    app.session_state["dataset"] = "digits"
    app.run()
    assert not app.exception and not app.error
    assert parameters(app) != cnn_parameters  # the same layers on smaller images: a smaller dense head


def test_the_augmentation_preview_follows_the_sliders():
    app = open_model_page()
    assert "Augmentation is off" in " ".join(caption.value for caption in app.caption)
    app.sidebar.selectbox(key="hp_preset").set_value("Robust CNN").run()
    assert not app.exception
    assert any("as the augmentation layers would change it" in caption.value for caption in app.caption)
    assert app.query_params["rotation"] == "10.0" and app.query_params["shear"] == "0.3"  # part of the link
    assert [chart.key for chart in app.get("plotly_chart")] == ["augmented", "elastic"]  # all layers; elastic alone


def test_a_cnns_own_fields_show_only_for_a_cnn_and_keep_their_value():
    app = open_model_page(filters="64")
    labels = [widget.label for widget in app.sidebar.select_slider]
    assert "Conv filters" not in labels  # the seed is dense: a field that does nothing is not shown
    app.sidebar.radio(key="hp_family").set_value("cnn").run()
    assert not app.exception
    assert app.sidebar.select_slider(key="hp_filters").value == 64  # the link's value, kept while hidden
