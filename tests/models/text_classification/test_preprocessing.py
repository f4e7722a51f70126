"""The classifier's Transform `preprocessing_fn` (models/text_classification/preprocessing.py),
called as tf.Transform calls it: a dict of `[batch, 1]` string tensors and the Tokenize component's
custom config."""

import numpy as np
import tensorflow as tf

from models.core import features
from models.text_classification.preprocessing import classifier_preprocessing_fn


def test_preprocessing_maps_labels_frames_text_and_buckets_length(vocab_file):
    config = {"vocab_file": vocab_file, "seq_length": 8, "labels": ["negative", "positive"]}
    out = classifier_preprocessing_fn({
        features.TEXT: tf.constant([["Very good film."], ["bad " * 40]]),
        features.LABEL: tf.constant([["positive"], ["neutral"]]),
    }, config)
    np.testing.assert_array_equal(out[features.TOKEN_IDS][0], [2, 8, 5, 7, 9, 3, 0, 0])
    assert out[features.TOKEN_IDS][1].numpy().tolist() == [2] + [6] * 6 + [3]  # truncated
    assert out[features.LABEL_ID].numpy().tolist() == [1, -1]  # unknown label → -1
    assert out[features.LENGTH_BUCKET].numpy().tolist() == [0, 2]  # 4 and 40 wordpieces


def test_preprocessing_without_label_is_the_serving_path(vocab_file):
    config = {"vocab_file": vocab_file, "seq_length": 8, "labels": ["negative", "positive"]}
    out = classifier_preprocessing_fn({features.TEXT: tf.constant([["good"]])}, config)
    assert features.LABEL_ID not in out
