"""SavedModel export with `keras.export.ExportArchive`, in the layout TF Serving loads.

Signatures of a pretrained (fill-mask) model:

- `serving_default(text: string[None])`: raw sentences containing `[MASK]`; for each `[MASK]`
  (up to the sequence length) the top-k wordpieces `tokens` `[batch, masks, k]`, their
  probabilities `scores` and `mask_count` `[batch]`. Rows with fewer masks are padded with ""/0.
- `transform_features(examples: string[None])`: serialized raw tf.Examples to the Transform
  output (the tokenization the model was trained on).
- `mlm_eval(examples: string[None])`: serialized masked examples (MlmMasker output) to
  per-example `masked_correct`, `masked_count` and `masked_nll` (summed over masked positions);
  TFMA's custom metrics in models/core/lm_metrics.py add them up.

`tf.saved_model.save` on a Keras 3 model does not load in a TF1 session, which is how TF
Serving and tfx-bsl (TFMA) load models; ExportArchive does.
"""

import dataclasses
import json
import os
from typing import List, Optional, Sequence

import keras
import tensorflow as tf

from models.core import features, inputs
from models.tokenizers.wordpiece import SpecialIds, copy_vocabulary

CLASSIFY_IDS_SIGNATURE = "classify_ids"

def _fill_mask_fn(model, tft_layer, vocab: Sequence[str], seq_length: int, top_k: int):
    vocab_table = tf.constant(list(vocab))
    special = SpecialIds.of(vocab)
    # Never suggest [PAD], [CLS], ... as a fill.
    reserved = tf.one_hot(special.ids, len(vocab))
    reserved_penalty = -1e9 * tf.reduce_sum(reserved, axis=0)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def fill_mask(text):
        transformed = tft_layer({features.TEXT: tf.reshape(text, [-1, 1])})
        # Every row holds at least one window; keep the first (longer text is truncated).
        token_ids = tf.sparse.to_dense(transformed[features.PACKED_IDS])[:, :seq_length]
        token_ids = tf.cast(token_ids, tf.int32)
        is_mask = tf.equal(token_ids, special.mask)
        mask_count = tf.reduce_sum(tf.cast(is_mask, tf.int32), axis=1)
        all_positions = tf.broadcast_to(tf.range(seq_length), tf.shape(token_ids))
        positions = tf.ragged.boolean_mask(all_positions, is_mask).to_tensor(0)
        # At least one column, so a batch without any [MASK] still has a valid shape.
        positions = tf.pad(positions, [[0, 0], [0, tf.maximum(1 - tf.shape(positions)[1], 0)]])
        logits = model(inputs.bert_inputs(token_ids, mask_positions=positions), training=False)
        probs = tf.nn.softmax(tf.cast(logits, tf.float32) + reserved_penalty)
        scores, ids = tf.math.top_k(probs, k=top_k)
        valid = tf.sequence_mask(mask_count, tf.shape(positions)[1])[:, :, tf.newaxis]
        return {
            "tokens": tf.where(valid, tf.gather(vocab_table, ids), ""),
            "scores": tf.where(valid, scores, 0.0),
            "mask_count": mask_count,
        }

    return fill_mask


def _transform_features_fn(tft_layer, tf_transform_output):
    # A distilled model's training examples also held the teacher's probabilities; the
    # examples it is evaluated and served on do not.
    raw_spec = {name: spec for name, spec in tf_transform_output.raw_feature_spec().items()
                if name != features.TEACHER_PROBABILITIES}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def transform_features(examples):
        raw = tf.io.parse_example(examples, raw_spec)
        transformed = tft_layer(raw)
        return {name: tf.sparse.to_dense(value) if isinstance(value, tf.SparseTensor) else value
                for name, value in transformed.items()}

    return transform_features


def _mlm_eval_fn(model, seq_length: int, max_predictions: int):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def mlm_eval(examples):
        model_inputs, labels, weights = inputs.parse_masked_lm(examples, seq_length,
                                                               max_predictions)
        logits = tf.cast(model(model_inputs, training=False), tf.float32)
        nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        correct = tf.cast(tf.equal(tf.argmax(logits, axis=-1), labels), tf.float32)
        return {
            "masked_correct": tf.reduce_sum(correct * weights, axis=1),
            "masked_count": tf.reduce_sum(weights, axis=1),
            "masked_nll": tf.reduce_sum(nll * weights, axis=1),
        }

    return mlm_eval


def export_masked_lm(model: keras.Model, tf_transform_output, export_dir: str,
                     vocab: Sequence[str], seq_length: int, max_predictions: int,
                     top_k: int = 5, model_name: str = "mlm") -> str:
    """Writes the fill-mask SavedModel (signatures above) to `export_dir`, with TF Serving
    warmup requests."""
    tft_layer = tf_transform_output.transform_features_layer()
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.track(tft_layer)
    archive.add_endpoint(features.SERVING_SIGNATURE,
                         _fill_mask_fn(model, tft_layer, vocab, seq_length, top_k))
    archive.add_endpoint(features.TRANSFORM_SIGNATURE,
                         _transform_features_fn(tft_layer, tf_transform_output))
    archive.add_endpoint(features.EVAL_SIGNATURE, _mlm_eval_fn(model, seq_length, max_predictions))
    archive.write_out(export_dir)
    write_warmup_requests(export_dir, model_name, MLM_WARMUP_TEXTS)
    return export_dir


