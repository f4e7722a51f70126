"""The masked-LM model and its trainer (models/masked_lm/model.py, models/masked_lm/trainer.py), on
synthetic data."""

import glob
import json
import os

import numpy as np
import tensorflow as tf

from components.mlm_masker import masking
from models.core import features
from models.masked_lm.settings import MaskedLMSettings
from models.masked_lm.inputs import masked_lm_dataset
from models.masked_lm.model import build_masked_lm
from models.masked_lm.trainer import train_masked_lm

SEQ, PRED, VOCAB = 16, 3, 40


def test_masked_lm_outputs_logits_at_positions():
    model = build_masked_lm(VOCAB, SEQ, "tiny")
    inputs = {"token_ids": np.full((2, SEQ), 7), "segment_ids": np.zeros((2, SEQ)),
              "padding_mask": np.ones((2, SEQ)), "mask_positions": np.array([[1, 2, 3], [4, 5, 6]])}
    assert tuple(model(inputs).shape) == (2, 3, VOCAB)


def _write_masked_records(path, n, rng):
    """Windows that repeat one token, so the model can learn to fill masks from context."""
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for i in range(n):
            token = 5 + i % (VOCAB - 5)
            window = np.array([features.CLS_ID] + [token] * (SEQ - 2) + [features.SEP_ID])
            masked = masking.mask_window(window, rng, VOCAB, 0.15, PRED)
            feats = {k: tf.train.Feature(float_list=tf.train.FloatList(value=v))
                     if k == features.MASK_WEIGHTS else
                     tf.train.Feature(int64_list=tf.train.Int64List(value=v))
                     for k, v in masked.items()}
            writer.write(tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString())


def test_trainer_learns_and_logs(tmp_path):
    rng = np.random.default_rng(0)
    _write_masked_records(str(tmp_path / "train.gz"), 256, rng)
    _write_masked_records(str(tmp_path / "eval.gz"), 64, rng)
    settings = MaskedLMSettings(seq_length=SEQ, max_predictions=PRED, batch_size=16,
                                train_steps=120, checkpoint_every=60, eval_steps=4,
                                learning_rate=3e-3, dropout=0.0)
    log_dir = str(tmp_path / "logs")
    model = train_masked_lm(settings, [str(tmp_path / "train.gz")], [str(tmp_path / "eval.gz")],
                            VOCAB, log_dir)
    with open(os.path.join(log_dir, "train_summary.json")) as f:
        summary = json.load(f)
    assert summary["steps"] == 120
    assert summary["val_masked_accuracy"] > 0.5  # chance is 1/35
    assert summary["tokens_per_second"] > 0
    assert sorted(os.listdir(os.path.join(log_dir, "checkpoints"))) == [
        "epoch-001.weights.h5", "epoch-002.weights.h5"]
    tags = set()
    for event_file in glob.glob(os.path.join(log_dir, "train", "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(event_file):
            tags.update(v.tag for v in event.summary.value)
    assert {"tokens_per_second", "learning_rate", "epoch_loss", "epoch_masked_accuracy"} <= tags
    # The dataset the model trained on is what models/core/inputs.py promises.
    x, y, w = next(iter(masked_lm_dataset([str(tmp_path / "eval.gz")], SEQ, PRED, 4)))
    assert x["token_ids"].shape == (4, SEQ) and y.shape == (4, PRED) and w.shape == (4, PRED)
    assert model.count_params() > 0
