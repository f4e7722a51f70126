"""Pure functions that learn a WordPiece vocabulary from word counts.

Words come from `models.tokenizers.wordpiece.pretokenize`, the same splitter the tokenizer uses later,
so every learned piece can actually be produced at training and serving time.

The learning is Hugging Face `tokenizers`' WordPiece trainer (Rust, seconds where tensorflow-
text's pure-Python learner took minutes), fed the Beam word counts, then three rules of ours:

- every character of the corpus is in the vocabulary both word-initially (`c`) and as a
  continuation (`##c`), so no seen character becomes `[UNK]` (the trainer alone only adds `##c`
  for characters it saw inside a word);
- the output is the same in every process: the trainer numbers the `##c` pieces in its hash
  maps' (per-process random) order and breaks ties between equally frequent merges by those
  numbers; giving it every `##c` up front as a special token fixes their ids first
  (huggingface/tokenizers issue 1794), and the final order is ours (below);
- exactly `vocab_size` entries when the corpus has that many pieces to learn: the trainer learns
  10% more candidates, each is scored by how often greedy longest-match tokenization of the
  counted words (FastWordpieceTokenizer's algorithm) uses it, and the most used are kept.

Order: the reserved tokens, the characters, their `##` forms, then the learned pieces from most
to least used (ties alphabetical).
"""

import collections
import json
from typing import Iterable, List, Sequence, Tuple

import tensorflow as tf

from models.core import features
from models.core.settings import check_vocab_size
from models.tokenizers.wordpiece import pretokenize

JOINER = "##"
RESERVED = list(features.RESERVED_TOKENS)


def count_words(texts: Sequence) -> collections.Counter:
    """Counts the pretokenized words of a batch of strings (str or bytes), in TF eager mode."""
    texts = list(texts)
    if not texts:
        return collections.Counter()
    words, _, counts = tf.unique_with_counts(
        pretokenize(tf.constant(texts, dtype=tf.string)).flat_values)
    return collections.Counter(dict(zip((w.decode("utf-8") for w in words.numpy()),
                                        counts.numpy().tolist())))


MARGIN = 0.10  # extra candidates the trainer learns, for the usage-ranked cut
CHUNK = 100_000  # repeats of one word per string fed to the trainer (bounds its memory)


def _repeated(counts: Sequence[Tuple[str, int]]) -> Iterable[str]:
    """The trainer takes text, not counts: each word `count` times, whitespace-separated (the
    cheapest way to feed it), in strings of at most CHUNK words."""
    for word, count in counts:
        for start in range(0, count, CHUNK):
            yield " ".join([word] * min(CHUNK, count - start))