MLM_WARMUP_TEXTS = ("The [MASK] of the city said.", "No mask here.", "")


def trim_padding(token_ids: tf.Tensor, *same_shape: tf.Tensor):
    """Cuts `[batch, seq_length]` ids (and `same_shape` tensors alike, e.g. segment ids) to
    the batch's longest real (non-`[PAD]`) sequence; one tensor in, one out.

    Attention and mean pooling ignore padding, so the answers do not change, but a short
    review no longer pays for `seq_length` positions (bench/profile_inference.py). The length
    is rounded up to a multiple of 16 so that the kernels see a few shapes, not one per length
    (oneDNN prepares its kernels per shape; exact lengths measured slower here)."""
    real = tf.reduce_sum(tf.cast(tf.not_equal(token_ids, features.PAD_ID), tf.int32), axis=1)
    longest = tf.maximum(tf.reduce_max(real), 1)  # an empty batch reduces to INT_MIN
    longest = (longest + 15) // 16 * 16
    if not same_shape:
        return token_ids[:, :longest]
    return tuple(t[:, :longest] for t in (token_ids, *same_shape))


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


def write_model_info(export_dir: str, vocab_file: str, labels: Sequence[str], seq_length: int,
                     pairs: bool, long_text: Optional[dict] = None) -> str:
    """`assets.extra/lmpipe/`: the vocabulary and its tokenizer settings, and `model.json`
    (classes, sequence length, how a long text is read: `long_text` and, for "windows",
    `window_stride`, `max_windows`, `window_pooling`), for tools that rebuild the model's
    input (TF Serving ignores `assets.extra` beyond its warmup file)."""
    directory = os.path.join(export_dir, "assets.extra", MODEL_INFO_DIR)
    copy_vocabulary(vocab_file, directory)
    with tf.io.gfile.GFile(os.path.join(directory, MODEL_INFO_FILE), "w") as f:
        json.dump({"labels": list(labels), "seq_length": seq_length, "text_pairs": pairs,
                   **(long_text or {"long_text": "first"})}, f, indent=2)
    return directory


MODEL_INFO_DIR, MODEL_INFO_FILE = "lmpipe", "model.json"


class ModelInfoError(ValueError):
    """A SavedModel without lmpipe's model information; the message says what to do."""


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What a classifier SavedModel needs beside its graph to be rebuilt around another
    tokenizer (written by models/core/export.py into `assets.extra/lmpipe/`)."""

    labels: List[str]
    seq_length: int
    text_pairs: bool
    vocab_file: str
    long_text: str = "first"  # models/core/settings.py LONG_TEXTS

    @classmethod
    def read(cls, saved_model_dir: str) -> "ModelInfo":
        directory = os.path.join(saved_model_dir, "assets.extra", MODEL_INFO_DIR)
        path = os.path.join(directory, MODEL_INFO_FILE)
        if not tf.io.gfile.exists(path):
            raise ModelInfoError(
                f"{saved_model_dir} has no assets.extra/{MODEL_INFO_DIR}/{MODEL_INFO_FILE}: it "
                "is not an lmpipe classifier, or lmpipe exported it before it wrote one. "
                "Fine-tune it again with a new --run-dir (in the old one the Trainer's cached "
                "result would be reused).")
        with tf.io.gfile.GFile(path) as f:
            info = json.load(f)
        return cls(list(info["labels"]), int(info["seq_length"]), bool(info["text_pairs"]),
                   os.path.join(directory, features.VOCAB_FILE),
                   info.get("long_text", "first"))


def write_warmup_requests(export_dir: str, model_name: str, texts: Sequence[str],
                          pairs: bool = False) -> str:
    """TF Serving warmup: `assets.extra/tf_serving_warmup_requests`, PredictionLogs that
    TF Serving replays at load time so the first real request is not slow (a pair model gets
    `texts` as both of its inputs)."""
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    path = os.path.join(export_dir, "assets.extra", "tf_serving_warmup_requests")
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.TFRecordWriter(path) as writer:
        for batch in ([texts[0]], list(texts)):
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(name=model_name,
                                               signature_name=features.SERVING_SIGNATURE))
            for name in ([features.TEXT, features.TEXT_PAIR] if pairs else [features.TEXT]):
                request.inputs[name].CopyFrom(tf.make_tensor_proto(batch, dtype=tf.string))
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())
    return path


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
                         _transform_features_fn(tft_layer, tf_transform_output))
    archive.add_endpoint(CLASSIFY_IDS_SIGNATURE, _classify_ids_fn(model))
    archive.write_out(export_dir)
    write_warmup_requests(export_dir, model_name, WARMUP_TEXTS, pairs)
    write_model_info(export_dir, vocab_file, labels, seq_length, pairs, long_text)
    return export_dir
