"""The token classifier's SavedModel (keras.export.ExportArchive, TF Serving's layout):

- `serving_default(text: string[None])`: raw texts → their entities, padded to the most
  entities of a text in the batch (at least one column): `entity_type` `[batch, n]` string,
  `start`, `end` `[batch, n]` int64 (character offsets into the raw text, Unicode code points,
  end exclusive, as Python's `text[start:end]`; -1 in padding), `entity_text` (that
  substring), `score` float32 (the mean of the entity's words' probabilities), and
  `entity_count` `[batch]` int32. Words are BERT's (whitespace, punctuation, CJK characters)
  found on the raw text; a word's class is its first piece's (Hugging Face's
  `aggregation_strategy="first"`); words group into entities as Hugging Face's
  `TokenClassificationPipeline` groups them (models/token_classification/model.py: group_entities).
- `tag_tokens(tokens: string[None, None])`: pre-split tokens ("" pads a row) → one IOB2 tag
  per token, `tags` `[batch, tokens]` ("" in padding), and `scores` (its probability).
- `tagging_eval(examples: string[None])`: serialized raw examples (`tokens`, `tags`) → per
  example and entity type the exactly matched, predicted and gold entities and the words
  tagged right; TFMA's metrics in models/token_classification/metrics.py add them up.

Nothing here runs Python at serving time: tokenization, windows, grouping and offsets are TF
and tensorflow-text ops.
"""

import json
import os
from typing import Sequence

import keras
import tensorflow as tf

from models.core import features
from models.token_classification import model as tc
from models.core.export import MODEL_INFO_DIR, MODEL_INFO_FILE, write_warmup_requests
from models.tokenizers.wordpiece import Tokenizer, copy_vocabulary
from models.tokenizers.words import code_points

TAG_TOKENS_SIGNATURE = "tag_tokens"
TAGGING_EVAL_SIGNATURE = "tagging_eval"
WARMUP_TEXTS = ("Ada Lovelace was born in London.", "no entities here", "")


def _predict_words(model, tokenizer, labels, seq_length, stride, pieces):
    probabilities, has_pieces = tc.word_probabilities(model, tokenizer, pieces, seq_length,
                                                      stride)
    outside = labels.index(tc.OUTSIDE) if tc.OUTSIDE in labels else 0
    word_class = tf.where(has_pieces, tf.argmax(probabilities, axis=-1, output_type=tf.int64),
                          outside)
    return word_class, tf.reduce_max(probabilities, axis=-1), has_pieces


def entities_fn(model, tokenizer: Tokenizer, labels: Sequence[str], seq_length: int,
                stride: int):
    """The `serving_default` function (module docstring)."""
    labels = list(labels)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def entities(text):
        words, starts, ends = tc.split_words(text, tokenizer)
        pieces = tf.RaggedTensor.from_row_splits(tc.word_pieces(tokenizer, words.flat_values),
                                                 words.row_splits, validate=False)
        word_class, score, has_pieces = _predict_words(model, tokenizer, labels, seq_length,
                                                       stride, pieces)
        # A word without pieces (only control characters) is no word, as for Hugging Face.
        rows = tf.boolean_mask(words.value_rowids(), has_pieces)
        kinds, start, end, scores = tc.group_entities(
            tf.boolean_mask(word_class, has_pieces), tf.boolean_mask(score, has_pieces),
            tf.boolean_mask(starts.flat_values, has_pieces),
            tf.boolean_mask(ends.flat_values, has_pieces), rows, tf.shape(text)[0], labels)
        owner = tf.gather(text, start.value_rowids())
        entity_text = tf.strings.substr(owner, tf.cast(start.flat_values, tf.int32),
                                        tf.cast(end.flat_values - start.flat_values, tf.int32))
        start_cp = start.with_flat_values(code_points(owner, start.flat_values))
        end_cp = end.with_flat_values(code_points(owner, end.flat_values))
        columns = tf.maximum(tf.reduce_max(tf.concat([start.row_lengths(), [1]], 0)), 1)
        shape = tf.stack([tf.shape(text, out_type=tf.int64)[0], columns])

        def padded(ragged, default):
            return ragged.to_tensor(default_value=default, shape=shape)

        return {
            "entity_type": padded(kinds, ""),
            "start": padded(start_cp, tf.constant(-1, tf.int64)),
            "end": padded(end_cp, tf.constant(-1, tf.int64)),
            "entity_text": padded(start.with_flat_values(entity_text), ""),
            "score": padded(scores, 0.0),
            "entity_count": tf.cast(start.row_lengths(), tf.int32),
        }

    return entities


