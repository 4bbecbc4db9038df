"""Taking a run out of Digit Lab: its history and test-set predictions as CSV, its model as TensorFlow Lite."""

from __future__ import annotations

import contextlib
import csv
import io
import os

import numpy as np

HISTORY_COLUMNS = ("loss", "accuracy", "test_loss", "test_accuracy", "val_loss", "val_accuracy")
# Three lines that read the exported model on a phone or a Raspberry Pi (LiteRT, TensorFlow Lite's successor).
TFLITE_SNIPPET = """from ai_edge_litert.interpreter import Interpreter  # pip install ai-edge-litert
model = Interpreter(model_path="digits.tflite"); model.allocate_tensors()
model.set_tensor(model.get_input_details()[0]["index"], image); model.invoke()  # image: float32, as in Digit Lab"""


def history_csv(history: dict[str, list[float]]) -> str:
    """One row per epoch: epoch, then loss and accuracy (and their held-out and validation twins when there are)."""
    columns = [column for column in HISTORY_COLUMNS if history.get(column)]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["epoch", *columns])
    for epoch in range(len(history.get("loss", []))):
        writer.writerow([epoch + 1, *(f"{history[column][epoch]:.6f}" for column in columns)])
    return buffer.getvalue()


def predictions_csv(labels: np.ndarray, probabilities: np.ndarray) -> str:
    """One row per test image: index, label, predicted digit, and the ten probabilities."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["index", "label", "predicted", *(f"p{digit}" for digit in range(probabilities.shape[1]))])
    for index, (label, row) in enumerate(zip(labels, probabilities, strict=True)):
        writer.writerow([index, int(label), int(row.argmax()), *(f"{value:.6f}" for value in row)])
    return buffer.getvalue()


def to_tflite(model) -> bytes:
    """The model as a TensorFlow Lite flatbuffer (float32, same inputs and outputs)."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):  # it prints the traced signature
        return converter.convert()


def tflite_probabilities(flatbuffer: bytes, x: np.ndarray) -> np.ndarray:
    """Run a TensorFlow Lite model on a batch, one image at a time, as a phone would (tests and checks)."""
    import warnings

    import tensorflow as tf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's notice that LiteRT replaces it
        interpreter = tf.lite.Interpreter(model_content=flatbuffer)
    interpreter.allocate_tensors()
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    rows = []
    for image in x:
        interpreter.set_tensor(source["index"], image[None].astype(np.float32))
        interpreter.invoke()
        rows.append(interpreter.get_tensor(target["index"])[0])
    return np.stack(rows)
