"""An uploaded model fitted to Digit Lab: a softmax for a model that outputs raw scores, a rescaling for one that
reads pixels as 0-255, its accuracy on its test set, a card that says all of it, and the run it is kept as."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from core.model_cost import multiply_adds_of
from core.runs import RunResult, RunState, Stopped, first_line
from core.store import RunRecord, RunStore, new_run_id
from core.uploads import UploadedModel, UploadError

PROBE_IMAGES = 1000  # test images used to tell raw scores from probabilities and 0-255 models from 0-1 ones
CHANCE = 0.5  # an accuracy below this on [0, 1] pixels, and 0.3 better on 0-255 ones, means "reads 0-255"


@dataclass(frozen=True)
class ModelCard:
    """What an uploaded model expects and how well it reads its dataset."""

    file_format: str
    input_shape: tuple[int, ...]
    pixel_scale: str  # "0 to 1" or "0 to 255": the values it was evaluated with
    layers: list[dict]  # name, type, output shape, parameters
    parameters: int
    test_loss: float
    test_accuracy: float
    notes: list[str]
    multiply_adds: int = 0  # to read one digit (estimated); 0 on cards stored before it was counted


@dataclass(frozen=True)
class PreparedUpload:
    model: object  # the uploaded model, with a softmax or a rescaling added when it needs one
    card: ModelCard


def prepare_upload(uploaded: UploadedModel, dataset, progress=None) -> PreparedUpload:
    """Fit an uploaded model to Digit Lab's [0, 1] images and probabilities, evaluate it, and describe it."""
    from core.model import evaluate_model, layer_rows, model_input_shape, to_model_input

    model, notes = uploaded.model, []
    probe = slice(0, PROBE_IMAGES)
    x = to_model_input(dataset.x_test[probe], dataset.pixel_max, model_input_shape(model))
    try:
        if not looks_like_probabilities(np.asarray(model(x[:256], training=False))):
            model = with_softmax(model)
            notes.append("It outputs raw scores (logits): Digit Lab adds a softmax to read them as probabilities.")
        on_unit, on_raw = (accuracy(model, x * factor, dataset.y_test[probe]) for factor in (1.0, 255.0))
        pixel_scale = "0 to 1"
        if on_unit < CHANCE and on_raw > on_unit + 0.3:
            model, pixel_scale = with_input_scale(model, 255.0), "0 to 255"
            notes.append(
                f"It reads only {on_unit:.0%} of the first test digits right with pixels from 0 to 1, but "
                f"{on_raw:.0%} with pixels from 0 to 255: Digit Lab feeds it 0 to 255."
            )
        loss, test_accuracy = evaluate_model(model, dataset, progress)
    except Stopped:
        raise
    except Exception as error:  # a model that builds can still fail when called: dtypes, shapes inside...
        raise UploadError(f"The model failed on the test set: {first_line(error)}") from error
    rows = [
        {"layer": row.name, "type": row.type, "output shape": row.output_shape, "parameters": row.parameters}
        for row in layer_rows(model)
    ]
    multiply_adds = uploaded.multiply_adds or multiply_adds_of(model)  # the softmax or rescaling added cost 0
    card = ModelCard(
        uploaded.file_format,
        model_input_shape(uploaded.model),
        pixel_scale,
        rows,
        model.count_params(),
        loss,
        test_accuracy,
        notes,
        multiply_adds,
    )
    return PreparedUpload(model, card)


def looks_like_probabilities(outputs: np.ndarray) -> bool:
    return bool(np.all(outputs >= 0) and np.allclose(outputs.sum(axis=1), 1.0, atol=1e-3))


def accuracy(model, x: np.ndarray, labels: np.ndarray) -> float:
    from core.model import predict_probabilities

    return float(np.mean(predict_probabilities(model, x).argmax(axis=1) == labels))


def with_softmax(model):
    """The same model, its ten outputs turned into probabilities."""
    import keras

    return keras.Model(model.inputs[0], keras.layers.Softmax(name="added_softmax")(model.outputs[0]), name=model.name)


def with_input_scale(model, factor: float):
    """The same model reading [0, 1] pixels: a Rescaling layer multiplies them by `factor` first (flat for a
    Sequential model, the model nested inside a new one otherwise)."""
    import keras

    rescaling = keras.layers.Rescaling(factor, name="added_rescaling")
    if isinstance(model, keras.Sequential):
        return keras.Sequential([keras.Input(model.inputs[0].shape[1:]), rescaling, *model.layers], name=model.name)
    image = keras.Input(model.inputs[0].shape[1:], name="image")
    return keras.Model(image, model(rescaling(image)), name=model.name)


def keep_upload(store: RunStore, prepared: PreparedUpload, dataset: str, filename: str) -> RunRecord:
    """Keep an uploaded model, fitted to Digit Lab and evaluated, as a run of `store`."""
    from core.model import model_to_bytes

    card = prepared.card
    result = RunResult(test_loss=card.test_loss, test_accuracy=card.test_accuracy)
    record = RunRecord(
        new_run_id(),
        dataset,
        {},
        RunState.UPLOADED,
        result,
        source=f"uploaded: {filename[:80]}",
        card=dataclasses.asdict(card),
    )
    store.save(record, model_to_bytes(prepared.model))
    return record
