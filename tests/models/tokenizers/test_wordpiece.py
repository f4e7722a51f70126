import json

import numpy as np
import pytest
import tensorflow as tf

from models.core import features
from models.tokenizers import wordpiece as tokenization

VOCAB = list(features.RESERVED_TOKENS) + [
    "the", "cat", "sat", "on", "mat", ".", ",", "un", "##believ", "##able", "cafe", "!"]
LMPIPE = tokenization.SpecialIds(*range(5))
PARITY = "tests/data/bert_parity"


@pytest.fixture(scope="module")
def tokenizer():
    return tokenization.Tokenizer(VOCAB)


def test_pretokenize_lowercases_strips_accents_and_splits_punctuation():
    words = tokenization.pretokenize(tf.constant(["The Café, UNBELIEVABLE!", "  a\tb\n"]))
    assert words.to_list() == [[b"the", b"cafe", b",", b"unbelievable", b"!"], [b"a", b"b"]]


def test_special_tokens_in_the_text_are_matched_before_lower_casing(tokenizer):
    ids = tokenizer.tokenize(tf.constant(["the [MASK] sat", "[MASK][MASK]", "the [mask] sat"]))
    # "[mask]" is text, as in Hugging Face's tokenizer: "[" and "]" are unknown here.
    assert ids.to_list() == [[5, 4, 7], [4, 4], [5, 1, 1, 1, 7]]


def test_round_trip_ids_to_pieces_to_words(tokenizer):
    text = "The cat sat on the mat, unbelievable!"
    ids = tokenizer.tokenize(tf.constant([text]))[0].numpy()
    pieces = [VOCAB[i] for i in ids]
    assert pieces == ["the", "cat", "sat", "on", "the", "mat", ",", "un", "##believ", "##able", "!"]
    rejoined = " ".join(pieces).replace(" ##", "")
    words = [w.decode() for w in tokenization.pretokenize(tf.constant([text]))[0].numpy()]
    assert rejoined.split() == words


def test_unknown_and_over_long_words_map_to_unk(tokenizer):
    assert tokenizer.tokenize(tf.constant(["zebra"])).to_list() == [[features.UNK_ID]]
    # 100 characters of "the" pieces would be wordpieces if the limit were not 100 characters.
    assert tokenizer.tokenize(tf.constant(["cat" * 34 + " cat"])).to_list() == [[1, 6]]


def test_special_tokens_are_found_wherever_the_vocabulary_puts_them():
    vocab = ["[PAD]"] + [f"[unused{i}]" for i in range(99)] + ["[UNK]", "[CLS]", "[SEP]",
                                                               "[MASK]", "hello"]
    tok = tokenization.Tokenizer(vocab)
    assert tok.special == tokenization.SpecialIds(pad=0, unk=100, cls=101, sep=102, mask=103)
    assert tok.tokenize(tf.constant(["Hello [MASK] bye"])).to_list() == [[104, 103, 100]]


