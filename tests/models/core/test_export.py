"""The exported SavedModels' signatures (models/core/export.py), on untrained tiny models and a real
tf.Transform graph (tft_beam on a few examples), loaded as TF Serving loads them: a TF1 session."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from models.core import export, features, inputs
from models.masked_lm import preprocessing
from models.text_classification.preprocessing import classifier_preprocessing_fn
from models.masked_lm.export import export_masked_lm
from models.text_classification.export import CLASSIFY_IDS_SIGNATURE, export_classifier
from models.text_classification import model as classifier
from models.core.backbone import build_backbone
from models.masked_lm.model import build_masked_lm

VOCAB = list(features.RESERVED_TOKENS) + ["good", "bad", "film", "very", "."]
SEQ = 16


def transform_output(tmp_path, preprocessing_fn, custom_config, raw_features):
    """Runs tf.Transform's analysis (Beam, in process) and returns its TFTransformOutput."""
    import apache_beam as beam
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils

    spec = {name: tf.io.FixedLenFeature([1], tf.string) for name in raw_features}
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(spec))
    rows = [{name: [b"good film"] for name in raw_features}]
    out = str(tmp_path / "transform_output")
    with beam.Pipeline() as pipeline, tft_beam.Context(temp_dir=str(tmp_path / "tmp")):
        transform_fn = ((pipeline | beam.Create(rows), metadata)
                        | tft_beam.AnalyzeDataset(lambda x: preprocessing_fn(x, custom_config)))
        _ = transform_fn | tft_beam.WriteTransformFn(out)
    # The raw schema beside it, as TFX's Transform writes it (the signatures parse with it).
    metadata_io.write_metadata(metadata, os.path.join(out, tft.TFTransformOutput.RAW_METADATA_DIR))
    return tft.TFTransformOutput(out)


@pytest.fixture()
def vocab_file(tmp_path):
    path = tmp_path / features.VOCAB_FILE
    path.write_text("".join(t + "\n" for t in VOCAB))
    return str(path)


def load_tf1(path):
    import tensorflow_text  # noqa: F401  (the serving graph's tokenizer ops)

    session = tf.compat.v1.Session(graph=tf.Graph())
    meta = tf.compat.v1.saved_model.loader.load(session, ["serve"], path)
    return session, meta.signature_def


def run(session, signature, **feeds):
    return session.run({k: v.name for k, v in signature.outputs.items()},
                       {signature.inputs[k].name: v for k, v in feeds.items()})


def test_fill_mask_model_signatures(tmp_path, vocab_file):
    tft_output = transform_output(tmp_path, preprocessing.preprocessing_fn,
                                  {"vocab_file": vocab_file, "seq_length": SEQ},
                                  [features.TEXT, features.SOURCE])
    model = build_masked_lm(len(VOCAB), SEQ, "tiny")
    path = export_masked_lm(model, tft_output, str(tmp_path / "mlm"), VOCAB, SEQ,
                                   max_predictions=4, top_k=2, model_name="mlm")
    session, signatures = load_tf1(path)
    assert set(signatures) >= {features.SERVING_SIGNATURE, features.TRANSFORM_SIGNATURE,
                               features.EVAL_SIGNATURE}
    out = run(session, signatures[features.SERVING_SIGNATURE],
              text=["very [MASK] film [MASK]", "no mask"])
    assert out["mask_count"].tolist() == [2, 0]
    assert out["tokens"].shape == (2, 2, 2) and out["scores"].shape == (2, 2, 2)
    reserved = {t.encode() for t in features.RESERVED_TOKENS}
    assert not set(out["tokens"][0].ravel()) & reserved  # never suggests [PAD], [MASK], ...
    assert (out["tokens"][1] == b"").all() and (out["scores"][1] == 0).all()

    example = tf.train.Example(features=tf.train.Features(feature={
        name: tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"good film"]))
        for name in (features.TEXT, features.SOURCE)}))
    out = run(session, signatures[features.TRANSFORM_SIGNATURE],
              examples=[example.SerializeToString()])
    assert out[features.PACKED_IDS][0][:4].tolist() == [2, 5, 7, 3]

    masked = {features.TOKEN_IDS: [2, 4, 7, 3] + [0] * 12, features.PADDING_MASK: [1] * 4 + [0] * 12,
              features.MASK_POSITIONS: [1, 0, 0, 0], features.MASK_IDS: [5, 0, 0, 0]}
    feature = {k: tf.train.Feature(int64_list=tf.train.Int64List(value=v)) for k, v in masked.items()}
    feature[features.MASK_WEIGHTS] = tf.train.Feature(float_list=tf.train.FloatList(value=[1, 0, 0, 0]))
    out = run(session, signatures[features.EVAL_SIGNATURE], examples=[tf.train.Example(
        features=tf.train.Features(feature=feature)).SerializeToString()])
    assert out["masked_count"].tolist() == [1.0] and out["masked_nll"][0] > 0
    assert out["masked_correct"][0] in (0.0, 1.0)
    assert os.path.isfile(os.path.join(path, "assets.extra", "tf_serving_warmup_requests"))


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
