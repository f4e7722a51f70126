import numpy as np
import pytest
import tensorflow as tf

from models import features, tokenization

VOCAB = list(features.RESERVED_TOKENS) + [
    "the", "cat", "sat", "on", "mat", ".", ",", "un", "##believ", "##able", "cafe", "!"]


@pytest.fixture(scope="module")
def tokenizer():
    return tokenization.WordpieceTokenizer(VOCAB)


def test_pretokenize_lowercases_strips_accents_and_splits_punctuation():
    words = tokenization.pretokenize(tf.constant(["The Café, UNBELIEVABLE!", "  a\tb\n"]))
    assert words.to_list() == [[b"the", b"cafe", b",", b"unbelievable", b"!"], [b"a", b"b"]]


def test_mask_literal_stays_one_token_in_any_case(tokenizer):
    ids = tokenizer.tokenize(tf.constant(["the [MASK] sat", "the [mask] sat", "[MASK][MASK]"]))
    assert ids.to_list() == [[5, 4, 7], [5, 4, 7], [4, 4]]


def test_round_trip_ids_to_pieces_to_words(tokenizer):
    text = "The cat sat on the mat, unbelievable!"
    ids = tokenizer.tokenize(tf.constant([text]))[0].numpy()
    pieces = [VOCAB[i] for i in ids]
    assert pieces == ["the", "cat", "sat", "on", "the", "mat", ",", "un", "##believ", "##able", "!"]
    rejoined = " ".join(pieces).replace(" ##", "")
    words = [w.decode() for w in tokenization.pretokenize(tf.constant([text]))[0].numpy()]
    assert rejoined.split() == words


def test_unknown_words_map_to_unk(tokenizer):
    assert tokenizer.tokenize(tf.constant(["zebra"])).to_list() == [[features.UNK_ID]]


def test_vocabulary_must_start_with_reserved_tokens():
    with pytest.raises(ValueError, match=r"must start with \[PAD\] \[UNK\] \[CLS\] \[SEP\] \[MASK\]"):
        tokenization.WordpieceTokenizer(["the", "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])


@pytest.mark.parametrize("length, windows", [(0, 1), (1, 1), (6, 1), (7, 2), (12, 2), (13, 3)])
def test_frame_windows_counts_and_framing(length, windows):
    seq_length = 8  # 6 tokens per window
    ids = tf.ragged.constant([list(range(10, 10 + length))], dtype=tf.int64)
    packed = tokenization.frame_windows(ids, seq_length)[0].numpy().reshape(-1, seq_length)
    assert packed.shape == (windows, seq_length)
    assert (packed[:, 0] == features.CLS_ID).all()
    body = [t for row in packed for t in row if t >= 10]
    assert body == list(range(10, 10 + length))  # every token once, in order
    for row in packed:
        real = row[row != features.PAD_ID]
        assert real[-1] == features.SEP_ID and (row[len(real):] == features.PAD_ID).all()


def test_frame_windows_batch_keeps_one_row_per_document():
    ids = tf.ragged.constant([[11, 12], [], [13] * 9], dtype=tf.int64)
    packed = tokenization.frame_windows(ids, 5)
    assert packed.row_lengths().numpy().tolist() == [5, 5, 15]
    np.testing.assert_array_equal(packed[0].numpy(), [2, 11, 12, 3, 0])
