"""The text classifier and its trainer (models/text_classification/model.py,
models/text_classification/trainer.py): head, pooling, freezing, class weights, early stopping."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from models.core import features
from models.core.backbone import build_backbone
from models.text_classification.settings import ClassifierSettings
from models.text_classification import model as classifier
from models.text_classification.inputs import classifier_dataset, label_counts
from models.text_classification.trainer import train_classifier

VOCAB = list(features.RESERVED_TOKENS) + ["good", "bad", "film", "very", "."]


def test_head_outputs_one_logit_per_class():
    model = classifier.build_classifier(build_backbone(len(VOCAB), 16), num_classes=3)
    inputs = {"token_ids": np.full((4, 16), 5), "segment_ids": np.zeros((4, 16)),
              "padding_mask": np.ones((4, 16))}
    assert tuple(model(inputs).shape) == (4, 3)


def test_one_class_is_refused():
    with pytest.raises(ValueError, match="two or more classes"):
        classifier.build_classifier(build_backbone(len(VOCAB), 16), num_classes=1)


def test_freezing_keeps_embeddings_and_lowest_layers_fixed():
    backbone = build_backbone(len(VOCAB), 16, "mini")  # 4 layers
    model = classifier.build_classifier(backbone, 2, freeze_embeddings=True, freeze_layers=2)
    assert [layer.trainable for layer in backbone.transformer_layers] == [False, False, True, True]
    assert not backbone.token_embedding.trainable and not backbone.position_embedding.trainable
    trainable = {v.path for v in model.trainable_variables}
    assert not any("token_embedding" in p or "transformer_layer_0/" in p for p in trainable)
    assert any("transformer_layer_3/" in p for p in trainable)
    assert any("logits" in p for p in trainable)
    # A training step leaves frozen weights untouched.
    frozen = backbone.token_embedding.embeddings.numpy().copy()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = {"token_ids": np.full((4, 16), 6), "segment_ids": np.zeros((4, 16)),
         "padding_mask": np.ones((4, 16))}
    model.fit(x, np.array([0, 1, 0, 1]), epochs=1, verbose=0)
    np.testing.assert_array_equal(backbone.token_embedding.embeddings.numpy(), frozen)


def test_freezing_more_layers_than_exist_is_an_error():
    with pytest.raises(ValueError, match="freeze_layers=3, but the encoder has only 2"):
        classifier.freeze(build_backbone(len(VOCAB), 16), False, 3)


def test_balanced_class_weights():
    assert classifier.balanced_class_weights([30, 10]) == {0: 40 / 60, 1: 40 / 20}


def _write_classifier_records(path, rows):
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for token_ids, label in rows:
            feature = {
                features.TOKEN_IDS: tf.train.Feature(int64_list=tf.train.Int64List(value=token_ids)),
                features.LABEL_ID: tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
            }
            writer.write(tf.train.Example(
                features=tf.train.Features(feature=feature)).SerializeToString())


def test_fine_tuning_with_class_weights_and_early_stopping(tmp_path):
    """A learnable toy task (the class is the first word), unbalanced 3:1."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(200):
        label = int(i % 4 == 0)
        body = rng.integers(7, 40, 6).tolist()
        rows.append(([2, 5 + label] + body + [3] + [0] * 7, label))
    _write_classifier_records(str(tmp_path / "train.gz"), rows[:160])
    _write_classifier_records(str(tmp_path / "eval.gz"), rows[160:])
    assert label_counts([str(tmp_path / "train.gz")], 2) == [120, 40]

    settings = ClassifierSettings(seq_length=16, batch_size=16, train_steps=100,
                                  checkpoint_every=10, eval_steps=2, learning_rate=3e-3,
                                  class_weights="balanced", early_stopping_patience=2,
                                  dropout=0.0)
    log_dir = str(tmp_path / "logs")
    model = train_classifier(
        settings, lambda: build_backbone(40, 16), ["negative", "positive"],
        [str(tmp_path / "train.gz")], [str(tmp_path / "eval.gz")], log_dir)
    with open(os.path.join(log_dir, "train_summary.json")) as f:
        summary = json.load(f)
    assert summary["best_val_accuracy"] == 1.0
    assert summary["steps"] < 100, "early stopping ends training once eval accuracy stops rising"
    x, y = next(iter(classifier_dataset([str(tmp_path / "eval.gz")], 16, 40,
                                        shuffle=False, repeat=False)))
    assert (np.argmax(model.predict(x, verbose=0), axis=-1) == y.numpy()).all()


