"""Model inputs every family shares: the one BERT-inputs builder, the one `tf.data` reader of
TFRecords (a shuffle that spans the whole training split), and length-aware batching.
Each family's parsing of its examples is in its folder (models/<family>/inputs.py, or its
model module).

Example:

>>> import tensorflow as tf
>>> inputs = bert_inputs(tf.constant([[2, 7, 3, 0]]))
>>> sorted(inputs), inputs["padding_mask"].numpy().tolist()
(['padding_mask', 'segment_ids', 'token_ids'], [[1, 1, 1, 0]])
"""

from typing import Callable, List, Optional

import tensorflow as tf
from absl import logging

from models.core import features

# What a training stream's shuffle buffer may hold (the elements as they enter it: serialized
# records, or windows of ids).
SHUFFLE_BUFFER_BYTES = 512 << 20


def bert_inputs(token_ids: tf.Tensor, padding_mask: Optional[tf.Tensor] = None,
                mask_positions: Optional[tf.Tensor] = None,
                segment_ids: Optional[tf.Tensor] = None) -> dict:
    """Token ids `[batch, seq_length]` to the BertBackbone input dict; the padding mask is
    every non-`[PAD]` position unless given, the segment ids 0 (one text) unless given;
    `mask_positions` is added for the masked-LM head."""
    token_ids = tf.cast(token_ids, tf.int32)
    if padding_mask is None:
        padding_mask = tf.not_equal(token_ids, features.PAD_ID)
    inputs = {
        "token_ids": token_ids,
        "segment_ids": (tf.zeros_like(token_ids) if segment_ids is None
                        else tf.cast(segment_ids, tf.int32)),
        "padding_mask": tf.cast(padding_mask, tf.int32),
    }
    if mask_positions is not None:
        inputs["mask_positions"] = tf.cast(mask_positions, tf.int32)
    return inputs


SEQUENCE_INPUTS = ("token_ids", "segment_ids", "padding_mask")


def example_length(model_inputs: dict) -> tf.Tensor:
    """Positions up to and including each example's last non-padding one, `[batch]` int32
    (a `[PAD]` typed inside a text is not the end of it); for windows `[batch, windows]`."""
    mask = tf.cast(model_inputs["padding_mask"], tf.int32)
    positions = tf.range(1, tf.shape(mask)[-1] + 1)
    return tf.reduce_max(mask * positions, axis=-1)


