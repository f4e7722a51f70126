"""The masked LM's readers: MlmMasker's fixed masked examples, and dynamic masking (a new
masking of Transform's windows every time one is read, with BERT's 80/10/10 rule in TensorFlow
ops), both on the shared reader of models/core/inputs.py."""

from typing import List

import tensorflow as tf

from models.core import features
from models.core.inputs import bert_inputs, tfrecord_dataset, uniform_shuffle


def masked_lm_spec(seq_length: int, max_predictions: int) -> dict:
    return {
        features.TOKEN_IDS: tf.io.FixedLenFeature([seq_length], tf.int64),
        features.PADDING_MASK: tf.io.FixedLenFeature([seq_length], tf.int64),
        features.MASK_POSITIONS: tf.io.FixedLenFeature([max_predictions], tf.int64),
        features.MASK_IDS: tf.io.FixedLenFeature([max_predictions], tf.int64),
        features.MASK_WEIGHTS: tf.io.FixedLenFeature([max_predictions], tf.float32),
    }


def parse_masked_lm(serialized: tf.Tensor, seq_length: int, max_predictions: int):
    """Serialized masked examples to (inputs, original ids, per-position weights)."""
    parsed = tf.io.parse_example(serialized, masked_lm_spec(seq_length, max_predictions))
    inputs = bert_inputs(parsed[features.TOKEN_IDS], parsed[features.PADDING_MASK],
                         parsed[features.MASK_POSITIONS])
    return inputs, parsed[features.MASK_IDS], parsed[features.MASK_WEIGHTS]


def masked_lm_dataset(file_patterns: List[str], seq_length: int, max_predictions: int,
                      batch_size: int, **kwargs) -> tf.data.Dataset:
    return tfrecord_dataset(file_patterns, batch_size,
                            lambda x: parse_masked_lm(x, seq_length, max_predictions), **kwargs)


def mask_batch(token_ids: tf.Tensor, seed: tf.Tensor, max_predictions: int, mask_rate: float,
               special, vocab_size: int):
    """BERT's masking of `[batch, seq_length]` windows in TensorFlow ops (the same rules as the
    static masker, components/mlm_masker/masking.py): per window, min(max_predictions,
    max(1, round(candidates x mask_rate))) non-special positions chosen uniformly; 80% of them
    [MASK], 10% a random non-special id, 10% unchanged. `seed`: a stateless seed `[2]`, so a
    batch's masking is reproducible and differs from batch to batch. `special`: the
    vocabulary's SpecialIds (models/tokenizers/wordpiece.py).

    Returns (BERT inputs with `mask_positions`, original ids, weights), as `parse_masked_lm`.
    """
    token_ids = tf.cast(token_ids, tf.int64)
    special_ids = sorted(special.ids)
    candidate = tf.reduce_all(
        tf.not_equal(token_ids[:, :, None], tf.constant(special_ids, tf.int64)), axis=-1)
    count = tf.reduce_sum(tf.cast(candidate, tf.int32), axis=1)
    # Python's round (half to even), as the static masker.
    wanted = tf.cast(tf.round(tf.cast(count, tf.float64) * mask_rate), tf.int32)
    wanted = tf.minimum(tf.minimum(tf.maximum(wanted, 1), max_predictions), count)
    seeds = tf.random.experimental.stateless_split(seed, 4)
    scores = tf.where(candidate, tf.random.stateless_uniform(tf.shape(token_ids), seeds[0]), -1.0)
    _, positions = tf.math.top_k(scores, k=max_predictions)
    valid = tf.range(max_predictions)[None, :] < wanted[:, None]
    positions = tf.sort(tf.where(valid, positions, tf.int32.max), axis=1)
    valid = positions < tf.int32.max
    positions = tf.where(valid, positions, 0)
    originals = tf.where(valid, tf.gather(token_ids, positions, batch_dims=1), 0)
    action = tf.random.stateless_uniform(tf.shape(positions), seeds[1])
    random_ids = tf.random.stateless_uniform(tf.shape(positions), seeds[2], 0,
                                             vocab_size - len(special_ids), dtype=tf.int64)
    for skipped in special_ids:  # uniform over the ids that are not special
        random_ids += tf.cast(random_ids >= skipped, tf.int64)
    mask_id = tf.constant(special.mask, tf.int64)
    replaced = tf.where(action < 0.8, mask_id, tf.where(action < 0.9, random_ids, originals))
    batch_index = tf.broadcast_to(tf.range(tf.shape(positions)[0])[:, None], tf.shape(positions))
    where = tf.boolean_mask(tf.stack([batch_index, positions], axis=-1), valid)
    masked = tf.tensor_scatter_nd_update(token_ids, where, tf.boolean_mask(replaced, valid))
    inputs = bert_inputs(masked, tf.not_equal(token_ids, features.PAD_ID), positions)
    return inputs, originals, tf.cast(valid, tf.float32)


def dynamic_masked_lm_dataset(file_patterns: List[str], seq_length: int, max_predictions: int,
                              mask_rate: float, special, vocab_size: int, batch_size: int,
                              shuffle: bool = True, repeat: bool = True,
                              seed: int = 42) -> tf.data.Dataset:
    """Transform's examples (each document's `packed_ids`, whole windows) → batches of single
    windows masked by `mask_batch` each time they are drawn, as RoBERTa and Hugging Face's
    collator do: every pass over the data sees new maskings."""
    def windows(serialized):
        parsed = tf.io.parse_example(serialized, {
            features.PACKED_IDS: tf.io.VarLenFeature(tf.int64)})
        # The documents' ids one after the other: each is whole windows.
        return tf.reshape(parsed[features.PACKED_IDS].values, [-1, seq_length])

    files = tf.data.Dataset.list_files(file_patterns, shuffle=shuffle, seed=seed)
    ds = tf.data.TFRecordDataset(files, compression_type="GZIP",
                                 num_parallel_reads=tf.data.AUTOTUNE)
    ds = ds.batch(64).map(windows).unbatch()  # a document's windows become separate rows
    if shuffle:
        ds = uniform_shuffle(ds, seed)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(batch_size, drop_remainder=repeat).enumerate()
    ds = ds.map(lambda step, ids: mask_batch(ids, tf.stack([tf.cast(seed, tf.int64), step]),
                                              max_predictions, mask_rate, special, vocab_size),
                num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)
