"""The text classifier's Transform `preprocessing_fn`: `[CLS] text [SEP]` (or a text pair,
`[CLS] a [SEP] b [SEP]`, cut longest-first as Hugging Face's tokenizers do), a long text read
first, head and tail (Sun et al. 2019, section 5.3.1) or as windows; the label's id; and the
counts the run's summary gives (text length in pieces, windows, truncated)."""

import tensorflow as tf

from models.core import features
from models.text_classification.settings import head_length
from models.tokenizers import wordpiece as tokenization

# Text-length buckets (in wordpieces) that evaluation is sliced by.
LENGTH_BOUNDARIES = (16, 32, 64)


class ClassifierPreprocessing(tf.Module):
    """What `classifier_preprocessing_fn` computes from raw text (no label), for a classifier
    that had no Transform run (a fine-tuned checkpoint imported as it is): it answers the two
    calls the classifier exporter makes of a `tft.TFTransformOutput`. `pairs`: the model reads
    `text` and `text_pair`."""

    def __init__(self, tokenizer: tokenization.Tokenizer, seq_length: int, pairs: bool = False):
        super().__init__(name="classifier_preprocessing")
        self.tokenizer = tokenizer
        self.seq_length = seq_length
        self.pairs = pairs

    def __call__(self, inputs):
        config = {"seq_length": self.seq_length, "tokenizer": self.tokenizer}
        return _classifier_features(inputs, config)

    def transform_features_layer(self):
        return self

    def raw_feature_spec(self):
        names = [features.TEXT, features.TEXT_PAIR] if self.pairs else [features.TEXT]
        return {name: tf.io.FixedLenFeature([], tf.string) for name in names}


def classifier_preprocessing_fn(inputs, custom_config):
    """`[CLS] text [SEP]` (or, with a `text_pair` feature, `[CLS] text [SEP] text_pair [SEP]`)
    padded/truncated to `seq_length`, its segment ids, the class index, a length bucket.

    `custom_config`: `vocab_file` (the pretraining run's vocabulary, set by Tokenize),
    `seq_length`, `labels` (class names; index = class id) and how a text longer than one
    window is read, `long_text` (models/core/settings.py LONG_TEXTS; default "first"), with
    `window_stride` and `max_windows` for "windows" (then `window_ids`, all windows read,
    replace `token_ids`/`segment_ids`). Every text also gets `text_length` (pieces),
    `windows` (read) and `truncated` (0/1: some of it was not read). A label outside `labels` maps
    to -1 (ExampleValidator stops such data before it gets here; the unlabelled texts of
    distillation have an empty label). A `teacher_probabilities` feature passes through.
    """
    return _classifier_features(inputs, custom_config)


def _classifier_features(inputs, custom_config):
    tokenizer = (custom_config.get("tokenizer")
                 or tokenization.load_tokenizer(custom_config["vocab_file"]))
    seq_length = int(custom_config["seq_length"])
    long_text = custom_config.get("long_text", "first")
    body = seq_length - 2
    ids = tokenizer.tokenize(tf.reshape(inputs[features.TEXT], [-1]))
    length = ids.row_lengths()  # pieces of the text (a pair: of both texts, below)
    outputs = {}
    if features.TEXT_PAIR in inputs:
        pair_ids = tokenizer.tokenize(tf.reshape(inputs[features.TEXT_PAIR], [-1]))
        token_ids, segment_ids = tokenization.frame_pair(ids, pair_ids, seq_length,
                                                         tokenizer.special)
        length = length + pair_ids.row_lengths()
        truncated = length > seq_length - 3
        windows = tf.ones_like(length)
    elif long_text == "windows":
        stride, max_windows = int(custom_config["window_stride"]), int(custom_config["max_windows"])
        starts, window_lengths, _ = tokenization.window_plan(ids.row_lengths(), body, stride)
        starts, window_lengths = starts[:, :max_windows], window_lengths[:, :max_windows]
        outputs[features.WINDOW_IDS] = tokenization.frame(
            ids, starts, window_lengths, seq_length, tokenizer.special.cls,
            tokenizer.special.sep, tokenizer.special.pad).to_sparse()
        windows = starts.row_lengths()
        # The last window read ends before the text does.
        truncated = (tf.gather(starts, windows - 1, batch_dims=1)
                     + tf.gather(window_lengths, windows - 1, batch_dims=1)) < length
    else:
        if long_text == "head-tail":
            ids = head_and_tail(ids, body)
        first_window = tokenization.frame_windows(ids, seq_length, tokenizer.special)
        token_ids = first_window[:, :seq_length].to_tensor(shape=[None, seq_length])
        segment_ids = tf.zeros_like(token_ids)
        truncated = length > body
        windows = tf.ones_like(length)
    if features.WINDOW_IDS not in outputs:
        outputs.update({features.TOKEN_IDS: token_ids, features.SEGMENT_IDS: segment_ids})
    outputs.update({
        features.LENGTH_BUCKET: tf.searchsorted(
            tf.constant(LENGTH_BOUNDARIES, tf.int64), length, side="right", out_type=tf.int64),
        features.TEXT_LENGTH: length,
        features.WINDOWS: windows,
        features.TRUNCATED: tf.cast(truncated, tf.int64),
    })
    if features.LABEL in inputs:  # absent at serving time
        labels = list(custom_config["labels"])
        table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(labels, tf.range(len(labels), dtype=tf.int64)),
            default_value=-1)
        outputs[features.LABEL_ID] = table.lookup(tf.reshape(inputs[features.LABEL], [-1]))
    if features.TEACHER_PROBABILITIES in inputs:  # distillation: passed through to the Trainer
        outputs[features.TEACHER_PROBABILITIES] = inputs[features.TEACHER_PROBABILITIES]
    return outputs


def head_and_tail(ids: tf.RaggedTensor, body: int) -> tf.RaggedTensor:
    """Each row of more than `body` pieces cut to its first round(body * HEAD_FRACTION) and
    its last pieces, `body` in all (Sun et al. 2019, "How to Fine-Tune BERT for Text
    Classification?", section 5.3.1: head 128 + tail 382 of BERT's 510); shorter rows as
    they are. `[batch, (pieces)]` int64 in and out.

    >>> head_and_tail(tf.ragged.constant([[1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2]], tf.int64),
    ...               body=4).to_list()
    [[1, 7, 8, 9], [1, 2]]
    """
    head = head_length(body)
    positions = tf.ragged.range(ids.row_lengths())
    keep = (positions < head) | (positions >= tf.expand_dims(ids.row_lengths(), 1) - (body - head))
    return tf.ragged.boolean_mask(ids, keep)
