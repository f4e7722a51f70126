"""BERT's tokenization in TensorFlow ops only (tensorflow-text), exactly as Hugging Face's
`BertTokenizerFast` does it for the same vocabulary and settings.

The same functions run in three places, so vocabulary, training data and serving agree:
the vocabulary learner (words to count), the Transform `preprocessing_fn` (ids to train on) and
the exported serving graph (raw sentences in). Everything here is a TF core or tensorflow-text
op, which TF Serving can run; nothing calls back into Python.

A vocabulary is `vocab.txt` (one token per line, id = line number) with, beside it, Hugging
Face's `tokenizer_config.json` (`do_lower_case`, `strip_accents`); without one it is an lmpipe
vocabulary, which is uncased. The special tokens are wherever the vocabulary puts them
(lmpipe's: ids 0-4; Google's: [PAD] 0, [UNK] 100, [CLS] 101, [SEP] 102, [MASK] 103).

tensorflow-text's BERT ops split words (its BasicTokenizer: whitespace, punctuation, one word
per Chinese/Japanese/Korean character) and find the wordpieces (FastWordpieceTokenizer). What
they do differently from BERT's reference tokenizer is done here: control and format characters
are dropped and other whitespace becomes a space; lower-casing is Unicode lower case with
accents stripped (tensorflow-text's is NFKC case folding, which also rewrites `…`, `ß` and
full-width forms); a special token written in the text (`[MASK]`) is that token, matched before
lower-casing; a word of more than 100 characters (not bytes) is `[UNK]`.

Example:

>>> import tensorflow as tf
>>> tok = Tokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", ",", "!",
...                  "wor", "##ld"])
>>> tok.tokenize(tf.constant(["Héllo, [MASK] world!"])).to_list()
[[5, 7, 4, 6, 8]]
>>> [w.decode() for w in pretokenize(tf.constant(["Héllo, [MASK] world!"]))[0].numpy()]
['hello', ',', '[', 'mask', ']', 'world', '!']
"""

import dataclasses
import json
import os
import re
from typing import List, Optional, Sequence

import numpy as np
import tensorflow as tf
import tensorflow_text as text
from tensorflow_text.core.pybinds import pywrap_fast_wordpiece_tokenizer_model_builder
from tensorflow_text.python.ops.bert_tokenizer import BasicTokenizer  # not exported at the top

from models.core import features
from models.core.text_files import read_utf8, split_lines

TOKENIZER_CONFIG_FILE = "tokenizer_config.json"  # Hugging Face's name and keys
MAX_CHARS_PER_WORD = 100  # BERT's: a longer word is [UNK]

# Its clean-up: these are whitespace; other control/format/private characters go.
_WHITESPACE = r"[\t\n\r\p{Zs}]"
_CONTROL = r"[\p{Cc}\p{Cf}\p{Co}\p{Cs}\x{FFFD}]"
CONTROL = _CONTROL  # the characters the clean-up drops (whitespace excepted)


class VocabularyError(ValueError):
    """A vocabulary lacks a special token, repeats a token, or its tokenizer settings are
    unusable."""


@dataclasses.dataclass(frozen=True)
class SpecialIds:
    """Where a vocabulary puts BERT's special tokens."""

    pad: int
    unk: int
    cls: int
    sep: int
    mask: int

    @classmethod
    def of(cls, vocab: Sequence[str], where: str = "the vocabulary") -> "SpecialIds":
        index = {token: i for i, token in enumerate(vocab)}
        missing = [t for t in features.RESERVED_TOKENS if t not in index]
        if missing:
            raise VocabularyError(
                f"{where} has no {' '.join(missing)}: a BERT vocabulary needs "
                f"{' '.join(features.RESERVED_TOKENS)} (lmpipe puts them first).")
        if index[features.PAD] != 0:
            raise VocabularyError(f"{where} puts [PAD] at id {index[features.PAD]}; lmpipe pads "
                                  "with id 0, as BERT vocabularies do.")
        return cls(*(index[t] for t in features.RESERVED_TOKENS))

    @property
    def ids(self) -> List[int]:
        return [self.pad, self.unk, self.cls, self.sep, self.mask]


