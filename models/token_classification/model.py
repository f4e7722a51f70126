"""Token classification (named entities): word pieces with first-piece labels, windows, the
per-token head, and words and entity spans back from the model's piece predictions.

Label alignment is Hugging Face's `run_ner.py` default (`label_all_tokens=False`): each word's
label goes on its first word piece; its other pieces, `[CLS]`, `[SEP]` and padding get
`IGNORE` (-100), which the loss and the token accuracy skip. A word is what the data calls a
token (a CoNLL line); the checkpoint's tokenizer may split it further (`U.S.` is `U . S .`),
and all those pieces belong to the word, as with `is_split_into_words=True`.

A sentence longer than one window (`seq_length - 2` pieces) is never cut: it is split into
windows of `seq_length` that overlap by `stride` pieces (Hugging Face's pipeline `stride`),
each `[CLS] ... [SEP] [PAD]...`. Every piece is predicted by exactly one window, the one that
*owns* it: window w (w >= 1) owns the pieces from the middle of its overlap with window w - 1
on, so a piece near a window's edge is predicted where it has context on both sides.

Example: 5 pieces, windows of 4 pieces (seq_length 6) overlapping by 2: starts 0 and 2, and
window 1 owns pieces 3 and 4.

>>> import tensorflow as tf
>>> starts, lengths, owners = window_plan(tf.constant([5], tf.int64), body=4, stride=2)
>>> starts.to_list(), lengths.to_list(), owners.to_list()
([[0, 2]], [[4, 3]], [[0, 3]])
"""

from typing import Sequence, Tuple

import keras
import tensorflow as tf

from models.core import features
from models.core.backbone import encoder_inputs, sequence_output
from models.tokenizers.wordpiece import Tokenizer, frame, window_plan  # noqa: F401  (window_plan: doctest)
from models.tokenizers.words import split_words, word_pieces  # noqa: F401  (export.py reads them here)

IGNORE = -100  # the label of positions without one (Hugging Face's ignore index)
TOKENS, TAGS = features.TOKENS, features.TAGS  # raw examples: the words, their IOB2 tags
LABEL_IDS, WORD_LABEL_IDS = features.LABEL_IDS, features.WORD_LABEL_IDS
OUTSIDE = "O"


def first_piece_labels(pieces: tf.RaggedTensor, word_labels: tf.Tensor) -> tf.RaggedTensor:
    """`[batch, (words), (pieces)]` pieces and the words' class ids (flat, `[words]` int64) to
    `[batch, (pieces)]` labels: the word's class on its first piece, IGNORE on the rest."""
    per_word = pieces.values.row_lengths()
    first = tf.equal(tf.ragged.range(per_word).flat_values, 0)
    labels = tf.where(first, tf.repeat(tf.cast(word_labels, tf.int64), per_word),
                      tf.constant(IGNORE, tf.int64))
    return tf.RaggedTensor.from_row_lengths(labels, pieces.merge_dims(1, 2).row_lengths(),
                                            validate=False)


def tokens_to_pieces(tokenizer: Tokenizer, tokens: tf.RaggedTensor) -> tf.RaggedTensor:
    """Pre-split tokens `[batch, (tokens)]` (a CoNLL line each; the tokenizer may split one
    further, `U.S.` into `U . S .`) to their pieces `[batch, (tokens), (pieces)]`."""
    pieces = tokenizer.tokenize(tokens.flat_values)
    return tf.RaggedTensor.from_row_splits(pieces, tokens.row_splits, validate=False)


# -- Transform --------------------------------------------------------------------------------

def _windows_of(tokenizer: Tokenizer, pieces: tf.RaggedTensor, seq_length: int, stride: int):
    """Pieces `[batch, (words), (pieces)]` to the window plan and the framed token ids."""
    ids = pieces.merge_dims(1, 2)
    starts, lengths, owners = window_plan(ids.row_lengths(), seq_length - 2, stride)
    special = tokenizer.special
    token_ids = frame(ids, starts, lengths, seq_length, special.cls, special.sep, special.pad)
    return ids, (starts, lengths, owners), token_ids


