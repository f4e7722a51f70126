"""The masked LM's SavedModel (keras.export.ExportArchive, TF Serving's layout). Signatures:

- `serving_default(text: string[None])`: raw sentences containing `[MASK]`; for each `[MASK]`
  (up to the sequence length) the top-k wordpieces `tokens` `[batch, masks, k]`, their
  probabilities `scores` and `mask_count` `[batch]`. Rows with fewer masks are padded with ""/0.
- `transform_features(examples: string[None])`: serialized raw tf.Examples to the Transform
  output (the tokenization the model was trained on).
- `mlm_eval(examples: string[None])`: serialized masked examples (MlmMasker output) to
  per-example `masked_correct`, `masked_count` and `masked_nll` (summed over masked positions);
  TFMA's custom metrics in models/core/lm_metrics.py add them up.
"""

from typing import Sequence

import keras
import tensorflow as tf

from models.core import features, inputs
from models.masked_lm.inputs import parse_masked_lm
from models.core.export import transform_features_fn, write_warmup_requests
from models.tokenizers.wordpiece import SpecialIds


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


def _mlm_eval_fn(model, seq_length: int, max_predictions: int):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def mlm_eval(examples):
        model_inputs, labels, weights = parse_masked_lm(examples, seq_length,
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
                         transform_features_fn(tft_layer, tf_transform_output))
    archive.add_endpoint(features.EVAL_SIGNATURE, _mlm_eval_fn(model, seq_length, max_predictions))
    archive.write_out(export_dir)
    write_warmup_requests(export_dir, model_name, MLM_WARMUP_TEXTS)
    return export_dir


MLM_WARMUP_TEXTS = ("The [MASK] of the city said.", "No mask here.", "")
