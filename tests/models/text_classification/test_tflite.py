"""TFLite export (models/text_classification/tflite.py) of a real classifier SavedModel
(untrained tiny model, real tf.Transform graph): raw strings in, the same probabilities as the
SavedModel out."""

import numpy as np
import pytest
import tensorflow as tf

from models.core import features
from models.core.backbone import build_backbone
from models.text_classification import model as classifier
from models.text_classification import tflite
from models.text_classification.export import export_classifier
from models.text_classification.preprocessing import classifier_preprocessing_fn
from tests.models.export_helpers import SEQ, VOCAB, transform_output

TEXTS = ["good film", "very bad film .", "", "Good, GOOD film!", "an unknown word " * 10]


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("tflite")
    vocab_file = tmp_path / features.VOCAB_FILE
    vocab_file.write_text("".join(t + "\n" for t in VOCAB))
    labels = ["negative", "positive"]
    tft_output = transform_output(tmp_path, classifier_preprocessing_fn,
                                  {"vocab_file": str(vocab_file), "seq_length": SEQ,
                                   "labels": labels}, [features.TEXT, features.LABEL])
    keras_model = classifier.build_classifier(build_backbone(len(VOCAB), SEQ), len(labels))
    path = export_classifier(keras_model, tft_output, str(tmp_path / "classifier"),
                             labels, SEQ, "classifier", str(vocab_file))
    import tensorflow_text  # noqa: F401

    serving = tf.saved_model.load(path).signatures[features.SERVING_SIGNATURE]
    return path, serving(text=tf.constant(TEXTS))["probabilities"].numpy()


def test_the_float_model_answers_raw_strings_as_the_saved_model_does(saved_model):
    path, expected = saved_model
    model = tflite.TFLiteClassifier(model_content=tflite.convert(path, "none"))
    np.testing.assert_allclose(model.predict(TEXTS), expected, atol=1e-5)
    np.testing.assert_allclose(model.predict(TEXTS, batch_size=1), expected, atol=1e-5)
    assert model.predict([]).shape[0] == 0


@pytest.mark.parametrize("mode", ["dynamic", "int8"])
def test_quantized_models_are_smaller_and_close(saved_model, mode):
    path, expected = saved_model
    float_size = len(tflite.convert(path, "none"))
    content = tflite.convert(path, mode, calibration_texts=TEXTS * 4)
    assert len(content) < float_size
    probabilities = tflite.TFLiteClassifier(model_content=content).predict(TEXTS)
    assert probabilities.shape == expected.shape
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=0.02)
    assert np.abs(probabilities - expected).max() < 0.2


def test_framing_matches_the_classifier_inputs():
    special = tflite.SpecialIds.of(VOCAB)
    ids = tf.ragged.constant([[5, 7], [], [5, 6, 7, 8, 9]], dtype=tf.int32)
    framed = tflite.frame(ids, seq_length=5, special=special).numpy()
    assert framed.tolist() == [[2, 5, 7, 3, 0], [2, 3, 0, 0, 0], [2, 5, 6, 7, 3]]


def test_bad_options_are_refused_with_the_reason(saved_model, tmp_path):
    path, _ = saved_model
    with pytest.raises(tflite.TFLiteExportError, match="use one of none, dynamic, int8"):
        tflite.convert(path, "fp16")
    with pytest.raises(tflite.TFLiteExportError, match="calibrates on texts"):
        tflite.convert(path, "int8")
    with pytest.raises(tflite.TFLiteExportError, match="model.json"):
        tflite.convert(str(tmp_path), "none")