def preprocessing_fn(inputs, custom_config):
    """Transform: `tokens` and `tags` (string lists, IOB2) to windows of word pieces and
    first-piece labels, both `[batch, (windows * seq_length)]` int64 (varlen), and each word's
    class id `word_label_ids` `[batch, (words)]` (evaluation).

    `custom_config`: `vocab_file` (set by Tokenize; its `tokenizer_config.json` beside it),
    `seq_length`, `stride` (window overlap in pieces) and `labels` (the IOB2 class names,
    index = class id). A tag outside `labels` maps to -1 (the run's schema and the pre-flight
    check stop such data before it gets here)."""
    from models.tokenizers.wordpiece import load_tokenizer
    tokenizer = custom_config.get("tokenizer") or load_tokenizer(custom_config["vocab_file"])
    seq_length, stride = int(custom_config["seq_length"]), int(custom_config.get("stride", 0))
    tokens = tf.RaggedTensor.from_sparse(inputs[TOKENS])
    pieces = tokens_to_pieces(tokenizer, tokens)
    _, (starts, lengths, _), token_ids = _windows_of(tokenizer, pieces, seq_length, stride)
    outputs = {features.TOKEN_IDS: token_ids.to_sparse()}
    if TAGS in inputs:
        labels = list(custom_config["labels"])
        table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(labels, tf.range(len(labels), dtype=tf.int64)),
            default_value=-1)
        tags = tf.RaggedTensor.from_sparse(inputs[TAGS])
        word_labels = table.lookup(tags.flat_values)
        piece_labels = first_piece_labels(pieces, word_labels)
        outputs[LABEL_IDS] = frame(piece_labels, starts, lengths, seq_length, IGNORE, IGNORE,
                                   IGNORE).to_sparse()
        outputs[WORD_LABEL_IDS] = tags.with_flat_values(word_labels).to_sparse()
    return outputs


# -- the model ----------------------------------------------------------------------------------

def build_token_classifier(backbone, num_labels: int, dropout: float = 0.1) -> keras.Model:
    """Encoder → dropout → dense logits per position, `[batch, seq, num_labels]` float32: the
    head of Hugging Face's `BertForTokenClassification` (dropout, `classifier` linear)."""
    if num_labels < 2:
        raise ValueError(f"num_labels={num_labels}: a token classifier needs two or more classes")
    inputs = encoder_inputs()
    sequence = sequence_output(backbone, inputs)
    output_dense = keras.layers.Dense(num_labels, name="logits", dtype="float32")
    logits = output_dense(keras.layers.Dropout(dropout, name="head_dropout")(sequence))
    model = keras.Model(inputs, logits, name="token_classifier")
    model.backbone, model.output_dense = backbone, output_dense
    return model


def token_loss() -> keras.losses.Loss:
    """Cross-entropy over the labelled positions (IGNORE skipped), averaged over them, as
    `torch.nn.CrossEntropyLoss(ignore_index=-100)` in Hugging Face's token classifiers."""
    return keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, ignore_class=IGNORE, reduction="mean_with_sample_weight")


