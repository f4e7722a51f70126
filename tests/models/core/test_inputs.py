"""The shared reader (models/core/inputs.py): each pass over the training split is a fresh
permutation of all of it."""

import numpy as np
import pytest
import tensorflow as tf

from models.core import inputs


def test_the_training_shuffle_spans_the_whole_split(caplog):
    """Tokenize writes blocks in the corpus's order (one source after another); the shuffle
    buffer holds the whole split, so the first draws of every pass come from every source, as
    a fresh permutation per epoch (Hugging Face's Trainer) does. A buffer that holds a part
    keeps the order (the check below fails for it) and says so in the log."""
    sources, per_source = 3, 2000
    records = tf.data.Dataset.range(sources * per_source).map(
        lambda i: tf.strings.as_string(i, width=4, fill="0"))  # 4 bytes each

    def first_draws_by_source(ds, passes=2):
        out = []
        for epoch in ds.repeat(passes).batch(sources * per_source).take(passes):
            first = np.array([int(x) for x in epoch.numpy()[:600]])
            out.append(np.bincount(first // per_source, minlength=sources) / len(first))
            assert sorted(int(x) for x in epoch.numpy()) == list(range(sources * per_source))
        return out

    whole = inputs.uniform_shuffle(records, seed=5)
    fractions = first_draws_by_source(whole)
    for by_source in fractions:
        assert np.all(np.abs(by_source - 1 / sources) < 0.08), by_source
    assert not np.array_equal(*[list(e.numpy()) for e in whole.repeat(2).batch(
        sources * per_source).take(2)])  # a new order each pass

    with caplog.at_level("WARNING"):
        part = inputs.uniform_shuffle(records, seed=5, budget_bytes=4 * 1000)
    assert "Shuffle buffer: 1000 of 6000 examples" in caplog.text
    assert first_draws_by_source(part, passes=1)[0][2] == 0  # the last source never drawn first

    with pytest.raises(ValueError, match="no examples"):
        inputs.uniform_shuffle(records.take(0), seed=5)
