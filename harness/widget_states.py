"""The widget states a browser keeps for the elements a run drew, as Streamlit's WidgetStateManager does: what each
kind of widget registers when drawn, and which kinds register anything."""

from __future__ import annotations

import dataclasses

from streamlit.proto.WidgetStates_pb2 import WidgetState


@dataclasses.dataclass
class Widget:
    element: object  # the widget's element proto (a Slider, a Button...)
    kind: str
    state: WidgetState | None  # None: the browser sends nothing for it (buttons, charts, an untouched canvas)
    run_id: str
    fragment_id: str
    script_hash: str


def default_state(kind: str, element) -> WidgetState | None:
    """The value the browser's widget registers for an element it has just drawn (or the value the server set)."""
    state = WidgetState(id=element.id)
    if kind in ("selectbox", "radio"):
        if element.set_value and element.raw_value:
            state.string_value = element.raw_value
        elif 0 <= element.default < len(element.options):
            state.string_value = element.options[element.default]
        else:
            return None
    elif kind == "slider":
        if element.options:  # a select_slider
            chosen = element.raw_value if element.set_value else [element.options[int(i)] for i in element.default]
            state.string_array_value.data.extend(chosen)
        else:
            state.double_array_value.data.extend(element.value if element.set_value else element.default)
    elif kind == "checkbox":
        state.bool_value = element.value if element.set_value else element.default
    elif kind == "button_group":
        chosen = element.raw_values if element.set_value else [element.options[i].content for i in element.default]
        state.string_array_value.data.extend(chosen)
    elif kind == "multiselect":
        chosen = element.raw_values if element.set_value else [element.options[i] for i in element.default]
        state.string_array_value.data.extend(chosen)
    elif kind == "number_input":
        value = element.value if element.set_value else element.default
        if element.data_type == element.DataType.INT:
            state.int_value = int(value)
        else:
            state.double_value = value
    elif kind == "text_input":
        value = element.value if element.set_value else element.default
        state.string_value = value
    elif kind == "file_uploader":
        state.file_uploader_state_value.SetInParent()
    else:
        return None
    return state


WIDGET_KINDS = {
    "selectbox",
    "radio",
    "slider",
    "checkbox",
    "button_group",
    "multiselect",
    "number_input",
    "text_input",
    "file_uploader",
    "button",
    "download_button",
    "bidi_component",
    "plotly_chart",
}
