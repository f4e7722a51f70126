"""Texts longer than one window (models/core/settings.py LONG_TEXTS): what the Tokenize step makes
of them under first / head-tail / windows, the windowed classifier's pooling, its batches, and
the served model reading every window (loaded as TF Serving loads it: a TF1 session)."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from models.core import export, features, inputs
from models.core.backbone import build_backbone
from models.text_classification.export import export_classifier
from models.text_classification.inputs import classifier_dataset
from models.text_classification.model import WindowedClassifier, build_classifier
from models.text_classification.preprocessing import classifier_preprocessing_fn
from tests.models.export_helpers import VOCAB, load_tf1, run, transform_output

# good bad film very . (ids 5..9) twice: 10 pieces
LONG = "good bad film very . good bad film very ."
SEQ = 6  # windows of 4 pieces


@pytest.fixture()
def vocab_file(tmp_path):
    path = tmp_path / features.VOCAB_FILE
    path.write_text("".join(t + "\n" for t in VOCAB))
    return str(path)


def tokenize(vocab_file, texts, **config):
    out = classifier_preprocessing_fn(
        {features.TEXT: tf.constant(texts)[:, tf.newaxis]},
        {"vocab_file": vocab_file, "seq_length": SEQ, **config})
    return {k: (tf.sparse.to_dense(v) if isinstance(v, tf.SparseTensor) else v).numpy().tolist()
            for k, v in out.items()}


def test_first_reads_the_first_window_and_says_the_rest_was_cut(vocab_file):
    out = tokenize(vocab_file, [LONG, "good film"])
    assert out[features.TOKEN_IDS] == [[2, 5, 6, 7, 8, 3], [2, 5, 7, 3, 0, 0]]
    assert out[features.TEXT_LENGTH] == [10, 2]
    assert out[features.TRUNCATED] == [1, 0] and out[features.WINDOWS] == [1, 1]


def test_head_tail_keeps_the_first_and_the_last_pieces(vocab_file):
    # 4 pieces a window: round(4 * 128 / 510) = 1 from the head, 3 from the tail.
    out = tokenize(vocab_file, [LONG, "good film"], long_text="head-tail")
    assert out[features.TOKEN_IDS] == [[2, 5, 7, 8, 9, 3], [2, 5, 7, 3, 0, 0]]
    assert out[features.TRUNCATED] == [1, 0]


def test_windows_cover_the_text_with_overlap_up_to_max_windows(vocab_file):
    # stride 1: windows start at pieces 0, 3, 6 (step 3); the third ends at piece 10.
    out = tokenize(vocab_file, [LONG, "good film"], long_text="windows", window_stride=1,
                   max_windows=3)
    assert features.TOKEN_IDS not in out
    assert out[features.WINDOW_IDS][0] == [2, 5, 6, 7, 8, 3, 2, 8, 9, 5, 6, 3,
                                           2, 6, 7, 8, 9, 3]
    assert out[features.WINDOW_IDS][1][:6] == [2, 5, 7, 3, 0, 0]  # one window (then padding)
    assert out[features.WINDOWS] == [3, 1] and out[features.TRUNCATED] == [0, 0]

    capped = tokenize(vocab_file, [LONG], long_text="windows", window_stride=1, max_windows=2)
    assert capped[features.WINDOW_IDS][0] == [2, 5, 6, 7, 8, 3, 2, 8, 9, 5, 6, 3]
    assert capped[features.WINDOWS] == [2] and capped[features.TRUNCATED] == [1]


def window_classifier():
    keras_seed = 3
    tf.keras.utils.set_random_seed(keras_seed)
    return build_classifier(build_backbone(vocab_size=len(VOCAB), seq_length=SEQ, size="tiny"),
                            num_classes=3, dropout=0.0)


WINDOWS = tf.constant([[[2, 5, 6, 7, 8, 3], [2, 8, 9, 5, 6, 3], [0] * 6],   # 2 windows + padding
                       [[2, 5, 7, 3, 0, 0], [0] * 6, [0] * 6]])              # 1 window


@pytest.mark.parametrize("pooling", ["mean", "max"])
def test_a_texts_logits_pool_its_real_windows_logits(pooling):
    window = window_classifier()
    model = WindowedClassifier(window, pooling)
    got = model(inputs.bert_inputs(WINDOWS)).numpy()
    each = [window(inputs.bert_inputs(WINDOWS[i, :n])).numpy() for i, n in ((0, 2), (1, 1))]
    want = np.stack([getattr(np, pooling)(w, axis=0) for w in each])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # Padding windows are not read: the second text scores as its one window alone.
    np.testing.assert_allclose(got[1], each[1][0], rtol=1e-5, atol=1e-6)


def write_windows(path, windows_per_text):
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for i, count in enumerate(windows_per_text):
            ids = []
            for w in range(count):
                body = [5 + w % 5] * (4 if w < count - 1 else 1 + i % 4)
                ids += ([2] + body + [3] + [0] * SEQ)[:SEQ]
            writer.write(tf.train.Example(features=tf.train.Features(feature={
                features.WINDOW_IDS: tf.train.Feature(int64_list=tf.train.Int64List(value=ids)),
                features.LABEL_ID: tf.train.Feature(int64_list=tf.train.Int64List(value=[i % 3])),
            })).SerializeToString())


def test_windows_batches_group_texts_by_windows_and_length(tmp_path):
    path = str(tmp_path / "train.gz")
    counts = [1, 3, 1, 2, 3, 1, 2, 1] * 4
    write_windows(path, counts)
    seen = 0
    for model_inputs, labels in classifier_dataset(
            [path], SEQ, 4, bucket_multiple=2, windows=True, shuffle=False, repeat=False):
        ids = model_inputs["token_ids"].numpy()
        assert ids.ndim == 3 and ids.shape[0] == labels.shape[0]
        real = (model_inputs["padding_mask"].numpy() != 0).any(axis=-1).sum(axis=1)
        assert len(set(real.tolist())) == 1, "a batch holds texts of as many windows"
        seen += len(labels)
    assert seen == len(counts)
    fixed = next(iter(classifier_dataset([path], SEQ, 8, windows=True, shuffle=False,
                                         repeat=False)))[0]["token_ids"]
    assert fixed.shape == (8, 3, SEQ)  # padded to the batch's most windows, seq_length wide


def test_the_served_classifier_reads_every_window_of_a_long_text(tmp_path, vocab_file):
    labels = ["a", "b", "c"]
    config = {"vocab_file": vocab_file, "seq_length": SEQ, "labels": labels,
              "long_text": "windows", "window_stride": 1, "max_windows": 3}
    tft_output = transform_output(tmp_path, classifier_preprocessing_fn, config,
                                  [features.TEXT, features.LABEL])
    window = window_classifier()
    model = WindowedClassifier(window, "mean")
    long_text = {"long_text": "windows", "window_stride": 1, "max_windows": 3,
                 "window_pooling": "mean"}
    path = export_classifier(model, tft_output, str(tmp_path / "docs"), labels, SEQ,
                             "docs", vocab_file, long_text=long_text)
    session, signatures = load_tf1(path)
    texts = [LONG, "good film", LONG + " " + LONG]
    out = run(session, signatures[features.SERVING_SIGNATURE], text=texts)
    assert out["windows"].tolist() == [3, 1, 3]
    assert out["truncated"].tolist() == [False, False, True]
    windows = [[[2, 5, 6, 7, 8, 3], [2, 8, 9, 5, 6, 3], [2, 6, 7, 8, 9, 3]],
               [[2, 5, 7, 3, 0, 0]]]
    for i, text_windows in enumerate(windows):
        logits = window(inputs.bert_inputs(tf.constant(text_windows))).numpy().mean(axis=0)
        np.testing.assert_allclose(out["probabilities"][i], tf.nn.softmax(logits).numpy(),
                                   rtol=1e-4, atol=1e-5)
    # TFMA's signature reads the same windows from raw examples.
    examples = [tf.train.Example(features=tf.train.Features(feature={features.TEXT: (
        tf.train.Feature(bytes_list=tf.train.BytesList(value=[t.encode()])))})).SerializeToString()
        for t in texts]
    by_example = run(session, signatures[features.PREDICT_EXAMPLES_SIGNATURE], examples=examples)
    np.testing.assert_allclose(by_example["probabilities"], out["probabilities"], rtol=1e-5)
    with open(os.path.join(path, "assets.extra", "lmpipe", "model.json")) as f:
        info = json.load(f)
    assert info["long_text"] == "windows" and info["max_windows"] == 3
    assert export.ModelInfo.read(path).long_text == "windows"
