"""core.export: history and predictions as CSV, and a TensorFlow Lite model that answers like the Keras one."""

import csv
import io

import numpy as np

from core.export import history_csv, predictions_csv, tflite_probabilities, to_tflite
from core.model import predict_probabilities, to_model_input
from core.store import RunStore


def test_history_csv_has_one_row_per_epoch_and_only_the_metrics_there_are():
    rows = list(csv.reader(io.StringIO(history_csv({"loss": [0.5, 0.3], "accuracy": [0.8, 0.9]}))))
    assert rows == [["epoch", "loss", "accuracy"], ["1", "0.500000", "0.800000"], ["2", "0.300000", "0.900000"]]
    with_validation = history_csv(
        {
            "loss": [0.5],
            "accuracy": [0.8],
            "val_loss": [0.6],
            "val_accuracy": [0.7],
            "test_loss": [0.55],
            "test_accuracy": [0.75],
        }
    )
    assert with_validation.splitlines() == [
        "epoch,loss,accuracy,test_loss,test_accuracy,val_loss,val_accuracy",
        "1,0.500000,0.800000,0.550000,0.750000,0.600000,0.700000",
    ]


def test_predictions_csv_has_index_label_answer_and_probabilities():
    probabilities = np.eye(10)[[7, 2]] * 0.9 + 0.01
    rows = list(csv.DictReader(io.StringIO(predictions_csv(np.array([7, 1]), probabilities))))
    assert [(row["index"], row["label"], row["predicted"]) for row in rows] == [("0", "7", "7"), ("1", "1", "2")]
    assert float(rows[0]["p7"]) == 0.91 and len(rows[0]) == 13


def test_the_tflite_model_reads_the_first_1000_test_digits_like_keras(trained_run, model_dir, mnist):
    model = RunStore(model_dir).load_model(trained_run)
    flatbuffer = to_tflite(model)
    assert flatbuffer[4:8] == b"TFL3" and len(flatbuffer) < 2 * model.count_params() * 4
    x = to_model_input(mnist.x_test[:1000], 255, (784,))
    keras_answers = predict_probabilities(model, x).argmax(axis=1)
    lite = tflite_probabilities(flatbuffer, x)
    assert np.mean(lite.argmax(axis=1) == keras_answers) == 1.0
    np.testing.assert_allclose(lite, predict_probabilities(model, x), atol=1e-5)
