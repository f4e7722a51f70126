"""Lower-casing WordPiece tokenization in TensorFlow ops only (tensorflow-text).

The same functions run in three places, so vocabulary, training data and serving agree:
the vocabulary learner (words to count), the Transform `preprocessing_fn` (ids to train on) and
the exported serving graph (raw sentences in). Everything here is a TF core or tensorflow-text
op, which TF Serving can run; nothing calls back into Python.

Example:

>>> import tensorflow as tf
>>> words = pretokenize(tf.constant(["Héllo, [MASK] world!"]))
>>> [w.decode() for w in words[0].numpy()]
['hello', ',', '[MASK]', 'world', '!']
>>> tok = WordpieceTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world",
...                           ",", "!", "wor", "##ld"])
>>> tok.tokenize(tf.constant(["Hello [MASK] world!"])).to_list()
[[5, 4, 6, 8]]
"""

from typing import List, Sequence

import tensorflow as tf
import tensorflow_text as text

from models import features

# BERT's BasicTokenizer: punctuation is ASCII symbols plus Unicode category P; each is a word.
_PUNCTUATION = r"[!-/:-@\[-`{-~]|\p{P}"
# A literal [MASK] (lower-cased by then) survives as one word so that it maps to the mask id.
_MASK_WORD = r"\[mask\]"
_DELIMITERS = rf"\s+|({_MASK_WORD})|({_PUNCTUATION})"
_KEPT_DELIMITERS = rf"({_MASK_WORD})|({_PUNCTUATION})"


def normalize(texts: tf.Tensor) -> tf.Tensor:
    """Case-folds, decomposes (NFD) and strips accents, as uncased BERT does."""
    texts = text.case_fold_utf8(texts)
    texts = text.normalize_utf8(texts, "NFD")
    return tf.strings.regex_replace(texts, r"\p{Mn}", "")


def pretokenize(texts: tf.Tensor) -> tf.RaggedTensor:
    """Splits normalized text into words: whitespace-separated, punctuation on its own.

    Returns a ragged string tensor `[batch, (words)]`; `[MASK]` stays one upper-case word.
    """
    words = text.regex_split(normalize(texts), _DELIMITERS, _KEPT_DELIMITERS)
    return tf.ragged.map_flat_values(
        tf.strings.regex_replace, words, "^" + _MASK_WORD + "$", features.MASK)


class WordpieceTokenizer:
    """Raw strings to wordpiece ids with a fixed vocabulary (held in the graph as a constant)."""

    def __init__(self, vocab: Sequence[str]):
        vocab = list(vocab)
        if tuple(vocab[: len(features.RESERVED_TOKENS)]) != features.RESERVED_TOKENS:
            raise ValueError(
                f"vocabulary must start with {' '.join(features.RESERVED_TOKENS)}; "
                f"it starts with {' '.join(vocab[:5])}. Learn it with lmpipe's WordPieceVocabGen.")
        self.vocab = vocab
        self._wordpiece = text.FastWordpieceTokenizer(
            vocab=vocab, suffix_indicator="##", unknown_token=features.UNK,
            no_pretokenization=True, token_out_type=tf.int64)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def tokenize(self, texts: tf.Tensor) -> tf.RaggedTensor:
        """`[batch]` strings to `[batch, (tokens)]` int64 wordpiece ids, no special tokens."""
        pieces = self._wordpiece.tokenize(pretokenize(texts))
        return pieces.merge_dims(1, 2)


def frame_windows(ids: tf.RaggedTensor, seq_length: int) -> tf.RaggedTensor:
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
    windows = tf.RaggedTensor.from_row_lengths(ids.flat_values, window_lengths.flat_values)
    n = windows.nrows()
    cls = tf.fill([n, 1], tf.constant(features.CLS_ID, tf.int64))
    sep = tf.fill([n, 1], tf.constant(features.SEP_ID, tf.int64))
    framed = tf.concat([cls, windows, sep], axis=1)
    dense = framed.to_tensor(default_value=features.PAD_ID, shape=[None, seq_length])
    return tf.RaggedTensor.from_row_lengths(tf.reshape(dense, [-1]), num_windows * seq_length)


def read_vocab(path: str) -> List[str]:
    """Reads a vocabulary file: one token per line, id = line number."""
    with tf.io.gfile.GFile(path) as f:
        return [line.rstrip("\n") for line in f]
