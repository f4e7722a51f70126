"""The text classifier's readers: Transform's examples (one window, or every window of a long
text) with their labels and, when distilling, the teacher's probabilities; batches grouped by
length (models/core/inputs.py: length_bucketed); the label counts for class weights."""

from typing import List

import tensorflow as tf

from models.core import features
from models.core.inputs import bert_inputs, tfrecord_dataset


def parse_classifier(serialized: tf.Tensor, seq_length: int, teacher_classes: int = 0):
    """Serialized transformed examples to (inputs, class id); with `teacher_classes`, the
    inputs also hold the teacher's probabilities (distillation)."""
    spec = {
        features.TOKEN_IDS: tf.io.FixedLenFeature([seq_length], tf.int64),
        # Absent in examples transformed before text pairs existed: one segment.
        features.SEGMENT_IDS: tf.io.FixedLenFeature([seq_length], tf.int64,
                                                    default_value=[0] * seq_length),
        features.LABEL_ID: tf.io.FixedLenFeature([], tf.int64),
    }
    if teacher_classes:
        spec[features.TEACHER_PROBABILITIES] = tf.io.FixedLenFeature([teacher_classes],
                                                                     tf.float32)
    parsed = tf.io.parse_example(serialized, spec)
    model_inputs = bert_inputs(parsed[features.TOKEN_IDS], segment_ids=parsed[features.SEGMENT_IDS])
    if teacher_classes:
        model_inputs[features.TEACHER_PROBABILITIES] = parsed[features.TEACHER_PROBABILITIES]
    return model_inputs, parsed[features.LABEL_ID]


def parse_windows(serialized: tf.Tensor, seq_length: int, teacher_classes: int = 0):
    """One serialized transformed example of a text read as windows (`window_ids`) to
    (inputs `[windows, seq_length]`, class id); with `teacher_classes`, the teacher's
    probabilities too."""
    spec = {features.WINDOW_IDS: tf.io.VarLenFeature(tf.int64),
            features.LABEL_ID: tf.io.FixedLenFeature([], tf.int64)}
    if teacher_classes:
        spec[features.TEACHER_PROBABILITIES] = tf.io.FixedLenFeature([teacher_classes],
                                                                     tf.float32)
    parsed = tf.io.parse_single_example(serialized, spec)
    windows = tf.reshape(tf.sparse.to_dense(parsed[features.WINDOW_IDS]), [-1, seq_length])
    model_inputs = bert_inputs(windows)
    if teacher_classes:
        model_inputs[features.TEACHER_PROBABILITIES] = parsed[features.TEACHER_PROBABILITIES]
    return model_inputs, parsed[features.LABEL_ID]


def classifier_dataset(file_patterns: List[str], seq_length: int, batch_size: int,
                       teacher_classes: int = 0, bucket_multiple: int = 0,
                       windows: bool = False, **kwargs) -> tf.data.Dataset:
    """Batches of (inputs, class id) from Transform's examples. `bucket_multiple` > 0:
    length-aware batching (`length_bucketed`), each batch `[batch, L]` with L its longest
    member rounded up to a multiple of `bucket_multiple`; 0: every batch `[batch, seq_length]`.
    `windows`: texts read as windows (`window_ids`), each batch `[batch, W, L]` with W the
    most windows of its texts (a text with fewer has all-`[PAD]` windows, which the model
    skips: models/text_classification/model.py WindowedClassifier)."""
    if windows:
        parse = lambda x: parse_windows(x, seq_length, teacher_classes)  # noqa: E731
        return tfrecord_dataset(file_patterns, batch_size, parse, bucket_multiple=bucket_multiple,
                                single_examples=True, **kwargs)
    parse = lambda x: parse_classifier(x, seq_length, teacher_classes)  # noqa: E731
    if bucket_multiple:
        return tfrecord_dataset(file_patterns, batch_size, parse, bucket_multiple=bucket_multiple,
                                **kwargs)
    return tfrecord_dataset(file_patterns, batch_size, parse, **kwargs)


def label_counts(file_patterns: List[str], num_classes: int) -> List[int]:
    """Examples per class id in the given files (one pass; used for class weights)."""
    counts = [0] * num_classes

    def parse(serialized):
        return (), tf.io.parse_example(
            serialized, {features.LABEL_ID: tf.io.FixedLenFeature([], tf.int64)})[features.LABEL_ID]

    ds = tfrecord_dataset(file_patterns, 1024, parse, shuffle=False, repeat=False)
    for _, labels in ds:
        for label, count in zip(*[t.numpy() for t in tf.unique_with_counts(labels)[::2]]):
            if 0 <= label < num_classes:
                counts[int(label)] += int(count)
    return counts
