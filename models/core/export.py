"""SavedModel export helpers every family's export uses (`keras.export.ExportArchive`, in the
layout TF Serving loads): the Transform signature, padding trimmed per batch, TF Serving warmup
requests, and lmpipe's model information in `assets.extra/lmpipe/`.

`tf.saved_model.save` on a Keras 3 model does not load in a TF1 session, which is how TF
Serving and tfx-bsl (TFMA) load models; ExportArchive does. Each family's signatures live in
its folder: models/masked_lm/export.py (fill-mask), models/text_classification/export.py,
models/token_classification/export.py, models/causal_lm/export.py (generation).
"""

import dataclasses
import json
import os
from typing import List, Optional, Sequence

import tensorflow as tf

from models.core import features
from models.tokenizers.wordpiece import copy_vocabulary


def transform_features_fn(tft_layer, tf_transform_output):
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
    long_text: str = "first"  # models/text_classification/settings.py LONG_TEXTS

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
                          pairs: bool = False, named_inputs: Optional[dict] = None) -> str:
    """TF Serving warmup: `assets.extra/tf_serving_warmup_requests`, PredictionLogs that
    TF Serving replays at load time so the first real request is not slow (a pair model gets
    `texts` as both of its inputs; `named_inputs`, {input name: strings}, replaces `texts` for a
    model with other inputs, such as question answering's `question` and `context`)."""
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    if named_inputs is None:
        named_inputs = {name: list(texts) for name in
                        ([features.TEXT, features.TEXT_PAIR] if pairs else [features.TEXT])}
    path = os.path.join(export_dir, "assets.extra", "tf_serving_warmup_requests")
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.TFRecordWriter(path) as writer:
        for size in (1, None):
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(name=model_name,
                                               signature_name=features.SERVING_SIGNATURE))
            for name, values in named_inputs.items():
                request.inputs[name].CopyFrom(tf.make_tensor_proto(list(values)[:size],
                                                                   dtype=tf.string))
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())
    return path