def tag_tokens_fn(model, tokenizer: Tokenizer, labels: Sequence[str], seq_length: int,
                  stride: int):
    """The `tag_tokens` function (module docstring)."""
    labels = list(labels)
    names = tf.constant(labels)

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.string, name="tokens")])
    def tag_tokens(tokens):
        ragged = tf.RaggedTensor.from_tensor(tokens, padding="")
        pieces = tc.tokens_to_pieces(tokenizer, ragged)
        word_class, score, _ = _predict_words(model, tokenizer, labels, seq_length, stride,
                                              pieces)
        shape = tf.shape(tokens, out_type=tf.int64)
        return {"tags": ragged.with_flat_values(tf.gather(names, word_class)).to_tensor(
                    default_value="", shape=shape),
                "scores": ragged.with_flat_values(score).to_tensor(default_value=0.0,
                                                                   shape=shape)}

    return tag_tokens


class _ClassIds(tf.Module):
    """Class name → id (-1 if unknown), in a module so that the SavedModel keeps the table."""

    def __init__(self, labels: Sequence[str]):
        super().__init__(name="class_ids")
        self.table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
            list(labels), tf.range(len(labels), dtype=tf.int64)), default_value=-1)


def tagging_eval_fn(model, tokenizer: Tokenizer, labels: Sequence[str], seq_length: int,
                    stride: int):
    """The `tagging_eval` function (module docstring): `entity_matched`, `entity_predicted`,
    `entity_gold` `[batch, types]` float32 (types: token_classifier.entity_type_names),
    `words_correct`, `words` `[batch]` float32."""
    labels = list(labels)
    class_ids = _ClassIds(labels)
    table = class_ids.table

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def tagging_eval(examples):
        ragged = tf.io.RaggedFeature(tf.string, row_splits_dtype=tf.int64)
        parsed = tf.io.parse_example(examples, {tc.TOKENS: ragged, tc.TAGS: ragged})
        tokens, tags = parsed[tc.TOKENS], parsed[tc.TAGS]
        pieces = tc.tokens_to_pieces(tokenizer, tokens)
        predicted, _, _ = _predict_words(model, tokenizer, labels, seq_length, stride, pieces)
        gold = table.lookup(tags.flat_values)
        rows = tokens.value_rowids()
        n = tf.shape(examples)[0]
        matched, predicted_count, gold_count = tc.entity_counts(gold, predicted, rows, n, labels)
        correct = tf.math.unsorted_segment_sum(tf.cast(tf.equal(gold, predicted), tf.float32),
                                               rows, n)
        return {"entity_matched": matched, "entity_predicted": predicted_count,
                "entity_gold": gold_count, "words_correct": correct,
                "words": tf.cast(tokens.row_lengths(), tf.float32)}

    tagging_eval.class_ids = class_ids  # for the archive to track
    return tagging_eval


def export_token_classifier(model: keras.Model, tokenizer: Tokenizer, export_dir: str,
                            labels: Sequence[str], seq_length: int, stride: int,
                            model_name: str, vocab_file: str) -> str:
    """Writes the token classifier SavedModel (signatures in the module docstring), TF Serving
    warmup requests and `assets.extra/lmpipe/` (vocabulary, `model.json`: task, labels as
    `id2label`, sequence length, stride)."""
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.track(tokenizer)
    args = (model, tokenizer, labels, seq_length, stride)
    tagging_eval = tagging_eval_fn(*args)
    archive.track(tagging_eval.class_ids)
    archive.add_endpoint(features.SERVING_SIGNATURE, entities_fn(*args))
    archive.add_endpoint(TAG_TOKENS_SIGNATURE, tag_tokens_fn(*args))
    archive.add_endpoint(TAGGING_EVAL_SIGNATURE, tagging_eval)
    archive.write_out(export_dir)
    write_warmup_requests(export_dir, model_name, WARMUP_TEXTS)
    directory = os.path.join(export_dir, "assets.extra", MODEL_INFO_DIR)
    copy_vocabulary(vocab_file, directory)
    with tf.io.gfile.GFile(os.path.join(directory, MODEL_INFO_FILE), "w") as f:
        json.dump({"task": "token-classification", "labels": list(labels),
                   "seq_length": seq_length, "stride": stride, "text_pairs": False}, f, indent=2)
    return export_dir
