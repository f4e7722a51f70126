"""Byte-level BPE (GPT-2's tokenizer): reading a vocabulary, and tokenizing in TensorFlow ops.

A byte-level BPE vocabulary is `vocab.json` (token -> id) and `merges.txt` (one merge rule
"a b" per line, in rank order, after an optional `#version` line), as GPT-2 and Hugging Face's
`GPT2Tokenizer` keep it, or the same inside a `tokenizer.json` (what transformers 5 saves).
`<|endoftext|>` (EOT) separates documents, starts an unconditional prompt and ends generation.

Tokenization is keras-hub's `BytePairTokenizer` (keras_hub/src/tokenizers/
byte_pair_tokenizer.py: bytes mapped to unicode as GPT-2's `bytes_to_unicode`, merges by rank in
a `tf.while_loop`) after `split_like_gpt2`, GPT-2's pre-tokenizing regex in RE2, so the same
graph runs in tf.Transform, in the Trainer and in the served SavedModel.
tests/models/causal_lm/test_parity.py checks its ids against Hugging Face's on a committed
fixture.

>>> vocab = {"<|endoftext|>": 0, "a": 1, "b": 2, "Ġ": 3, "ab": 4, "Ġa": 5}
>>> tokenizer = ByteLevelBPE(vocab, ["a b", "Ġ a"])
>>> tokenizer.tokenize(tf.constant(["ab a", ""])).to_list()
[[4, 5], []]
>>> [t.decode() for t in tokenizer.detokenize(tf.ragged.constant([[4, 5, 0]])).numpy()]
['ab a<|endoftext|>']
"""

import collections
import json
import os
from typing import Dict, List, Sequence, Tuple

import tensorflow as tf

EOT = "<|endoftext|>"
VOCAB_JSON = "vocab.json"
MERGES_TXT = "merges.txt"
TOKENIZER_JSON = "tokenizer.json"


class BPEVocabularyError(ValueError):
    """A byte-level BPE vocabulary that cannot be read or does not hold together."""


