"""Pure functions that learn a WordPiece vocabulary from word counts.

Words come from `models.tokenization.pretokenize`, the same splitter the tokenizer uses later,
so every learned piece can actually be produced at training and serving time.

Size: tensorflow-text's learner binary-searches a count threshold and accepts the first
vocabulary within `slack_ratio` (5%) *below* `vocab_size`, so the result's size only
approximates `vocab_size`. If the search runs out of room (a small corpus, a high
`lower_thresh`) it can come out larger; `learn_vocab` then drops the least frequent multi-
character pieces, so the result never exceeds `vocab_size`, always starts with the reserved
tokens, and keeps every single character (so no known character becomes `[UNK]`).
"""

import collections
from typing import Iterable, List, Sequence, Tuple

import tensorflow as tf
from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib as learner_lib

from models import features
from models.settings import check_vocab_size
from models.tokenization import pretokenize

JOINER = "##"
RESERVED = list(features.RESERVED_TOKENS)


def count_words(texts: Sequence) -> collections.Counter:
    """Counts the pretokenized words of a batch of strings (str or bytes), in TF eager mode."""
    texts = list(texts)
    if not texts:
        return collections.Counter()
    words = pretokenize(tf.constant(texts, dtype=tf.string)).flat_values.numpy()
    counts = collections.Counter(words.tolist())
    return collections.Counter({w.decode("utf-8"): c for w, c in counts.items()})


def _is_char_piece(token: str) -> bool:
    return len(token) == 1 or (token.startswith(JOINER) and len(token) == len(JOINER) + 1)


def learn_vocab(word_counts: Iterable[Tuple[str, int]], vocab_size: int, lower_thresh: int = 2,
                split: str = "train") -> List[str]:
    """A WordPiece vocabulary (reserved tokens first, at most `vocab_size` entries).

    Args:
      word_counts: (word, count) pairs from `count_words`.
      vocab_size: the maximum size; the result is usually within 5% below it (see module doc).
      lower_thresh: lowest count threshold the learner's binary search may try; pieces rarer
        than the final threshold are not learned.
      split: the split the counts come from (for error messages).
    """
    check_vocab_size(vocab_size)
    word_counts = [(w, int(c)) for w, c in word_counts if w and int(c) > 0]
    if not word_counts:
        raise ValueError(
            f"no words found in split '{split}' to learn a vocabulary from; check that the "
            f"corpus has text and that ExampleGen produced examples with a '{features.TEXT}' "
            "feature in that split")
    vocab = learner_lib.learn(
        word_counts, vocab_size, reserved_tokens=RESERVED, lower_thresh=lower_thresh,
        include_joiner_token=True, joiner=JOINER)
    if vocab[: len(RESERVED)] != RESERVED:  # the library puts them first; make sure
        vocab = RESERVED + [t for t in vocab if t not in RESERVED]
    if len(vocab) > vocab_size:
        vocab = _truncate(vocab, vocab_size)
    assert features.MASK in vocab and len(vocab) == len(set(vocab))
    return vocab


def _truncate(vocab: List[str], vocab_size: int) -> List[str]:
    """Keeps reserved tokens and all single characters, then the most frequent longer pieces.

    The library orders learned pieces by count (descending), so the tail is least useful.
    """
    reserved, rest = vocab[: len(RESERVED)], vocab[len(RESERVED):]
    n_chars = sum(1 for t in rest if _is_char_piece(t))
    budget = vocab_size - len(reserved) - n_chars
    if budget < 0:
        raise ValueError(
            f"vocab_size={vocab_size} is too small for the corpus alphabet: {len(reserved)} "
            f"reserved tokens and {n_chars} single-character pieces (with their '{JOINER}' "
            f"forms) alone need {len(reserved) + n_chars}; raise vocab_size")
    kept = []
    for token in rest:
        if _is_char_piece(token):
            kept.append(token)
        elif budget > 0:
            kept.append(token)
            budget -= 1
    return reserved + kept
