"""Model, optimizer, trainer and TFMA metric units, on synthetic data."""

import glob
import json
import math
import os

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_model_analysis.metrics import metric_types

from components.mlm_masker import masking
from models import bert, features, mlm_data, mlm_metrics, optim, trainer
from pipeline.config import PretrainConfig

SEQ, PRED, VOCAB = 16, 3, 40


def test_warmup_then_linear_decay():
    schedule = optim.WarmupLinearDecay(1e-3, warmup_steps=10, total_steps=110)
    values = [float(schedule(s)) for s in (0, 5, 10, 60, 110, 200)]
    np.testing.assert_allclose(values, [0.0, 5e-4, 1e-3, 5e-4, 0.0, 0.0], atol=1e-9)
    assert optim.WarmupLinearDecay(**schedule.get_config()).get_config() == schedule.get_config()


def test_optimizer_clips_global_norm_and_skips_decay_on_norms_and_biases():
    optimizer = optim.make_optimizer(1e-3, total_steps=100, clip_norm=0.5, weight_decay=0.01)
    assert optimizer.global_clipnorm == 0.5
    model = bert.build_masked_lm(VOCAB, SEQ, "tiny")
    decayed = {v.path for v in model.trainable_variables if optimizer._use_weight_decay(v)}
    assert decayed and all("gamma" not in p and "beta" not in p and "bias" not in p for p in decayed)
    assert any("kernel" in p for p in decayed)


def test_masked_lm_outputs_logits_at_positions():
    model = bert.build_masked_lm(VOCAB, SEQ, "tiny")
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
    cfg = PretrainConfig(corpus_dir="unused", seq_length=SEQ, max_predictions=PRED, batch_size=16,
                         train_steps=120, checkpoint_every=60, eval_steps=4, learning_rate=3e-3,
                         dropout=0.0)
    log_dir = str(tmp_path / "logs")
    model = trainer.train_masked_lm(cfg, [str(tmp_path / "train.gz")], [str(tmp_path / "eval.gz")],
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
    # The dataset the model trained on is what mlm_data promises.
    x, y, w = next(iter(mlm_data.masked_lm_dataset([str(tmp_path / "eval.gz")], SEQ, PRED, 4)))
    assert x["token_ids"].shape == (4, SEQ) and y.shape == (4, PRED) and w.shape == (4, PRED)
    assert model.count_params() > 0


def test_tfma_metrics_add_up_per_masked_token():
    inputs = [metric_types.StandardMetricInputs(predictions={
        "masked_correct": np.array([c]), "masked_count": np.array([n]), "masked_nll": np.array([l])})
        for c, n, l in [(1.0, 2.0, 2.0), (3.0, 3.0, 1.0)]]
    results = {}
    for metric in (mlm_metrics.MaskedLMAccuracy(), mlm_metrics.MaskedLMLoss(),
                   mlm_metrics.MaskedLMPerplexity()):
        computation, = metric.computations()
        combiner = computation.combiner
        accumulator = combiner.create_accumulator()
        for element in inputs:
            accumulator = combiner.add_input(accumulator, element)
        merged = combiner.merge_accumulators([accumulator, combiner.create_accumulator()])
        results.update({k.name: v for k, v in combiner.extract_output(merged).items()})
    assert results["masked_accuracy"] == pytest.approx(4 / 5)
    assert results["masked_loss"] == pytest.approx(3 / 5)
    assert results["perplexity"] == pytest.approx(math.exp(3 / 5))