def _load_json(path: str):
    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            return json.loads(f.read().decode("utf-8"))
    except (OSError, tf.errors.OpError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BPEVocabularyError(f"{path}: cannot be read as UTF-8 JSON ({error})") from None


def has_bpe_vocabulary(directory: str) -> bool:
    """Whether `directory` holds `vocab.json` + `merges.txt` or a BPE `tokenizer.json`."""
    if tf.io.gfile.exists(os.path.join(directory, VOCAB_JSON)):
        return True
    path = os.path.join(directory, TOKENIZER_JSON)
    return (tf.io.gfile.exists(path)
            and (_load_json(path).get("model") or {}).get("type") == "BPE")


def read_bpe(directory: str) -> Tuple[Dict[str, int], List[str]]:
    """(vocabulary token -> id, merge rules "a b" in rank order) of `directory`.

    Reads `vocab.json` + `merges.txt` if present, else `tokenizer.json` (its `model.vocab` and
    `model.merges`, which transformers 5 writes as pairs). Raises BPEVocabularyError naming the
    file and what is wrong: ids not exactly 0..n-1, no `<|endoftext|>`, a malformed merge line
    (with its line number), or a merge whose parts or result are not in the vocabulary (the
    merges belong to another vocabulary)."""
    vocab_path = os.path.join(directory, VOCAB_JSON)
    if tf.io.gfile.exists(vocab_path):
        vocab, where = _load_json(vocab_path), vocab_path
        merges_path = os.path.join(directory, MERGES_TXT)
        if not tf.io.gfile.exists(merges_path):
            raise BPEVocabularyError(f"{directory}: {VOCAB_JSON} without {MERGES_TXT}; a "
                                     "byte-level BPE vocabulary needs both")
        with tf.io.gfile.GFile(merges_path, "rb") as f:
            lines = f.read().decode("utf-8").split("\n")
        merges, merges_where = [], merges_path
        for number, line in enumerate(lines, 1):
            if not line.strip() or (number == 1 and line.startswith("#version")):
                continue
            if len(line.split(" ")) != 2:
                raise BPEVocabularyError(f"{merges_path}, line {number}: {line!r} is not a merge "
                                         "rule (two tokens separated by one space)")
            merges.append(line)
    else:
        where = os.path.join(directory, TOKENIZER_JSON)
        if not tf.io.gfile.exists(where):
            raise BPEVocabularyError(f"{directory}: no byte-level BPE vocabulary ({VOCAB_JSON} + "
                                     f"{MERGES_TXT}, or {TOKENIZER_JSON})")
        model = _load_json(where).get("model") or {}
        if model.get("type") != "BPE":
            raise BPEVocabularyError(f"{where}: model type {model.get('type')!r}, not BPE")
        vocab, merges_where = model.get("vocab") or {}, where
        merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges") or []]
        # Tokens the file adds outside the model (<|endoftext|> in GPT-2's) have ids too.
        for added in _load_json(where).get("added_tokens") or []:
            vocab.setdefault(added["content"], added["id"])
    check_bpe(vocab, merges, where, merges_where)
    return vocab, merges


def check_bpe(vocab: Dict[str, int], merges: Sequence[str], where: str = "the vocabulary",
              merges_where: str = "the merges") -> None:
    """Raises BPEVocabularyError unless ids are 0..len(vocab)-1, each once, EOT is a token and
    every merge's two parts and result are tokens."""
    ids = sorted(vocab.values())
    if ids != list(range(len(vocab))):
        repeated = sorted(i for i, n in collections.Counter(ids).items() if n > 1)
        raise BPEVocabularyError(
            f"{where}: token ids must be 0..{len(vocab) - 1}, each used once"
            + (f"; id(s) {repeated[:5]} are used more than once" if repeated else
               f"; found ids from {ids[0] if ids else None} to {ids[-1] if ids else None}"))
    if EOT not in vocab:
        raise BPEVocabularyError(f"{where}: no {EOT!r} token; GPT-2 vocabularies end documents "
                                 "with it")
    for rank, merge in enumerate(merges):
        left, right = merge.split(" ")
        missing = [t for t in (left, right, left + right) if t not in vocab]
        if missing:
            raise BPEVocabularyError(
                f"{merges_where}: merge rule {rank + 1} ({merge!r}) makes or uses "
                f"{', '.join(repr(t) for t in missing)}, not in {where}: the merges and the "
                "vocabulary come from different tokenizers")


def write_bpe(vocab: Dict[str, int], merges: Sequence[str], directory: str) -> None:
    """Writes `vocab.json` and `merges.txt` (with GPT-2's `#version: 0.2` line)."""
    tf.io.gfile.makedirs(directory)
    with tf.io.gfile.GFile(os.path.join(directory, VOCAB_JSON), "w") as f:
        f.write(json.dumps(vocab, ensure_ascii=False))
    with tf.io.gfile.GFile(os.path.join(directory, MERGES_TXT), "w") as f:
        f.write("#version: 0.2\n" + "".join(m + "\n" for m in merges))


def copy_bpe(source_dir: str, directory: str) -> None:
    """The vocabulary of `source_dir` (any form `read_bpe` reads) as `vocab.json` +
    `merges.txt` in `directory`."""
    write_bpe(*read_bpe(source_dir), directory)


def tokens_by_id(vocab: Dict[str, int]) -> List[str]:
    return [token for token, _ in sorted(vocab.items(), key=lambda item: item[1])]


# Unicode White_Space: what GPT-2's \s matches in Hugging Face's tokenizers (Oniguruma, Unicode
# aware); RE2's \s is ASCII only.
_WS = (r"\t\n\x0b\f\r \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}"
       r"\x{3000}")
_WORD = rf"\p{{L}}+|\p{{N}}+|[^{_WS}\p{{L}}\p{{N}}]+"
# GPT-2's pattern 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
# has a lookahead, which RE2 lacks. Its effect, spelled out: a run of whitespace before a word
# gives its last character to the word if that is a space (\2 \3) and is cut before its last
# character otherwise (\5 \6); a run at the end stays whole (\4).
_PIECES = (rf"('s|'t|'re|'ve|'m|'ll|'d| ?(?:{_WORD}))"
           rf"|([{_WS}]*)( (?:{_WORD}))"
           rf"|([{_WS}]+$)"
           rf"|([{_WS}]*)([{_WS}])")
_CUT = b"\xff"  # a byte that is never in UTF-8 text
_REWRITE = _CUT.join(b"\\%d" % i for i in range(1, 7)) + _CUT  # \1<cut>\2<cut>...\6<cut>


def split_like_gpt2(texts: tf.Tensor, unsplittable_tokens: Sequence[str] = (EOT,)
                    ) -> tf.RaggedTensor:
    """GPT-2's pre-tokenization (Hugging Face's `ByteLevel` pre-tokenizer without a prefix
    space): `[batch]` UTF-8 strings -> `[batch, (pieces)]` strings, the unsplittable tokens cut
    out first and kept whole (as Hugging Face's added tokens).

    It replaces keras-hub's `split_strings_for_bpe`, which keeps "\\n\\n" whole before a word
    where GPT-2 cuts it, splits trailing spaces, deletes U+096C (its marker) and stops at NUL
    (tensorflow_text.regex_split); tests/models/causal_lm/test_parity.py compares both with
    Hugging Face. One difference is left: RE2 in TensorFlow 2.16 has older Unicode tables, so
    letters and digits assigned since (Unicode 14 on, e.g. U+1C89) are punctuation to it.

    >>> [[p.decode() for p in row] for row in split_like_gpt2(tf.constant(
    ...     ["It's .\\n\\nThe  end  ", "a<|endoftext|>b"])).to_list()]
    [['It', "'s", ' .', '\\n', '\\n', 'The', ' ', ' end', '  '], ['a', '<|endoftext|>', 'b']]
    """
    texts = tf.reshape(tf.convert_to_tensor(texts, tf.string), [-1])
    for token in unsplittable_tokens:
        pattern = "".join(c if c.isalnum() else "\\" + c for c in token)
        texts = tf.strings.regex_replace(
            texts, pattern, _CUT + token.replace("\\", "\\\\").encode() + _CUT)
    segments = tf.strings.split(texts, sep=_CUT)  # text between the tokens, and the tokens
    flat = segments.flat_values
    special = tf.zeros_like(flat, tf.bool)
    for token in unsplittable_tokens:
        special |= tf.equal(flat, token)
    pieces = tf.strings.split(tf.where(special, flat, tf.strings.regex_replace(
        flat, _PIECES, _REWRITE)), sep=_CUT)
    pieces = tf.ragged.boolean_mask(pieces, tf.not_equal(pieces, ""))  # not `!=`: TF1 graphs
    return segments.with_flat_values(pieces).merge_dims(1, 2)


def _uncached_tokenizer_class():
    """keras-hub's BytePairTokenizer without its cache of merged words: the cache is a
    MutableHashTable that tf.Transform cannot save ("out of scope" when its graph is traced
    again) and that grows without bound in a long-running server. Every word is merged by the
    same `_bpe_merge` loop; only the lookup of words seen before is gone."""
    import keras_hub
    from keras_hub.src.tokenizers import byte_pair_tokenizer as kh

    class _NoCache:
        def insert(self, keys, values):
            pass

    class UncachedBytePairTokenizer(keras_hub.tokenizers.BytePairTokenizer):
        def set_vocabulary_and_merges(self, vocabulary, merges):
            original, kh.BytePairTokenizerCache = kh.BytePairTokenizerCache, _NoCache
            try:
                super().set_vocabulary_and_merges(vocabulary, merges)
            finally:
                kh.BytePairTokenizerCache = original

        def tokenize(self, inputs):
            inputs = tf.reshape(tf.convert_to_tensor(inputs), [-1])
            raw_tokens = split_like_gpt2(inputs, self.unsplittable_tokens or ())
            words = raw_tokens.flat_values
            merged = tf.strings.reduce_join(self._bpe_merge(self._transform_bytes(words)),
                                            axis=1, separator=" ")
            if self.unsplittable_tokens:  # kept whole (keras-hub seeds its cache with them)
                special = tf.reduce_any(tf.equal(words[:, tf.newaxis], tf.constant(
                    self.unsplittable_tokens)[tf.newaxis, :]), axis=1)
                merged = tf.where(special, words, merged)
            tokens = tf.strings.split(merged, sep=" ")
            tokens = self.token_to_id_map.lookup(tokens)
            return tf.RaggedTensor.from_row_splits(
                tokens.flat_values, tf.gather(tokens.row_splits, raw_tokens.row_splits))

    return UncachedBytePairTokenizer


class ByteLevelBPE(tf.Module):
    """GPT-2's tokenizer in TensorFlow ops (keras-hub's `BytePairTokenizer` without its word
    cache, EOT unsplittable as in Hugging Face's GPT-2 tokenizer). In a SavedModel, build it
    outside the traced function and keep it on a tracked object (its lookup tables are
    resources); in a `preprocessing_fn`, build it inside (tf.Transform tracks the tables).

    `tokenize(texts)`: `[batch]` string -> `[batch, (tokens)]` int64 ragged.
    `detokenize(ids)`: `[batch, (tokens)]` int -> `[batch]` string (UTF-8; bytes of a character
    cut in two are dropped, as Hugging Face's `decode` replaces them)."""

    def __init__(self, vocab: Dict[str, int], merges: Sequence[str]):
        super().__init__(name="byte_level_bpe")
        check_bpe(vocab, merges)
        self.vocab_size = len(vocab)
        self.eot_id = vocab[EOT]
        self.layer = _uncached_tokenizer_class()(
            vocabulary=dict(vocab), merges=list(merges), unsplittable_tokens=[EOT],
            dtype="int32")

    @classmethod
    def load(cls, directory: str) -> "ByteLevelBPE":
        return cls(*read_bpe(directory))

    def tokenize(self, texts: tf.Tensor) -> tf.RaggedTensor:
        from keras_hub.src.utils.tensor_utils import no_convert_scope

        with no_convert_scope():  # tensors out, also eagerly (not Python lists)
            ids = self.layer.tokenize(tf.reshape(texts, [-1]))
        return tf.cast(ids, tf.int64)

    def detokenize(self, ids) -> tf.Tensor:
        from keras_hub.src.utils.tensor_utils import no_convert_scope

        with no_convert_scope():
            text = self.layer.detokenize(tf.cast(ids, tf.int32))
        # Bytes of a character the generation cut short are not valid UTF-8: drop them.
        return tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="ignore")