def test_mean_pooling_ignores_padding_and_cls_pooling_is_keras_hubs():
    sequence = np.array([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    pooled = classifier.MaskedMeanPooling()(sequence, np.array([[1, 1, 0]]))
    np.testing.assert_allclose(pooled, [[2.0, 3.0]])
    import keras_hub

    cls_model = classifier.build_classifier(build_backbone(len(VOCAB), 16), 2, pooling="cls")
    assert isinstance(cls_model, keras_hub.models.BertTextClassifier)
    with pytest.raises(ValueError, match="pooling='max'"):
        classifier.build_classifier(build_backbone(len(VOCAB), 16), 2, pooling="max")


def test_length_aware_batches_hold_every_example_once_trimmed_to_a_multiple(tmp_path):
    """Bucketed batches (models/core/inputs.py: length_bucketed): examples of lengths 3..60 in
    64-position rows come back each exactly once, in batches whose members share a bucket of 16,
    cut to their longest rounded up to 16; the classifier's outputs on a trimmed batch equal
    those on the same rows padded to 64."""
    rng = np.random.default_rng(1)
    rows = []
    for i in range(150):
        length = int(rng.integers(3, 61))
        body = rng.integers(7, 40, length - 2).tolist()
        if i == 0:  # a typed [PAD] inside the text does not end it
            body[1] = features.PAD_ID
        rows.append(([2] + body + [3] + [0] * (64 - length), i))
    _write_classifier_records(str(tmp_path / "train.gz"), rows)
    ds = classifier_dataset([str(tmp_path / "train.gz")], 64, 8, bucket_multiple=16,
                            shuffle=False, repeat=False)
    by_label = {label: ids for ids, label in rows}
    seen, shapes = [], set()
    model = classifier.build_classifier(build_backbone(40, 64), 2, dropout=0.0)
    for x, y in ds:
        width = x["token_ids"].shape[1]
        shapes.add(width)
        assert width % 16 == 0 and set(x) == {"token_ids", "segment_ids", "padding_mask"}
        lengths = [64 - by_label[int(label)][::-1].index(3) for label in y.numpy()]
        assert max(lengths) <= width < max(lengths) + 16  # its longest, rounded up to 16
        assert len({(n - 1) // 16 for n in lengths}) == 1  # one bucket per batch
        for row, label in zip(x["token_ids"].numpy(), y.numpy()):
            np.testing.assert_array_equal(row, by_label[int(label)][:width])
        seen.extend(y.numpy().tolist())
        if len(shapes) == 1 and len(seen) <= 8:  # outputs unchanged by the cut (one batch)
            full = {k: tf.pad(v, [[0, 0], [0, 64 - width]]) for k, v in x.items()}
            np.testing.assert_allclose(model(x), model(full), atol=1e-5)
    assert sorted(seen) == list(range(150))
    assert shapes == {16, 32, 48, 64}
    # A repeated stream keeps whole batches only.
    repeated = classifier_dataset([str(tmp_path / "train.gz")], 64, 8, bucket_multiple=16)
    assert all(y.shape[0] == 8 for _, y in repeated.take(30))


def test_dense_on_token_outputs_trains_with_one_matmul_per_kernel_gradient():
    """models/core/keras_backports.py (keras#22832): a Dense layer on `[batch, seq, k]` computes as
    Keras 2's tensordot (2-D MatMul ops, no broadcasting BatchMatMulV2 whose kernel gradient is
    a product per row), with the same values."""
    import keras

    import models.core.backbone  # noqa: F401  (applies the backports)

    dense = keras.layers.Dense(6)
    x = tf.random.stateless_normal((3, 5, 4), seed=(1, 2))
    dense(x)

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            y = tf.reduce_sum(dense(x) ** 2)
        return y, tape.gradient(y, dense.kernel)

    ops = {op.type for op in step.get_concrete_function(x).graph.get_operations()}
    assert "BatchMatMulV2" not in ops and "MatMul" in ops
    expected = tf.einsum("bsk,kn->bsn", x, dense.kernel) + dense.bias
    np.testing.assert_allclose(dense(x), expected, atol=1e-5)
    _, grad = step(x)
    np.testing.assert_allclose(grad, tf.einsum("bsk,bsn->kn", x, 2 * expected), atol=1e-4)
