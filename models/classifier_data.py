"""`tf.data` input for fine-tuning: Transform's output to (BERT inputs, class id)."""

from typing import List

import tensorflow as tf

from models import features
from models.mlm_data import shard_by_data


def feature_spec(seq_length: int) -> dict:
    return {
        features.TOKEN_IDS: tf.io.FixedLenFeature([seq_length], tf.int64),
        features.LABEL_ID: tf.io.FixedLenFeature([], tf.int64),
    }


def to_model_inputs(token_ids: tf.Tensor) -> dict:
    """Token ids `[batch, seq_length]` to the BertBackbone input dict."""
    token_ids = tf.cast(token_ids, tf.int32)
    return {
        "token_ids": token_ids,
        "segment_ids": tf.zeros_like(token_ids),
        "padding_mask": tf.cast(tf.not_equal(token_ids, features.PAD_ID), tf.int32),
    }


def classifier_dataset(file_patterns: List[str], seq_length: int, batch_size: int,
                       shuffle: bool = True, repeat: bool = True, seed: int = 42) -> tf.data.Dataset:
    files = tf.data.Dataset.list_files(file_patterns, shuffle=shuffle, seed=seed)
    ds = tf.data.TFRecordDataset(files, compression_type="GZIP")
    if shuffle:
        ds = ds.shuffle(10_000, seed=seed)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(batch_size, drop_remainder=repeat)
    spec = feature_spec(seq_length)

    def parse(serialized):
        parsed = tf.io.parse_example(serialized, spec)
        return to_model_inputs(parsed[features.TOKEN_IDS]), parsed[features.LABEL_ID]

    return shard_by_data(ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE))


def label_counts(file_patterns: List[str], seq_length: int, num_classes: int) -> List[int]:
    """Examples per class id in the given files (one pass; used for class weights)."""
    counts = [0] * num_classes
    ds = classifier_dataset(file_patterns, seq_length, 1024, shuffle=False, repeat=False)
    for _, labels in ds:
        for label, count in zip(*[t.numpy() for t in tf.unique_with_counts(labels)[::2]]):
            if 0 <= label < num_classes:
                counts[int(label)] += int(count)
    return counts