@dataclasses.dataclass(frozen=True)
class TokenizerSettings:
    lowercase: bool = True  # lmpipe's own vocabularies are uncased
    strip_accents: Optional[bool] = None  # None: as `lowercase` (Hugging Face's rule)

    @property
    def strips_accents(self) -> bool:
        return self.lowercase if self.strip_accents is None else self.strip_accents

    @classmethod
    def read(cls, vocab_file: str) -> "TokenizerSettings":
        """From `tokenizer_config.json` beside `vocab_file` (lmpipe's defaults without one)."""
        path = os.path.join(os.path.dirname(vocab_file), TOKENIZER_CONFIG_FILE)
        if not tf.io.gfile.exists(path):
            return cls()
        with tf.io.gfile.GFile(path) as f:
            config = json.load(f)
        if config.get("tokenize_chinese_chars") is False:
            raise VocabularyError(f"{path}: tokenize_chinese_chars=false is not supported "
                                  "(lmpipe splits CJK characters as BERT does).")
        return cls(lowercase=bool(config.get("do_lower_case", True)),
                   strip_accents=config.get("strip_accents"))

    def write(self, directory: str) -> str:
        path = os.path.join(directory, TOKENIZER_CONFIG_FILE)
        with tf.io.gfile.GFile(path, "w") as f:
            json.dump({"do_lower_case": self.lowercase, "strip_accents": self.strip_accents,
                       "tokenize_chinese_chars": True}, f, indent=2)
        return path


def clean(texts: tf.Tensor) -> tf.Tensor:
    """BERT's clean-up: whitespace to spaces, control characters dropped (tensorflow-text's
    regex_split also stops at a NUL)."""
    return tf.strings.regex_replace(tf.strings.regex_replace(texts, _WHITESPACE, " "), _CONTROL, "")


def normalize(texts: tf.Tensor, settings: TokenizerSettings = TokenizerSettings(),
              cleaned: bool = False) -> tf.Tensor:
    """Cleaned text, then (uncased) accents stripped (NFD without nonspacing marks) and lower
    case, in that order, as BERT's normalizer does."""
    if not cleaned:
        texts = clean(texts)
    if settings.strips_accents:
        texts = tf.strings.regex_replace(text.normalize_utf8(texts, "NFD"), r"\p{Mn}", "")
    if settings.lowercase:
        texts = tf.strings.lower(texts, encoding="utf-8")
    return texts


# The ragged tensors built here are consistent by construction: `validate=False` spares every
# trace of these graphs (Transform, export) the checks' conditional asserts.
def _with_fixed_ids(ids: tf.RaggedTensor, fixed: tf.Tensor, is_fixed: tf.Tensor) -> tf.RaggedTensor:
    """Rows of `ids` (empty where `is_fixed`) with `fixed` as the one id of the fixed rows."""
    fixed_rows = tf.RaggedTensor.from_row_lengths(tf.boolean_mask(fixed, is_fixed),
                                                  tf.cast(is_fixed, tf.int64), validate=False)
    return tf.concat([ids, fixed_rows], axis=1)


