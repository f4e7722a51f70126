"""The text classifier's SavedModel (keras.export.ExportArchive, TF Serving's layout):
raw text (or text pairs) in; label, probabilities and classes out (export_classifier)."""

from typing import Optional, Sequence

import keras
import tensorflow as tf

from models.core import features, inputs
from models.core.export import transform_features_fn, trim_padding, write_model_info, write_warmup_requests

CLASSIFY_IDS_SIGNATURE = "classify_ids"


def _classify_fn(model, tft_layer, labels: Sequence[str], seq_length: int, pairs: bool,
                 windows: bool = False):
    label_names = tf.constant(list(labels))

    def classify(text, text_pair=None):
        raw = {features.TEXT: tf.reshape(text, [-1, 1])}
        if text_pair is not None:
            raw[features.TEXT_PAIR] = tf.reshape(text_pair, [-1, 1])
        transformed = tft_layer(raw)
        if windows:  # [batch, windows, seq_length]; a text with fewer has all-[PAD] windows
            window_ids = tf.sparse.to_dense(transformed[features.WINDOW_IDS],
                                            default_value=features.PAD_ID)
            batch = tf.shape(window_ids, out_type=tf.int64)[0]
            window_ids = tf.reshape(window_ids, [batch, -1, seq_length])
            model_inputs = inputs.bert_inputs(window_ids)
        else:
            token_ids, segment_ids = trim_padding(
                tf.reshape(transformed[features.TOKEN_IDS], [-1, seq_length]),
                tf.reshape(transformed[features.SEGMENT_IDS], [-1, seq_length]))
            model_inputs = inputs.bert_inputs(token_ids, segment_ids=segment_ids)
        logits = model(model_inputs, training=False)
        probabilities = tf.nn.softmax(tf.cast(logits, tf.float32))
        best = tf.argmax(probabilities, axis=-1)
        return {
            "probabilities": probabilities,
            # The name of each column of `probabilities`, as TF Serving's Classify API pairs
            # `classes` with `scores`: a client never has to know the class order.
            "classes": tf.tile(label_names[tf.newaxis, :], [tf.shape(probabilities)[0], 1]),
            "label": tf.gather(label_names, best),
            "score": tf.reduce_max(probabilities, axis=-1),
            # How much of each text the answer is from: windows read, and whether any of the
            # text was not read (longer than one window, or than max_windows of them).
            "windows": tf.reshape(transformed[features.WINDOWS], [-1]),
            "truncated": tf.reshape(tf.cast(transformed[features.TRUNCATED], tf.bool), [-1]),
        }

    texts = [features.TEXT, features.TEXT_PAIR] if pairs else [features.TEXT]
    serving_default = tf.function(
        classify, input_signature=[tf.TensorSpec([None], tf.string, name=name) for name in texts])

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def predict_examples(examples):
        """Serialized raw tf.Examples (as TFMA feeds them) to the same outputs."""
        parsed = tf.io.parse_example(examples, {
            name: tf.io.FixedLenFeature([], tf.string) for name in texts})
        return classify(*(parsed[name] for name in texts))

    return serving_default, predict_examples


def _classify_ids_fn(model):
    """The model without its tokenizer: `[batch, length]` ids (`[CLS] ... [SEP] [PAD]...`, at
    most the sequence length) to `probabilities`; one window each (a WindowedClassifier's
    window classifier). What a TFLite export with a tokenizer of its own wraps
    (models/text_classification/tflite.py)."""
    model = getattr(model, "window_classifier", model)

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32, name="token_ids"),
                                  tf.TensorSpec([None, None], tf.int32, name="segment_ids")])
    def classify_ids(token_ids, segment_ids):
        logits = model(inputs.bert_inputs(token_ids, segment_ids=segment_ids), training=False)
        return {"probabilities": tf.nn.softmax(tf.cast(logits, tf.float32))}

    return classify_ids


WARMUP_TEXTS = ("A gripping, beautifully acted film.", "Dull and far too long.", "")


def export_classifier(model: keras.Model, tf_transform_output, export_dir: str,
                      labels: Sequence[str], seq_length: int, model_name: str,
                      vocab_file: str, long_text: Optional[dict] = None) -> str:
    """Writes the classifier SavedModel:

    - `serving_default(text: string[None])` → `probabilities` `[batch, classes]` float32 (in
      `labels` order), `classes` `[batch, classes]` string (the class name of each column),
      `label` (the most probable class name), `score` (its probability), `windows` int64
      (windows read) and `truncated` bool (some of the text was not read); a model of text
      pairs (a `text_pair` raw feature) takes `text` and `text_pair`; a WindowedClassifier
      (`long_text={"long_text": "windows", ...}`, text_classifier_trainer.long_text_info)
      reads every window of a text, up to its max_windows;
    - `predict_examples(examples)`: the same from serialized raw tf.Examples (TFMA);
    - `transform_features(examples)`: the Transform output (TFMA's preprocessing function);
    - `classify_ids(token_ids, segment_ids)`: `probabilities` from wordpiece ids;
    plus TF Serving warmup requests and `assets.extra/lmpipe/` (write_model_info).
    """
    tft_layer = tf_transform_output.transform_features_layer()
    pairs = features.TEXT_PAIR in tf_transform_output.raw_feature_spec()
    windows = (long_text or {}).get("long_text") == "windows"
    serving_default, predict_examples = _classify_fn(model, tft_layer, labels, seq_length, pairs,
                                                     windows)
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.track(tft_layer)
    archive.add_endpoint(features.SERVING_SIGNATURE, serving_default)
    archive.add_endpoint(features.PREDICT_EXAMPLES_SIGNATURE, predict_examples)
    archive.add_endpoint(features.TRANSFORM_SIGNATURE,
                         transform_features_fn(tft_layer, tf_transform_output))
    archive.add_endpoint(CLASSIFY_IDS_SIGNATURE, _classify_ids_fn(model))
    archive.write_out(export_dir)
    write_warmup_requests(export_dir, model_name, WARMUP_TEXTS, pairs)
    write_model_info(export_dir, vocab_file, labels, seq_length, pairs, long_text)
    return export_dir
