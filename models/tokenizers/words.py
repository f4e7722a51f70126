"""Words of raw text with their offsets, for models that answer in spans of the raw text (token
classification's entities, question answering's answers): BERT's word splitting
(tensorflow-text's BasicTokenizer patterns) applied to the raw text, so that the offsets are the
raw text's, each word's word pieces as `Tokenizer.tokenize` gives them in a text, and byte
offsets as Unicode code-point offsets (Python's `str` indices, Hugging Face's offsets).

>>> import tensorflow as tf
>>> from models.tokenizers.wordpiece import Tokenizer
>>> tok = Tokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "caf", "##e", "!"])
>>> words, starts, ends = split_words(tf.constant(["Café!"]), tok)
>>> [w.decode() for w in words[0].numpy()], starts.to_list(), ends.to_list()
(['Café', '!'], [[0, 5]], [[5, 6]])
>>> code_points(tf.constant(["Café!"]), tf.constant([5])).numpy().tolist()
[4]
"""

import tensorflow as tf

from models.tokenizers.wordpiece import Tokenizer

# BERT's word splitting (tensorflow-text's BasicTokenizer patterns) applied to the raw text, so
# that the offsets are the raw text's: whitespace (as models/tokenizers/wordpiece.py:clean counts it)
# separates words and is dropped; punctuation and CJK characters are words of their own.
_SPACE = r"[\t\n\r\p{Zs}]+"


def _keep_pattern() -> str:
    from tensorflow_text.python.ops import bert_tokenizer  # its patterns are not exported
    return bert_tokenizer._KEEP_DELIM_NO_WHITESPACE_PATTERN


def split_words(texts: tf.Tensor, tokenizer: Tokenizer):
    """`[batch]` raw strings to their words `[batch, (words)]` and each word's start and end
    byte offsets into the raw string (int64), as BERT's basic tokenizer splits the cleaned
    text; a special token written in the text (`[MASK]`) is a word of its own, as
    `tokenizer.tokenize` reads it. Control characters stay inside a word (the tokenizer's
    clean-up drops them), so a word may normalize to nothing and have no pieces; a word's
    offsets leave out the ones at its edges, as Hugging Face's offsets do (they map back only
    what the model reads)."""
    import tensorflow_text as text
    from models.tokenizers.wordpiece import CONTROL
    keep = f"{tokenizer._special_pattern}|{_keep_pattern()}"  # leftmost alternative first
    # regex_split stops at a NUL: one byte for another control character keeps the offsets.
    texts = tf.strings.regex_replace(texts, r"\x00", "\x01")
    words, starts, ends = text.regex_split_with_offsets(texts, f"{_SPACE}|{keep}", keep)
    flat = words.flat_values
    length = tf.strings.length(flat)
    lead = length - tf.strings.length(tf.strings.regex_replace(flat, f"^{CONTROL}+", ""))
    trail = length - tf.strings.length(tf.strings.regex_replace(flat, f"{CONTROL}+$", ""))
    lead, trail = (tf.cast(tf.where(lead < length, x, 0), tf.int64) for x in (lead, trail))
    return (words, starts.with_flat_values(starts.flat_values + lead),
            ends.with_flat_values(ends.flat_values - trail))


def word_pieces(tokenizer: Tokenizer, words: tf.Tensor) -> tf.RaggedTensor:
    """`[n]` words (raw, each one BERT word or special token: `split_words`) to
    `[n, (pieces)]` int64 ids, as `tokenizer.tokenize` gives them for the same word in a
    text (`Tokenizer.word_ids`)."""
    return tokenizer.word_ids(words)


def code_points(texts: tf.Tensor, byte_offsets: tf.Tensor) -> tf.Tensor:
    """Byte offsets into `texts` (same shape, or texts broadcast) as code-point offsets,
    int64."""
    length = tf.cast(byte_offsets, tf.int32)
    return tf.cast(tf.strings.length(tf.strings.substr(texts, tf.zeros_like(length), length),
                                     unit="UTF8_CHAR"), tf.int64)


def byte_offsets(texts: tf.Tensor, code_point_offsets: tf.Tensor) -> tf.Tensor:
    """Code-point offsets into `texts` (same shape) as byte offsets, int64 (an offset past
    the end is the text's length)."""
    length = tf.cast(code_point_offsets, tf.int32)
    return tf.cast(tf.strings.length(tf.strings.substr(texts, tf.zeros_like(length), length,
                                                       unit="UTF8_CHAR")), tf.int64)