class Tokenizer(tf.Module):
    """Raw strings to wordpiece ids with a fixed vocabulary (held in the graph as constants; a
    module, so that a SavedModel that tracks it keeps its tables)."""

    def __init__(self, vocab: Sequence[str], settings: TokenizerSettings = TokenizerSettings(),
                 where: str = "the vocabulary"):
        super().__init__(name="tokenizer")
        self.vocab = list(vocab)
        self.settings = settings
        self.special = SpecialIds.of(self.vocab, where)
        specials = list(features.RESERVED_TOKENS)
        self._special_pattern = "|".join(re.escape(t) for t in specials)
        self._special_table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(specials, tf.constant(self.special.ids, tf.int64)),
            default_value=-1)
        self._words = BasicTokenizer(lower_case=False, normalization_form=None)
        # The model built here and handed over as a uint8 tensor: given the vocabulary instead,
        # the tokenizer makes its constant from a Python list of the model's bytes, which costs
        # each graph trace (Transform traces three times) 0.15 s for 8,000 tokens.
        model = pywrap_fast_wordpiece_tokenizer_model_builder.build_fast_wordpiece_model(
            self.vocab, 4 * MAX_CHARS_PER_WORD, "##", features.UNK, True, False)
        self._wordpiece = text.FastWordpieceTokenizer(
            model_buffer=tf.constant(np.frombuffer(model, np.uint8)), token_out_type=tf.int64)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def normalized_word_ids(self, words: tf.Tensor) -> tf.RaggedTensor:
        """`[n]` normalized words (one BERT word each) to `[n, (pieces)]` int64 wordpiece ids;
        a word over 100 characters is one [UNK] (FastWordpieceTokenizer counts bytes)."""
        is_long = tf.strings.length(words, unit="UTF8_CHAR") > MAX_CHARS_PER_WORD
        ids = self._wordpiece.tokenize(tf.where(is_long, "", words))
        unk = tf.fill(tf.shape(is_long), tf.constant(self.special.unk, tf.int64))
        return _with_fixed_ids(ids, unk, is_long)

    def word_ids(self, words: tf.Tensor) -> tf.RaggedTensor:
        """`[n]` raw words (one BERT word or special token each, as found in a text) to
        `[n, (pieces)]` int64 ids, as `tokenize` gives them for the same word in a text."""
        special_id = self._special_table.lookup(words)
        is_special = special_id >= 0
        ids = self.normalized_word_ids(normalize(tf.where(is_special, "", words), self.settings))
        return _with_fixed_ids(ids, special_id, is_special)

    def tokenize(self, texts: tf.Tensor) -> tf.RaggedTensor:
        """`[batch]` strings to `[batch, (tokens)]` int64 wordpiece ids, no [CLS]/[SEP] added."""
        # Special tokens written in the text first, as Hugging Face's added tokens are.
        pieces = text.regex_split(clean(texts), self._special_pattern, self._special_pattern)
        special_id = self._special_table.lookup(pieces.flat_values)
        is_special = special_id >= 0
        words = self._words.tokenize(normalize(tf.where(is_special, "", pieces.flat_values),
                                               self.settings, cleaned=True))
        ids = self.normalized_word_ids(words.flat_values)
        ids = tf.RaggedTensor.from_row_splits(ids, words.row_splits, validate=False).merge_dims(1, 2)
        ids = _with_fixed_ids(ids, special_id, is_special)
        return tf.RaggedTensor.from_row_splits(ids, pieces.row_splits,
                                               validate=False).merge_dims(1, 2)


def pretokenize(texts: tf.Tensor, settings: TokenizerSettings = TokenizerSettings()) -> tf.RaggedTensor:
    """Words of normalized text, for a vocabulary learner (no vocabulary needed)."""
    return BasicTokenizer(lower_case=False, normalization_form=None).tokenize(
        normalize(texts, settings))