@keras.saving.register_keras_serializable(package="lmpipe")
class TokenAccuracy(keras.metrics.Mean):
    """The fraction of labelled positions (label != IGNORE) whose arg-max class is the label."""

    def __init__(self, name="token_accuracy", **kwargs):
        super().__init__(name=name, **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = tf.cast(y_true, tf.int64)
        labelled = tf.not_equal(y_true, IGNORE)
        correct = tf.equal(tf.argmax(y_pred, axis=-1), y_true)
        return super().update_state(tf.cast(tf.boolean_mask(correct, labelled), tf.float32))


@keras.saving.register_keras_serializable(package="lmpipe")
class EntityF1(keras.metrics.Metric):
    """Micro entity F1 over the labelled positions of each window (each word's first piece),
    the entities chunked from the IOB2 classes as seqeval and conlleval chunk them
    (`entity_counts`): the Evaluator's entity F1, on windows rather than sentences, so a
    sentence longer than one window counts the entities of its overlap twice. The eval split's
    value is a search's default objective for named entities (models/core/tuning.py)."""

    def __init__(self, labels: Sequence[str] = (), name="entity_f1", **kwargs):
        super().__init__(name=name, **kwargs)
        self.labels = list(labels)
        self.counts = self.add_variable(shape=(3,), initializer="zeros", name="counts")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = tf.cast(y_true, tf.int64)
        labelled = tf.not_equal(y_true, IGNORE)
        rows = tf.broadcast_to(tf.range(tf.shape(y_true, out_type=tf.int64)[0])[:, None],
                               tf.shape(y_true, out_type=tf.int64))
        counts = entity_counts(tf.boolean_mask(y_true, labelled),
                               tf.boolean_mask(tf.argmax(y_pred, axis=-1), labelled),
                               tf.boolean_mask(rows, labelled), tf.shape(y_true)[0], self.labels)
        self.counts.assign_add(tf.stack([tf.reduce_sum(c) for c in counts]))

    def result(self):
        matched, predicted, gold = tf.unstack(self.counts)
        return tf.math.divide_no_nan(2.0 * matched, predicted + gold)

    def reset_state(self):
        self.counts.assign(tf.zeros_like(self.counts))

    def get_config(self):
        return {**super().get_config(), "labels": self.labels}


# -- from piece predictions back to words and entities --------------------------------------------

def piece_windows(lengths: tf.Tensor, starts: tf.RaggedTensor, owners: tf.RaggedTensor):
    """For every piece of every row (flat, `[pieces]` int64 each): the index of the window that
    owns it among all the batch's windows, and its position in that window (after `[CLS]`)."""
    lengths = tf.cast(lengths, tf.int64)
    pieces = tf.ragged.range(lengths)
    dense_owners = owners.to_tensor(default_value=tf.int64.max)
    local = tf.searchsorted(dense_owners, pieces.to_tensor(default_value=0), side="right",
                            out_type=tf.int64) - 1
    local = tf.RaggedTensor.from_tensor(local, lengths=lengths)
    window = (local + tf.expand_dims(starts.row_starts(), 1)).flat_values
    position = pieces.flat_values - tf.gather(starts.flat_values, window) + 1
    return window, position


def word_probabilities(model, tokenizer: Tokenizer, pieces: tf.RaggedTensor, seq_length: int,
                       stride: int):
    """Pieces `[batch, (words), (pieces)]` to each word's class probabilities, those of its
    first piece (aggregation "first"), flat `[words, classes]` float32, and whether the word
    has any piece (`[words]` bool; a word without pieces has no prediction)."""
    ids, (starts, lengths, owners), token_ids = _windows_of(tokenizer, pieces, seq_length,
                                                            stride)
    windows = tf.reshape(token_ids.flat_values, [-1, seq_length])
    from models.core.inputs import bert_inputs
    # The real positions from the window lengths, not from the ids: a `[PAD]` written in the
    # text is read, as Hugging Face reads it. Cut to the longest window rounded up to 16.
    real = lengths.flat_values + 2
    longest = tf.minimum((tf.reduce_max(tf.concat([real, [1]], 0)) + 15) // 16 * 16, seq_length)
    mask = tf.sequence_mask(real, longest)
    logits = model(bert_inputs(windows[:, :longest], padding_mask=mask), training=False)
    probabilities = tf.nn.softmax(tf.cast(logits, tf.float32))
    window, position = piece_windows(ids.row_lengths(), starts, owners)
    piece_probabilities = tf.gather_nd(probabilities, tf.stack([window, position], axis=1))
    per_word = pieces.values.row_lengths()
    has_pieces = per_word > 0
    first = tf.minimum(pieces.values.row_starts(), tf.maximum(tf.size(window, tf.int64) - 1, 0))
    classes = tf.shape(probabilities)[-1]
    word = tf.gather(tf.concat([piece_probabilities, tf.zeros([1, classes])], axis=0),
                     tf.where(has_pieces, first, tf.size(window, tf.int64)))
    return word, has_pieces


def entity_types(labels: Sequence[str]) -> Tuple[list, list]:
    """Per class: its entity type (`PER` for `B-PER` and `I-PER`; the class itself without a
    `B-`/`I-` prefix, so `O` for O) and whether it begins an entity (`B-`); Hugging Face's
    `TokenClassificationPipeline.get_tag`."""
    types = [label[2:] if label[:2] in ("B-", "I-") else label for label in labels]
    return types, [label.startswith("B-") for label in labels]


def _groups(word_class: tf.Tensor, row_ids: tf.Tensor, labels: Sequence[str]):
    """Hugging Face's grouping of words into entities (`group_entities`), which is also
    conlleval's and seqeval's chunking of IOB2 tags: a word starts a new group at a text's
    start, when its type differs from the previous word's, or when its class is `B-`.
    Returns per word its group `[words]`, and per group its first word, type id, row, and
    whether it is an entity (type not `O`); `names` are the types, `names[type id]`."""
    types, begins = entity_types(labels)
    names = sorted(set(types))
    type_id = tf.gather(tf.constant([names.index(t) for t in types], tf.int64), word_class)
    begin = tf.gather(tf.constant(begins), word_class)
    row_ids = tf.cast(row_ids, tf.int64)
    previous_row = tf.concat([[-1], row_ids[:-1]], axis=0)
    previous_type = tf.concat([[-1], type_id[:-1]], axis=0)
    new = tf.not_equal(row_ids, previous_row) | tf.not_equal(type_id, previous_type) | begin
    group = tf.cumsum(tf.cast(new, tf.int64)) - 1
    firsts = tf.boolean_mask(tf.range(tf.size(word_class, tf.int64)), new)
    g_type = tf.gather(type_id, firsts)
    is_entity = (tf.not_equal(g_type, names.index(OUTSIDE)) if OUTSIDE in names
                 else tf.ones_like(g_type, tf.bool))
    return group, firsts, g_type, tf.gather(row_ids, firsts), is_entity, names


def group_entities(word_class: tf.Tensor, word_score: tf.Tensor, word_start: tf.Tensor,
                   word_end: tf.Tensor, row_ids: tf.Tensor, nrows, labels: Sequence[str]):
    """Words (flat, in order; `row_ids` says whose text each is from) to entities, as
    Hugging Face's `TokenClassificationPipeline` with `aggregation_strategy="first"` groups
    them (`_groups`): a group's type is its first word's, its span from its first word's start
    to its last word's end, its score the mean of its words' scores; groups of type `O` are
    dropped. Returns ragged `[batch, (entities)]` type (string), start, end (as given) and
    score."""
    group, firsts, g_type, g_row, keep, names = _groups(word_class, row_ids, labels)
    groups = tf.size(firsts, tf.int64)
    g_start = tf.math.unsorted_segment_min(word_start, group, groups)
    g_end = tf.math.unsorted_segment_max(word_end, group, groups)
    g_score = tf.math.unsorted_segment_mean(word_score, group, groups)

    def ragged(values):
        return tf.RaggedTensor.from_value_rowids(tf.boolean_mask(values, keep),
                                                 tf.boolean_mask(g_row, keep),
                                                 nrows=tf.cast(nrows, tf.int64),
                                                 validate=False)

    return (ragged(tf.gather(tf.constant(names), g_type)), ragged(g_start), ragged(g_end),
            ragged(g_score))


def entity_counts(gold_class: tf.Tensor, predicted_class: tf.Tensor, row_ids: tf.Tensor,
                  nrows, labels: Sequence[str]):
    """Per row and entity type (`entity_type_names(labels)` order): the predicted entities
    that match a gold one exactly (same words, same type), the predicted ones and the gold
    ones, each `[batch, types]` float32. Words are flat, in order, `row_ids` their rows;
    both class sequences are chunked as conlleval and seqeval do (`_groups`)."""
    names = entity_type_names(labels)

    def spans(word_class):
        group, firsts, g_type, g_row, keep, all_names = _groups(word_class, row_ids, labels)
        n = tf.size(word_class, tf.int64)
        lasts = tf.math.unsorted_segment_max(tf.range(n), group, tf.size(firsts, tf.int64))
        type_index = tf.gather(tf.constant([names.index(t) if t in names else -1
                                            for t in all_names], tf.int64), g_type)
        key = (tf.boolean_mask(firsts, keep) * (n + 1) + tf.boolean_mask(lasts, keep)) * len(
            names) + tf.boolean_mask(type_index, keep)
        return key, tf.boolean_mask(g_row, keep), tf.boolean_mask(type_index, keep)

    gold_key, gold_row, gold_type = spans(gold_class)
    predicted_key, predicted_row, predicted_type = spans(predicted_class)
    matched = tf.sets.intersection(gold_key[tf.newaxis], predicted_key[tf.newaxis]).values
    n = tf.size(gold_class, tf.int64)
    matched_first = matched // len(names) // (n + 1)
    matched_row = tf.gather(tf.cast(row_ids, tf.int64), matched_first)
    matched_type = matched % len(names)
    cells = tf.cast(nrows, tf.int64) * len(names)

    def count(rows, types):
        ones = tf.ones_like(rows, tf.float32)
        return tf.reshape(tf.math.unsorted_segment_sum(ones, rows * len(names) + types, cells),
                          [-1, len(names)])

    return (count(matched_row, matched_type), count(predicted_row, predicted_type),
            count(gold_row, gold_type))


def entity_type_names(labels: Sequence[str]) -> list:
    """The entity types of the classes, sorted, without `O`."""
    return sorted(set(entity_types(labels)[0]) - {OUTSIDE})