def learn_vocab(word_counts: Iterable[Tuple[str, int]], vocab_size: int, lower_thresh: int = 2,
                split: str = "train") -> List[str]:
    """A WordPiece vocabulary (reserved tokens first, exactly `vocab_size` entries unless the
    corpus has fewer pieces to learn).

    Args:
      word_counts: (word, count) pairs from `count_words`.
      vocab_size: the size of the result.
      lower_thresh: merges seen fewer times than this are not learned (the trainer's
        `min_frequency`).
      split: the split the counts come from (for error messages).
    """
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    check_vocab_size(vocab_size)
    counts = sorted((w, int(c)) for w, c in word_counts if w and int(c) > 0)
    if not counts:
        raise ValueError(
            f"no words found in split '{split}' to learn a vocabulary from; check that the "
            f"corpus has text and that ExampleGen produced examples with a '{features.TEXT}' "
            "feature in that split")
    chars = sorted({ch for word, _ in counts for ch in word})
    continuations = [JOINER + ch for ch in chars]
    fixed = RESERVED + chars + continuations
    if len(fixed) > vocab_size:
        raise ValueError(
            f"vocab_size={vocab_size} is too small for the corpus alphabet: {len(RESERVED)} "
            f"reserved tokens and {len(chars)} characters (with their '{JOINER}' forms) alone "
            f"need {len(fixed)}; raise vocab_size")

    tokenizer = Tokenizer(models.WordPiece(unk_token=features.UNK, continuing_subword_prefix=JOINER))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    trainer = trainers.WordPieceTrainer(
        vocab_size=int(vocab_size * (1 + MARGIN)), min_frequency=lower_thresh,
        special_tokens=RESERVED + continuations, continuing_subword_prefix=JOINER,
        show_progress=False)
    tokenizer.train_from_iterator(_repeated(counts), trainer, length=len(counts))
    fixed_set = set(fixed)
    candidates = sorted(set(tokenizer.get_vocab()) - fixed_set)
    budget = vocab_size - len(fixed)

    # Usage of each candidate by greedy longest-match over the counted words, with all of them.
    tokenizer.model = models.WordPiece({t: i for i, t in enumerate(fixed + candidates)},
                                       unk_token=features.UNK, continuing_subword_prefix=JOINER)
    usage = collections.Counter()
    words = [w for w, _ in counts]
    for (_, count), encoding in zip(counts, tokenizer.encode_batch(words)):
        for token in encoding.tokens:
            usage[token] += count
    ranked = sorted(candidates, key=lambda t: (-usage[t], t))
    vocab = fixed + ranked[:budget]
    assert len(vocab) == len(set(vocab)) and len(vocab) <= vocab_size
    return vocab


# -- byte-level BPE (the causal LM's vocabulary) ---------------------------------------------

def count_byte_level_words(texts: Sequence) -> collections.Counter:
    """Counts GPT-2's pre-tokenized words of a batch of strings (str or bytes), each already
    in byte-level form ("Ġthe"), with Hugging Face `tokenizers`' ByteLevel pre-tokenizer: the
    split the BPE tokenizer applies later (models/tokenizers/bpe.py; keras-hub's regex gives the same
    words)."""
    from tokenizers import pre_tokenizers

    splitter = pre_tokenizers.ByteLevel(add_prefix_space=False)
    counts = collections.Counter()
    for text in texts:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        counts.update(word for word, _ in splitter.pre_tokenize_str(text))
    return counts


def learn_bpe(word_counts: Iterable[Tuple[str, int]], vocab_size: int, lower_thresh: int = 2,
              split: str = "train"):
    """A byte-level BPE vocabulary (token -> id) and its merges, learned by Hugging Face
    `tokenizers`' BpeTrainer (the trainer of GPT-2-style tokenizers) from byte-level word
    counts: `<|endoftext|>` (id 0), the 256 byte symbols, then the merges' tokens, `vocab_size`
    in all unless the corpus has fewer merges to learn. `lower_thresh`: a pair seen fewer times
    is not merged."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    from models.tokenizers.bpe import EOT

    counts = sorted((w, int(c)) for w, c in word_counts if w and int(c) > 0)
    if not counts:
        raise ValueError(
            f"no words found in split '{split}' to learn a vocabulary from; check that the "
            f"corpus has text and that ExampleGen produced examples with a '{features.TEXT}' "
            "feature in that split")
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    if vocab_size < len(alphabet) + 2:
        raise ValueError(f"vocab_size={vocab_size} is too small for byte-level BPE: its 256 "
                         "byte symbols and <|endoftext|> take 257; raise vocab_size")
    tokenizer = Tokenizer(models.BPE())
    # The words are already byte-level (no spaces in them): split the trainer's input on spaces.
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=lower_thresh,
                                  special_tokens=[EOT], initial_alphabet=sorted(alphabet),
                                  show_progress=False)
    tokenizer.train_from_iterator(_repeated(counts), trainer, length=len(counts))
    state = json.loads(tokenizer.to_str())["model"]
    merges = [m if isinstance(m, str) else " ".join(m) for m in state["merges"]]
    return dict(state["vocab"]), merges
