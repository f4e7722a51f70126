"""The masked LM's Transform `preprocessing_fn` (models/masked_lm/preprocessing.py), called as
tf.Transform calls it: a dict of `[batch, 1]` string tensors and the Tokenize component's custom config."""

import pytest
import tensorflow as tf

from models.core import features
from models.masked_lm import preprocessing

VOCAB = list(features.RESERVED_TOKENS) + ["good", "bad", "film", "very", "."]


def test_pretraining_packs_each_document_into_windows(vocab_file):
    out = preprocessing.preprocessing_fn({
        features.TEXT: tf.constant([["Very good film."], ["bad " * 10], [""]]),
    }, {"vocab_file": vocab_file, "seq_length": 8})
    packed = tf.sparse.to_dense(out[features.PACKED_IDS]).numpy()
    # 4 wordpieces fit one window; 10 need two windows of at most 6; empty text is one window.
    assert packed[0][:8].tolist() == [2, 8, 5, 7, 9, 3, 0, 0]
    assert packed[1].tolist() == [2] + [6] * 6 + [3] + [2] + [6] * 4 + [3, 0, 0]
    assert packed[2][:8].tolist() == [2, 3, 0, 0, 0, 0, 0, 0]
    lengths = tf.sparse.to_dense(tf.sparse.map_values(tf.ones_like, out[features.PACKED_IDS]))
    assert lengths.numpy().sum(axis=1).tolist() == [8, 16, 8]  # whole windows only


def test_a_vocabulary_without_the_special_tokens_is_refused(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("good\nbad\n")
    with pytest.raises(ValueError, match=r"vocab.txt has no \[PAD\] \[UNK\] \[CLS\] \[SEP\] \[MASK\]"):
        preprocessing.preprocessing_fn({features.TEXT: tf.constant([["good"]])},
                                       {"vocab_file": str(path), "seq_length": 8})
