"""Dynamic masking in the input pipeline (models/masked_lm/inputs.py): the static masker's rules,
applied anew each time a window is read."""

import numpy as np
import tensorflow as tf

from models.core import features
from models.masked_lm.inputs import dynamic_masked_lm_dataset, mask_batch
from models.tokenizers.wordpiece import SpecialIds

LMPIPE = SpecialIds(*range(5))
GOOGLE = SpecialIds(pad=0, unk=100, cls=101, sep=102, mask=103)


def _windows(special, rows=256, seq_length=32, vocab_size=200, seed=0):
    rng = np.random.default_rng(seed)
    ids = np.full((rows, seq_length), special.pad, np.int64)
    lengths = rng.integers(0, seq_length - 1, size=rows)
    for row, length in enumerate(lengths):
        body = rng.integers(0, vocab_size, size=length)
        body = body[~np.isin(body, special.ids)]
        ids[row, :len(body) + 2] = [special.cls, *body, special.sep]
    return ids


def test_dynamic_masking_follows_berts_rules():
    ids = _windows(GOOGLE)
    x, originals, weights = mask_batch(tf.constant(ids), tf.constant([7, 0], tf.int64),
                                       max_predictions=5, mask_rate=0.15, special=GOOGLE,
                                       vocab_size=200)
    masked, positions = x["token_ids"].numpy(), x["mask_positions"].numpy()
    originals, weights = originals.numpy(), weights.numpy()
    actions = {"mask": 0, "random": 0, "kept": 0}
    for row in range(len(ids)):
        candidates = int((~np.isin(ids[row], GOOGLE.ids)).sum())
        n = int(weights[row].sum())
        assert n == (min(5, max(1, round(candidates * 0.15))) if candidates else 0)
        chosen = positions[row][:n]
        assert np.all(np.diff(chosen) > 0) and not np.isin(ids[row][chosen], GOOGLE.ids).any()
        np.testing.assert_array_equal(originals[row][:n], ids[row][chosen])
        others = np.setdiff1d(np.arange(ids.shape[1]), chosen)
        np.testing.assert_array_equal(masked[row][others], ids[row][others])  # only chosen change
        for position in chosen:
            new = masked[row][position]
            if new == GOOGLE.mask:
                actions["mask"] += 1
            elif new == ids[row][position]:
                actions["kept"] += 1
            else:
                actions["random"] += 1
                assert new not in GOOGLE.ids and 0 <= new < 200
    total = sum(actions.values())
    assert 0.7 < actions["mask"] / total < 0.9 and 0.03 < actions["random"] / total < 0.17
    np.testing.assert_array_equal(x["padding_mask"].numpy(), (ids != 0).astype(np.int32))


def test_the_same_seed_masks_the_same_and_another_seed_differently():
    ids = tf.constant(_windows(LMPIPE))

    def mask(step):
        return mask_batch(ids, tf.constant([1, step], tf.int64), 8, 0.15, LMPIPE,
                          200)[0]["mask_positions"].numpy()

    np.testing.assert_array_equal(mask(0), mask(0))
    assert (mask(0) != mask(1)).any()


def test_the_dataset_reads_transform_windows_and_masks_them_anew_each_epoch(tmp_path):
    seq_length = 16
    documents = [_windows(LMPIPE, rows=rows, seq_length=seq_length, seed=rows).ravel()
                 for rows in (1, 3, 2)]
    path = str(tmp_path / "windows.gz")
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for packed in documents:
            writer.write(tf.train.Example(features=tf.train.Features(feature={
                features.PACKED_IDS: tf.train.Feature(int64_list=tf.train.Int64List(
                    value=packed))})).SerializeToString())
    ds = dynamic_masked_lm_dataset([path], seq_length, 4, 0.15, LMPIPE, 200,
                                   batch_size=6, shuffle=False)
    (first, _, w1), (second, _, w2) = list(ds.take(2))
    np.testing.assert_array_equal(np.sort(first["padding_mask"].numpy().sum(1)),
                                  np.sort(second["padding_mask"].numpy().sum(1)))  # 6 windows
    assert first["token_ids"].shape == (6, seq_length)
    assert (first["mask_positions"].numpy() != second["mask_positions"].numpy()).any()
    assert (w1.numpy().sum(1) >= 1).all()  # every window with a token to predict gets one