def frame_windows(ids: tf.RaggedTensor, seq_length: int, special: SpecialIds) -> tf.RaggedTensor:
    """Packs each row's ids into consecutive windows `[CLS] ... [SEP] [PAD]...` of `seq_length`.

    A row of n ids becomes max(1, ceil(n / (seq_length - 2))) windows, flattened, so the result
    is `[batch, (windows * seq_length)]`. A sentence that fits one window gives exactly one.
    """
    body = seq_length - 2
    lengths = ids.row_lengths()
    num_windows = tf.maximum(tf.constant(1, tf.int64), (lengths + body - 1) // body)
    # Per window: how many ids it holds (body, ..., remainder).
    starts = tf.ragged.range(num_windows) * body
    window_lengths = tf.minimum(tf.constant(body, tf.int64),
                                tf.expand_dims(lengths, 1) - starts)
    window_lengths = tf.maximum(window_lengths, 0)
    windows = tf.RaggedTensor.from_row_lengths(ids.flat_values, window_lengths.flat_values,
                                               validate=False)
    n = windows.nrows()
    cls = tf.fill([n, 1], tf.constant(special.cls, tf.int64))
    sep = tf.fill([n, 1], tf.constant(special.sep, tf.int64))
    framed = tf.concat([cls, windows, sep], axis=1)
    dense = framed.to_tensor(default_value=special.pad, shape=[None, seq_length])
    return tf.RaggedTensor.from_row_lengths(tf.reshape(dense, [-1]), num_windows * seq_length,
                                            validate=False)


def window_plan(lengths: tf.Tensor, body, stride: int):
    """Where the windows of rows of `lengths` pieces start, how many pieces each holds and
    from which piece on each owns the predictions: three `[batch, (windows)]` int64 ragged
    tensors. `body`: pieces per window (seq_length - 2), an int or, when it differs by row
    (a question before each context), an int64 `[batch]` tensor; `stride`: overlap,
    0 <= stride < body. A row of n pieces has 1 window if n <= body, else
    1 + ceil((n - body) / (body - stride)), as Hugging Face's tokenizers cut overflowing
    tokens with `stride`."""
    if isinstance(body, int) and not 0 <= stride < body:
        raise ValueError(f"stride={stride}: the window overlap must be >= 0 and below the "
                         f"{body} pieces a window holds (seq_length - 2)")
    lengths = tf.cast(lengths, tf.int64)
    body = tf.broadcast_to(tf.cast(body, tf.int64), tf.shape(lengths))
    step = body - stride
    extra = tf.maximum(lengths - body, 0)
    num = 1 + (extra + step - 1) // step
    starts = tf.ragged.range(num) * step[:, None]
    window_lengths = tf.maximum(tf.minimum(body[:, None], lengths[:, None] - starts), 0)
    owners = tf.where(starts > 0, starts + stride // 2, starts)
    return starts, window_lengths, owners


def frame(values: tf.RaggedTensor, starts: tf.RaggedTensor, window_lengths: tf.RaggedTensor,
          seq_length: int, first: int, last: int, pad: int) -> tf.RaggedTensor:
    """Rows `[batch, (n)]` of int64 values cut into the planned windows, each
    `first values... last pad...` of `seq_length`, flattened per row to
    `[batch, (windows * seq_length)]`."""
    row_starts = values.row_starts()
    offsets = starts + tf.expand_dims(row_starts, 1)  # into values.flat_values
    index = tf.ragged.range(offsets.flat_values, offsets.flat_values + window_lengths.flat_values)
    body = tf.gather(values.flat_values, index)
    n = body.nrows()
    framed = tf.concat([tf.fill([n, 1], tf.constant(first, tf.int64)), body,
                        tf.fill([n, 1], tf.constant(last, tf.int64))], axis=1)
    dense = framed.to_tensor(default_value=pad, shape=[None, seq_length])
    return tf.RaggedTensor.from_row_lengths(tf.reshape(dense, [-1]),
                                            starts.row_lengths() * seq_length, validate=False)


def frame_pair(first: tf.RaggedTensor, second: tf.RaggedTensor, seq_length: int,
               special: SpecialIds):
    """`[CLS] first [SEP] second [SEP] [PAD]...` of `seq_length` and its segment ids (0 up to
    the first [SEP], 1 after), as `[batch, seq_length]` int64 tensors.

    Too long a pair is cut longest first, as Hugging Face's tokenizers do: tokens come off the
    longer text until both are as long, then off both in turn, the longer one (the second of
    two as long) keeping the odd token; so the shorter keeps
    min(len, max(budget - len(longer), floor(budget / 2))) tokens.
    """
    budget = seq_length - 3
    first_len, second_len = first.row_lengths(), second.row_lengths()
    first_shorter = first_len <= second_len
    shorter = tf.where(first_shorter, first_len, second_len)
    longer = tf.where(first_shorter, second_len, first_len)
    keep_shorter = tf.minimum(shorter, tf.maximum(budget - longer, budget // 2))
    keep_longer = tf.minimum(longer, budget - keep_shorter)
    keep_first = tf.where(first_shorter, keep_shorter, keep_longer)
    keep_second = tf.where(first_shorter, keep_longer, keep_shorter)

    def head(ids, keep):
        return tf.ragged.boolean_mask(ids, tf.ragged.range(ids.row_lengths()) < keep[:, None])

    n = first.nrows()
    cls = tf.fill([n, 1], tf.constant(special.cls, tf.int64))
    sep = tf.fill([n, 1], tf.constant(special.sep, tf.int64))
    part_a = tf.concat([cls, head(first, keep_first), sep], axis=1)
    part_b = tf.concat([head(second, keep_second), sep], axis=1)
    token_ids = tf.concat([part_a, part_b], axis=1)
    segment_ids = tf.concat([tf.zeros_like(part_a), tf.ones_like(part_b)], axis=1)
    shape = [None, seq_length]
    return (token_ids.to_tensor(default_value=special.pad, shape=shape),
            segment_ids.to_tensor(default_value=0, shape=shape))


def read_vocab(path: str) -> List[str]:
    """Reads a vocabulary file: one token per line (UTF-8, lines split at `\\n` only, as
    models/core/text_files.py does), id = line number.

    Raises VocabularyError if the file cannot be read or is not UTF-8, or if a token appears on
    more than one line (naming the token and its lines): Hugging Face's tokenizers would
    silently give such a token the id of its last line, and tensorflow-text refuses it."""
    vocab = split_lines(read_utf8(path, VocabularyError, "a vocabulary is UTF-8 text, one token "
                                  "per line"))
    _check_unique(vocab, path)
    return vocab


def _check_unique(vocab: Sequence[str], path: str, shown: int = 5) -> None:
    first_line, duplicates = {}, []
    for line, token in enumerate(vocab, 1):
        if token in first_line:
            duplicates.append((token, first_line[token], line))
        else:
            first_line[token] = line
    if duplicates:
        listed = "; ".join(f"{token!r} on lines {first} and {line}"
                           for token, first, line in duplicates[:shown])
        more = f" (and {len(duplicates) - shown} more)" if len(duplicates) > shown else ""
        removals = ", ".join(str(line) for _, _, line in duplicates[:shown])
        plural = len(duplicates) > 1
        raise VocabularyError(
            f"{path}: {len(duplicates)} duplicate token{'s' if plural else ''}: {listed}{more}. "
            f"Every token must appear once (its line number is its id): remove line"
            f"{'s' if plural else ''} {removals}{' ...' if len(duplicates) > shown else ''} or "
            f"the earlier line{'s' if plural else ''}, whichever the model was not trained with "
            "(Hugging Face's tokenizers would silently give such a token the id of its last "
            "line).")


def copy_vocabulary(vocab_file: str, directory: str) -> str:
    """Copies `vocab_file` and its `tokenizer_config.json` (if any) into `directory`; returns
    the copy's vocab file."""
    settings = os.path.join(os.path.dirname(vocab_file), TOKENIZER_CONFIG_FILE)
    tf.io.gfile.makedirs(directory)
    for source, name in ((vocab_file, features.VOCAB_FILE), (settings, TOKENIZER_CONFIG_FILE)):
        if tf.io.gfile.exists(source):
            tf.io.gfile.copy(source, os.path.join(directory, name), overwrite=True)
    return os.path.join(directory, features.VOCAB_FILE)


def load_tokenizer(vocab_file: str) -> Tokenizer:
    """The tokenizer of `vocab_file` and the `tokenizer_config.json` beside it."""
    return Tokenizer(read_vocab(vocab_file), TokenizerSettings.read(vocab_file), where=vocab_file)
