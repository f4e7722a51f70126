"""The classifier SavedModel's signatures (models/text_classification/export.py), on untrained
tiny models and a real tf.Transform graph, loaded as TF Serving loads them: a TF1 session."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from models.core import export, features, inputs
from models.core.backbone import build_backbone
from models.text_classification import model as classifier
from models.text_classification.export import CLASSIFY_IDS_SIGNATURE, export_classifier
from models.text_classification.preprocessing import classifier_preprocessing_fn
from tests.models.export_helpers import SEQ, VOCAB, load_tf1, run, transform_output


def test_classifier_signatures(tmp_path, vocab_file):
    labels = ["negative", "positive"]
    tft_output = transform_output(tmp_path, classifier_preprocessing_fn,
                                  {"vocab_file": vocab_file, "seq_length": SEQ, "labels": labels},
                                  [features.TEXT, features.LABEL])
    model = classifier.build_classifier(build_backbone(len(VOCAB), SEQ), len(labels))
    path = export_classifier(model, tft_output, str(tmp_path / "classifier"), labels, SEQ,
                             "classifier", vocab_file)
    session, signatures = load_tf1(path)
    assert set(signatures) >= {features.SERVING_SIGNATURE, features.PREDICT_EXAMPLES_SIGNATURE,
                               features.TRANSFORM_SIGNATURE}
    out = run(session, signatures[features.SERVING_SIGNATURE], text=["good film", ""])
    assert out["probabilities"].shape == (2, 2)
    np.testing.assert_allclose(out["probabilities"].sum(axis=1), 1.0, rtol=1e-5)
    assert set(out["label"]) <= {b"negative", b"positive"}
    # Each column of probabilities is named, in the model's class order (TF1 session, as served).
    assert out["classes"].tolist() == [[b"negative", b"positive"]] * 2
    assert out["windows"].tolist() == [1, 1] and out["truncated"].tolist() == [False, False]
    best = out["probabilities"].argmax(axis=1)
    assert [out["classes"][i][k] for i, k in enumerate(best)] == out["label"].tolist()
    example = tf.train.Example(features=tf.train.Features(feature={
        features.TEXT: tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"good film"])),
        features.LABEL: tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"positive"]))}))
    by_example = run(session, signatures[features.PREDICT_EXAMPLES_SIGNATURE],
                     examples=[example.SerializeToString()])
    np.testing.assert_allclose(by_example["probabilities"][0], out["probabilities"][0], rtol=1e-5)
    transformed = run(session, signatures[features.TRANSFORM_SIGNATURE],
                      examples=[example.SerializeToString()])
    assert transformed[features.LABEL_ID].tolist() == [1]
    assert transformed[features.TOKEN_IDS][0][:4].tolist() == [2, 5, 7, 3]
    # The model without its tokenizer (what the TFLite export wraps) answers the same.
    by_ids = run(session, signatures[CLASSIFY_IDS_SIGNATURE],
                 token_ids=[[2, 5, 7, 3]], segment_ids=[[0, 0, 0, 0]])
    np.testing.assert_allclose(by_ids["probabilities"][0], out["probabilities"][0], rtol=1e-5)
    info = os.path.join(path, "assets.extra", export.MODEL_INFO_DIR)
    assert open(os.path.join(info, features.VOCAB_FILE)).read().split() == VOCAB
    assert json.load(open(os.path.join(info, export.MODEL_INFO_FILE))) == {
        "labels": labels, "seq_length": SEQ, "text_pairs": False, "long_text": "first"}


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_trimming_padding_at_serving_leaves_the_answers_unchanged(pooling):
    model = classifier.build_classifier(build_backbone(len(VOCAB), 48), 2, pooling=pooling)
    ids = np.zeros((3, 48), np.int64)
    ids[0, :5] = [2, 5, 6, 7, 3]
    ids[1, :19] = [2] + [5, 6, 8] * 5 + [7, 9] + [3]
    ids[2, :2] = [2, 3]  # an empty text
    trimmed = export.trim_padding(tf.constant(ids))
    assert trimmed.shape == (3, 32)  # longest real length 19, rounded up to a multiple of 16
    full = model(inputs.bert_inputs(tf.constant(ids)), training=False)
    short = model(inputs.bert_inputs(trimmed), training=False)
    np.testing.assert_allclose(short, full, atol=1e-5)
    assert export.trim_padding(tf.zeros([0, 48], tf.int64)).shape == (0, 16)


def test_a_classifier_of_text_pairs_takes_two_strings(tmp_path, vocab_file):
    labels = ["same", "different"]
    tft_output = transform_output(tmp_path, classifier_preprocessing_fn,
                                  {"vocab_file": vocab_file, "seq_length": SEQ, "labels": labels},
                                  [features.TEXT, features.TEXT_PAIR, features.LABEL])
    model = classifier.build_classifier(build_backbone(len(VOCAB), SEQ), len(labels))
    path = export_classifier(model, tft_output, str(tmp_path / "pairs"), labels, SEQ, "nli",
                             vocab_file)
    session, signatures = load_tf1(path)
    serving = signatures[features.SERVING_SIGNATURE]
    assert sorted(serving.inputs) == [features.TEXT, features.TEXT_PAIR]
    out = run(session, serving, text=["good film", "bad"], text_pair=["very good", "film ."])
    assert out["probabilities"].shape == (2, 2)
    example = tf.train.Example(features=tf.train.Features(feature={
        name: tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
        for name, value in ((features.TEXT, b"good film"), (features.TEXT_PAIR, b"very good"),
                            (features.LABEL, b"same"))}))
    by_example = run(session, signatures[features.PREDICT_EXAMPLES_SIGNATURE],
                     examples=[example.SerializeToString()])
    np.testing.assert_allclose(by_example["probabilities"][0], out["probabilities"][0], rtol=1e-5)
    transformed = run(session, signatures[features.TRANSFORM_SIGNATURE],
                      examples=[example.SerializeToString()])
    assert transformed[features.TOKEN_IDS][0][:7].tolist() == [2, 5, 7, 3, 8, 5, 3]
    assert transformed[features.SEGMENT_IDS][0][:8].tolist() == [0, 0, 0, 0, 1, 1, 1, 0]
    # The warmup requests TF Serving replays at load give both inputs.
    from tests.conftest import read_warmup_requests

    for log in read_warmup_requests(path):
        assert sorted(log.predict_log.request.inputs) == [features.TEXT, features.TEXT_PAIR]