def trim_batch(model_inputs: dict, multiple: int) -> dict:
    """A batch's sequence inputs cut to its longest member rounded up to `multiple`
    (at most their length): `[batch, seq_length]` → `[batch, L]`. Other inputs (a teacher's
    probabilities) are kept as they are. Only padding is cut, so the model's outputs are the
    same as on the whole rows (padding is masked out of attention and pooling)."""
    longest = tf.reduce_max(example_length(model_inputs))
    full = tf.shape(model_inputs["token_ids"])[-1]
    length = tf.minimum(-(-longest // multiple) * multiple, full)
    return {k: (v[..., :length] if k in SEQUENCE_INPUTS else v) for k, v in model_inputs.items()}


def length_bucketed(examples: tf.data.Dataset, batch_size: int, multiple: int,
                    drop_remainder: bool, per_position_labels: bool = False,
                    windows: bool = False) -> tf.data.Dataset:
    """Single parsed examples `(inputs, label)` → batches of examples of similar length, each
    trimmed to its longest rounded up to `multiple` (`trim_batch`), as Hugging Face's
    `group_by_length` with `DataCollatorWithPadding(pad_to_multiple_of=...)` does: an example
    goes to the bucket of its length rounded up to `multiple`, and a bucket makes a batch when
    it holds `batch_size` of them, so at most seq_length / multiple shapes are traced. The
    stream's order decides which examples meet (shuffle before). `per_position_labels`: the
    labels are `[seq_length]` per example (token classification) and are cut alike.
    `windows`: each example is `[windows, seq_length]` (a text read as windows); the bucket is
    the number of windows, and for one window its length, and a batch is padded to its most
    windows."""
    def bucket(model_inputs, label):
        if windows:  # all but a text's last window are full: its window count is its length
            count = tf.cast(tf.shape(model_inputs["token_ids"])[0], tf.int64)
            one = tf.cast((tf.reduce_max(example_length(model_inputs)) - 1) // multiple,
                          tf.int64)
            return tf.where(count > 1, 1_000 + count, one)
        return tf.cast((example_length(model_inputs) - 1) // multiple, tf.int64)

    def batches(key, window):
        if windows:
            return window.padded_batch(batch_size, drop_remainder=drop_remainder)
        return window.batch(batch_size, drop_remainder=drop_remainder)

    def trim(model_inputs, labels):
        trimmed = trim_batch(model_inputs, multiple)
        if per_position_labels:
            labels = labels[:, :tf.shape(trimmed["token_ids"])[1]]
        return trimmed, labels

    ds = examples.group_by_window(bucket, batches, window_size=batch_size)
    return ds.map(trim, num_parallel_calls=tf.data.AUTOTUNE)


def _element_bytes(element) -> tf.Tensor:
    """Bytes of one dataset element: string lengths, or tensor sizes x item size."""
    sizes = [tf.cast(tf.reduce_sum(tf.strings.length(t)), tf.int64) if t.dtype == tf.string
             else tf.size(t, tf.int64) * t.dtype.size for t in tf.nest.flatten(element)]
    return tf.add_n(sizes)


def uniform_shuffle(ds: tf.data.Dataset, seed: int,
                    budget_bytes: int = SHUFFLE_BUFFER_BYTES) -> tf.data.Dataset:
    """`ds` reshuffled on every pass, with a buffer that holds all of it when its elements fit
    in `budget_bytes` (one counting pass over the data first): then every order is equally
    likely, as Hugging Face's Trainer draws a fresh permutation each epoch. A smaller buffer
    keeps part of the input's order: the splits Tokenize writes follow the corpus's document
    order (one source after another; the bundled corpus is Brown, then news, then Wikipedia),
    so a 10,000-example buffer over 16,806 causal-LM blocks drew the first steps of every
    epoch from the first sources. Larger data: as many elements as fit in `budget_bytes`,
    said in the log.

    Raises `ValueError` if `ds` is empty (nothing to train on)."""
    count, total = ds.map(lambda *e: (tf.constant(1, tf.int64), _element_bytes(e))).reduce(
        (tf.constant(0, tf.int64), tf.constant(0, tf.int64)),
        lambda acc, e: (acc[0] + e[0], acc[1] + e[1]))
    count, total = int(count), int(total)
    if not count:
        raise ValueError("the training data holds no examples: nothing to shuffle or train on")
    buffer = count if total <= budget_bytes else max(1, budget_bytes * count // total)
    if buffer < count:
        logging.warning("Shuffle buffer: %d of %d examples (%d MiB of %d MiB; "
                        "SHUFFLE_BUFFER_BYTES in models/core/inputs.py): the order within a buffer's "
                        "span of the input is kept in part.", buffer, count, budget_bytes >> 20,
                        total >> 20)
    else:
        logging.info("Shuffle buffer: all %d examples (%.1f MiB).", count, total / 2 ** 20)
    return ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)


def windows_dataset(file_patterns: List[str], windows: Callable, batch_size: int,
                    bucket_multiple: int = 0, shuffle: bool = True, repeat: bool = True,
                    seed: int = 42, per_position_labels: bool = False) -> tf.data.Dataset:
    """GZIP TFRecords of examples that each hold several windows (a sentence to tag, a
    question's context) → batches of single windows: `windows(serialized)` gives one example's
    `(inputs, labels)` windows as a Dataset; they are shuffled over the whole split (when it
    fits: `uniform_shuffle`), repeated, and batched by length (`length_bucketed`, with
    `bucket_multiple` > 0) or at `seq_length`. A repeated stream drops its last short batch."""
    files = tf.data.Dataset.list_files(file_patterns, shuffle=shuffle, seed=seed)
    ds = tf.data.TFRecordDataset(files, compression_type="GZIP").flat_map(windows)
    if shuffle:
        ds = uniform_shuffle(ds, seed)
    if repeat:
        ds = ds.repeat()
    if bucket_multiple:
        ds = length_bucketed(ds, batch_size, bucket_multiple, drop_remainder=repeat,
                             per_position_labels=per_position_labels)
    else:
        ds = ds.batch(batch_size, drop_remainder=repeat)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.prefetch(tf.data.AUTOTUNE).with_options(options)


def tfrecord_dataset(file_patterns: List[str], batch_size: int, parse: Callable,
                     shuffle: bool = True, repeat: bool = True, seed: int = 42,
                     bucket_multiple: int = 0, single_examples: bool = False) -> tf.data.Dataset:
    """GZIP TFRecords (what TFX components write) → shuffled, repeated batches of `parse`d
    examples. A repeated stream drops its last short batch so every step has `batch_size`.
    `bucket_multiple` > 0: batches of similar lengths (`length_bucketed`).
    `single_examples`: `parse` takes one serialized example, not a batch, and gives
    `[windows, seq_length]` inputs (texts read as windows); batches are padded to their most
    windows."""
    files = tf.data.Dataset.list_files(file_patterns, shuffle=shuffle, seed=seed)
    ds = tf.data.TFRecordDataset(files, compression_type="GZIP",
                                 num_parallel_reads=tf.data.AUTOTUNE)
    if shuffle:
        ds = uniform_shuffle(ds, seed)
    if repeat:
        ds = ds.repeat()
    if single_examples:
        ds = ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE)
        if bucket_multiple:
            ds = length_bucketed(ds, batch_size, bucket_multiple, drop_remainder=repeat,
                                 windows=True)
        else:
            ds = ds.padded_batch(batch_size, drop_remainder=repeat)
    elif bucket_multiple:  # parse in blocks, then regroup single examples by length
        ds = ds.batch(256).map(parse, num_parallel_calls=tf.data.AUTOTUNE).unbatch()
        ds = length_bucketed(ds, batch_size, bucket_multiple, drop_remainder=repeat)
    else:
        ds = ds.batch(batch_size, drop_remainder=repeat)
        ds = ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.prefetch(tf.data.AUTOTUNE)
    # Multi-worker: every worker reads the same seeded stream and keeps its share of the
    # batches (sharding by file would need at least one file per worker).
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)