def test_a_vocabulary_without_a_special_token_is_refused_by_name():
    with pytest.raises(tokenization.VocabularyError, match=r"vocab.txt has no \[MASK\]"):
        tokenization.Tokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "the"], where="vocab.txt")
    with pytest.raises(tokenization.VocabularyError, match=r"puts \[PAD\] at id 1"):
        tokenization.Tokenizer(["the", "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])


def test_settings_travel_beside_the_vocabulary(tmp_path):
    (tmp_path / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    assert tokenization.load_tokenizer(str(tmp_path / "vocab.txt")).settings.lowercase
    tokenization.TokenizerSettings(lowercase=False).write(str(tmp_path))
    copied = tokenization.copy_vocabulary(str(tmp_path / "vocab.txt"), str(tmp_path / "copy"))
    cased = tokenization.load_tokenizer(copied)
    assert not cased.settings.lowercase and not cased.settings.strips_accents
    assert cased.tokenize(tf.constant(["The cat"])).to_list() == [[1, 6]]


def _hf_ids(expected, mode):
    return np.split(expected[f"{mode}_ids"], np.cumsum(expected[f"{mode}_lengths"])[:-1])


@pytest.mark.parametrize("lowercase", [False, True], ids=["cased", "uncased"])
def test_same_ids_as_hugging_face_for_every_sentence(lowercase):
    """bench/make_bert_parity.py recorded BertTokenizerFast's ids for 3,000 sentences of the
    bundled corpus and reviews plus accents, CJK, emoji, control characters, long words."""
    with open(f"{PARITY}/sentences.txt", encoding="utf-8") as f:
        sentences = [json.loads(line) for line in f]
    expected = _hf_ids(np.load(f"{PARITY}/expected.npz"), "uncased" if lowercase else "cased")
    vocab = tokenization.read_vocab(f"{PARITY}/checkpoint/vocab.txt")
    tok = tokenization.Tokenizer(vocab, tokenization.TokenizerSettings(lowercase=lowercase))
    got = tok.tokenize(tf.constant(sentences)).to_list()
    differ = [s for s, g, e in zip(sentences, got, expected) if list(g) != e.tolist()]
    assert len(got) == len(sentences) > 3000 and not differ, differ[:5]


@pytest.mark.parametrize("length, windows", [(0, 1), (1, 1), (6, 1), (7, 2), (12, 2), (13, 3)])
def test_frame_windows_counts_and_framing(length, windows):
    seq_length = 8  # 6 tokens per window
    ids = tf.ragged.constant([list(range(10, 10 + length))], dtype=tf.int64)
    packed = tokenization.frame_windows(ids, seq_length, LMPIPE)[0].numpy().reshape(-1, seq_length)
    assert packed.shape == (windows, seq_length)
    assert (packed[:, 0] == features.CLS_ID).all()
    body = [t for row in packed for t in row if t >= 10]
    assert body == list(range(10, 10 + length))  # every token once, in order
    for row in packed:
        real = row[row != features.PAD_ID]
        assert real[-1] == features.SEP_ID and (row[len(real):] == features.PAD_ID).all()


def test_frame_windows_batch_keeps_one_row_per_document():
    ids = tf.ragged.constant([[11, 12], [], [13] * 9], dtype=tf.int64)
    packed = tokenization.frame_windows(ids, 5, LMPIPE)
    assert packed.row_lengths().numpy().tolist() == [5, 5, 15]
    np.testing.assert_array_equal(packed[0].numpy(), [2, 11, 12, 3, 0])
    google = tokenization.SpecialIds(pad=0, unk=100, cls=101, sep=102, mask=103)
    np.testing.assert_array_equal(tokenization.frame_windows(ids, 5, google)[0].numpy(),
                                  [101, 11, 12, 102, 0])


def test_pairs_are_framed_and_cut_longest_first_as_hugging_face_does():
    """bench/make_bert_parity.py recorded `tokenizer(a, b, truncation="longest_first")` for
    300 pairs of the sentences, cut to 24 tokens."""
    pairs = np.load(f"{PARITY}/pairs.npz")
    vocab = tokenization.read_vocab(f"{PARITY}/checkpoint/vocab.txt")
    tok = tokenization.Tokenizer(vocab, tokenization.TokenizerSettings(lowercase=False))
    token_ids, segment_ids = tokenization.frame_pair(
        tok.tokenize(tf.constant(pairs["first"])), tok.tokenize(tf.constant(pairs["second"])),
        int(pairs["max_length"]), tok.special)
    np.testing.assert_array_equal(token_ids.numpy(), pairs["input_ids"])
    # Hugging Face gives padding segment 0, as lmpipe does.
    np.testing.assert_array_equal(segment_ids.numpy(), pairs["token_type_ids"])
    assert (pairs["input_ids"][:, -1] != 0).mean() > 0.5  # most were cut


@pytest.mark.parametrize("seq_length, first, second, kept", [
    (11, 3, 4, (3, 4)), (11, 10, 2, (6, 2)), (11, 2, 10, (2, 6)), (11, 10, 10, (4, 4)),
    (11, 5, 10, (4, 4)), (11, 0, 0, (0, 0)), (12, 10, 10, (4, 5)), (12, 4, 10, (4, 5)),
    (12, 10, 5, (5, 4))])
def test_longest_first_truncation_keeps(seq_length, first, second, kept):
    # 8 (9) tokens besides [CLS] [SEP] [SEP]; an odd budget leaves the odd one to the longer
    # text (the second of two as long).
    token_ids, segment_ids = tokenization.frame_pair(
        tf.ragged.constant([list(range(10, 10 + first))], dtype=tf.int64, ragged_rank=1),
        tf.ragged.constant([list(range(50, 50 + second))], dtype=tf.int64, ragged_rank=1),
        seq_length, LMPIPE)
    ids = token_ids.numpy()[0].tolist()
    assert ids[0] == 2 and ids.count(3) == 2
    assert (sum(10 <= i < 50 for i in ids), sum(i >= 50 for i in ids)) == kept
    assert segment_ids.numpy()[0].tolist() == [0] * (kept[0] + 2) + [1] * (kept[1] + 1) + [0] * (
        seq_length - sum(kept) - 3)


def test_read_vocab_splits_at_line_feeds_only(tmp_path):
    """One token a line, as Hugging Face reads vocab.txt: a `\\r\\n` line end is one line end, a
    U+2028 or U+0085 inside a token is part of it; a final line end starts no token."""
    path = tmp_path / "vocab.txt"
    path.write_bytes("[PAD]\r\n[UNK]\na\u2028b\nc\x85d\n\n".encode())
    assert tokenization.read_vocab(str(path)) == ["[PAD]", "[UNK]", "a\u2028b", "c\x85d", ""]


def test_read_vocab_refuses_duplicates_naming_the_token_and_both_lines(tmp_path):
    path = tmp_path / "vocab.txt"
    tokens = ["[PAD]", "the", "a", "the"] + [f"w{i % 7}" for i in range(14)]
    path.write_text("\n".join(tokens) + "\n", encoding="utf-8")
    with pytest.raises(tokenization.VocabularyError) as e:
        tokenization.read_vocab(str(path))
    assert str(e.value) == (
        f"{path}: 8 duplicate tokens: 'the' on lines 2 and 4; 'w0' on lines 5 and 12; 'w1' on "
        "lines 6 and 13; 'w2' on lines 7 and 14; 'w3' on lines 8 and 15 (and 3 more). Every "
        "token must appear once (its line number is its id): remove lines 4, 12, 13, 14, 15 ... "
        "or the earlier lines, whichever the model was not trained with (Hugging Face's "
        "tokenizers would silently give such a token the id of its last line).")
