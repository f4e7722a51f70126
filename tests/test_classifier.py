"""Classification head, freezing, label handling and pretrained-model resolution units."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from models import bert, classifier, features, preprocessing
from pipeline import finetune, pretrained as pretrained_lib

VOCAB = list(features.RESERVED_TOKENS) + ["good", "bad", "film", "very", "."]


@pytest.fixture()
def vocab_file(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("".join(t + "\n" for t in VOCAB))
    return str(path)


def test_head_outputs_one_logit_per_class():
    model = classifier.build_classifier(bert.build_backbone(len(VOCAB), 16), num_classes=3)
    inputs = {"token_ids": np.full((4, 16), 5), "segment_ids": np.zeros((4, 16)),
              "padding_mask": np.ones((4, 16))}
    assert tuple(model(inputs).shape) == (4, 3)


def test_one_class_is_refused():
    with pytest.raises(ValueError, match="two or more classes"):
        classifier.build_classifier(bert.build_backbone(len(VOCAB), 16), num_classes=1)


def test_freezing_keeps_embeddings_and_lowest_layers_fixed():
    backbone = bert.build_backbone(len(VOCAB), 16, "mini")  # 4 layers
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
        classifier.freeze(bert.build_backbone(len(VOCAB), 16), False, 3)


def test_balanced_class_weights():
    assert classifier.balanced_class_weights([30, 10]) == {0: 40 / 60, 1: 40 / 20}


def test_preprocessing_maps_labels_frames_text_and_buckets_length(vocab_file):
    config = {"vocab_file": vocab_file, "seq_length": 8, "labels": ["negative", "positive"]}
    out = preprocessing.classifier_preprocessing_fn({
        features.TEXT: tf.constant([["Very good film."], ["bad " * 40]]),
        features.LABEL: tf.constant([["positive"], ["neutral"]]),
    }, config)
    np.testing.assert_array_equal(out[features.TOKEN_IDS][0], [2, 8, 5, 7, 9, 3, 0, 0])
    assert out[features.TOKEN_IDS][1].numpy().tolist() == [2] + [6] * 6 + [3]  # truncated
    assert out[features.LABEL_ID].numpy().tolist() == [1, -1]  # unknown label → -1
    assert out[features.LENGTH_BUCKET].numpy().tolist() == [0, 2]  # 4 and 40 wordpieces


def test_preprocessing_without_label_is_the_serving_path(vocab_file):
    config = {"vocab_file": vocab_file, "seq_length": 8, "labels": ["negative", "positive"]}
    out = preprocessing.classifier_preprocessing_fn({features.TEXT: tf.constant([["good"]])}, config)
    assert features.LABEL_ID not in out


def test_schema_labels_come_from_the_label_domain():
    assert finetune.schema_labels(finetune.LABELLED_SCHEMA) == ["negative", "positive"]


def test_eval_config_has_auc_only_for_two_classes():
    from pipeline.config import FinetuneConfig

    cfg = FinetuneConfig(data="x.tsv", pretrained="runs/p")
    names = lambda c: {m.class_name for s in c.metrics_specs for m in s.metrics}  # noqa: E731
    assert "AUC" in names(finetune.eval_config(cfg, ["a", "b"]))
    assert "AUC" not in names(finetune.eval_config(cfg, ["a", "b", "c"]))


def _fake_pretrained(tmp_path, vocab_size, embeddings):
    encoder = tmp_path / "model" / "encoder"
    encoder.mkdir(parents=True)
    (encoder / "vocab.txt").write_text("".join(f"t{i}\n" for i in range(vocab_size)))
    (encoder / "config.json").write_text(json.dumps({"config": {"vocabulary_size": embeddings}}))
    return str(tmp_path / "model")


def test_resolve_model_dir_and_encoder_dir(tmp_path):
    model = _fake_pretrained(tmp_path, 10, 10)
    assert pretrained_lib.resolve(model).model_uri == model
    assert pretrained_lib.resolve(os.path.join(model, "encoder")).model_uri == model
    assert pretrained_lib.check_vocabulary_matches(pretrained_lib.resolve(model)) == 10


def test_resolve_errors_name_the_path(tmp_path):
    with pytest.raises(pretrained_lib.PretrainedError, match="does not exist"):
        pretrained_lib.resolve(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(pretrained_lib.PretrainedError, match="encoder/config.json"):
        pretrained_lib.resolve(str(tmp_path / "empty"))


def test_vocabulary_mismatch_is_refused(tmp_path):
    model = _fake_pretrained(tmp_path, 10, 12)
    with pytest.raises(pretrained_lib.PretrainedError, match="has 10 tokens but .* 12 token embeddings"):
        pretrained_lib.check_vocabulary_matches(pretrained_lib.resolve(model))


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
    from models import classifier_data, classifier_trainer
    from pipeline.config import FinetuneConfig

    rng = np.random.default_rng(0)
    rows = []
    for i in range(200):
        label = int(i % 4 == 0)
        body = rng.integers(7, 40, 6).tolist()
        rows.append(([2, 5 + label] + body + [3] + [0] * 7, label))
    _write_classifier_records(str(tmp_path / "train.gz"), rows[:160])
    _write_classifier_records(str(tmp_path / "eval.gz"), rows[160:])
    assert classifier_data.label_counts([str(tmp_path / "train.gz")], 16, 2) == [120, 40]

    cfg = FinetuneConfig(data="unused", pretrained="unused", seq_length=16, batch_size=16,
                         train_steps=100, checkpoint_every=10, eval_steps=2, learning_rate=3e-3,
                         class_weights="balanced", early_stopping_patience=2, dropout=0.0)
    log_dir = str(tmp_path / "logs")
    model = classifier_trainer.train_classifier(
        cfg, lambda: bert.build_backbone(40, 16), ["negative", "positive"],
        [str(tmp_path / "train.gz")], [str(tmp_path / "eval.gz")], log_dir)
    with open(os.path.join(log_dir, "train_summary.json")) as f:
        summary = json.load(f)
    assert summary["best_val_accuracy"] == 1.0
    assert summary["steps"] < 100, "early stopping ends training once eval accuracy stops rising"
    x, y = next(iter(classifier_data.classifier_dataset([str(tmp_path / "eval.gz")], 16, 40,
                                                        shuffle=False, repeat=False)))
    assert (np.argmax(model.predict(x, verbose=0), axis=-1) == y.numpy()).all()


def test_mean_pooling_ignores_padding_and_cls_pooling_is_keras_hubs():
    sequence = np.array([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    pooled = classifier.MaskedMeanPooling()(sequence, np.array([[1, 1, 0]]))
    np.testing.assert_allclose(pooled, [[2.0, 3.0]])
    import keras_hub

    cls_model = classifier.build_classifier(bert.build_backbone(len(VOCAB), 16), 2, pooling="cls")
    assert isinstance(cls_model, keras_hub.models.BertTextClassifier)
    with pytest.raises(ValueError, match="pooling='max'"):
        classifier.build_classifier(bert.build_backbone(len(VOCAB), 16), 2, pooling="max")


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_trimming_padding_at_serving_leaves_the_answers_unchanged(pooling):
    from models import classifier_data, export

    model = classifier.build_classifier(bert.build_backbone(len(VOCAB), 48), 2, pooling=pooling)
    ids = np.zeros((3, 48), np.int64)
    ids[0, :5] = [2, 5, 6, 7, 3]
    ids[1, :19] = [2] + [5, 6, 8] * 5 + [7, 9] + [3]
    ids[2, :2] = [2, 3]  # an empty text
    trimmed = export.trim_padding(tf.constant(ids))
    assert trimmed.shape == (3, 32)  # longest real length 19, rounded up to a multiple of 16
    full = model(classifier_data.to_model_inputs(tf.constant(ids)), training=False)
    short = model(classifier_data.to_model_inputs(trimmed), training=False)
    np.testing.assert_allclose(short, full, atol=1e-5)
    assert export.trim_padding(tf.zeros([0, 48], tf.int64)).shape == (0, 16)
