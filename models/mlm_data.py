"""`tf.data` input for masked-LM training: MlmMasker's TFRecords to (inputs, labels, weights)."""

from typing import List

import tensorflow as tf

from models import features


def feature_spec(seq_length: int, max_predictions: int) -> dict:
    return {
        features.TOKEN_IDS: tf.io.FixedLenFeature([seq_length], tf.int64),
        features.PADDING_MASK: tf.io.FixedLenFeature([seq_length], tf.int64),
        features.MASK_POSITIONS: tf.io.FixedLenFeature([max_predictions], tf.int64),
        features.MASK_IDS: tf.io.FixedLenFeature([max_predictions], tf.int64),
        features.MASK_WEIGHTS: tf.io.FixedLenFeature([max_predictions], tf.float32),
    }


def to_model_inputs(parsed: dict):
    """Parsed masked examples to the BertMaskedLM input dict, labels and per-position weights."""
    token_ids = tf.cast(parsed[features.TOKEN_IDS], tf.int32)
    inputs = {
        "token_ids": token_ids,
        "segment_ids": tf.zeros_like(token_ids),
        "padding_mask": tf.cast(parsed[features.PADDING_MASK], tf.int32),
        "mask_positions": tf.cast(parsed[features.MASK_POSITIONS], tf.int32),
    }
    return inputs, parsed[features.MASK_IDS], parsed[features.MASK_WEIGHTS]


def shard_by_data(ds: tf.data.Dataset) -> tf.data.Dataset:
    """Multi-worker: every worker reads the same seeded stream and keeps its share of the
    batches (sharding by file would need at least one file per worker)."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)


def masked_lm_dataset(file_patterns: List[str], seq_length: int, max_predictions: int,
                      batch_size: int, shuffle: bool = True, repeat: bool = True,
                      seed: int = 42) -> tf.data.Dataset:
    files = tf.data.Dataset.list_files(file_patterns, shuffle=shuffle, seed=seed)
    ds = tf.data.TFRecordDataset(files, compression_type="GZIP",
                                 num_parallel_reads=tf.data.AUTOTUNE)
    if shuffle:
        ds = ds.shuffle(10_000, seed=seed)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(batch_size, drop_remainder=True)
    spec = feature_spec(seq_length, max_predictions)
    ds = ds.map(lambda x: to_model_inputs(tf.io.parse_example(x, spec)),
                num_parallel_calls=tf.data.AUTOTUNE)
    return shard_by_data(ds.prefetch(tf.data.AUTOTUNE))
