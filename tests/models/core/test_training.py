"""The training loop (models/core/training.py): gradient accumulation, mixed precision and a mirrored
strategy train for real (tiny model, random tokens)."""

import keras
import numpy as np
import pytest

from models.core import training
from models.masked_lm.settings import MaskedLMSettings
from models.masked_lm.model import build_masked_lm, masked_lm_loss
from tests.conftest import REPO

SEQ, PREDS, VOCAB = 16, 4, 60


def batch(size=8, seed=0):
    rng = np.random.default_rng(seed)
    token_ids = rng.integers(5, VOCAB, size=(size, SEQ)).astype("int32")
    positions = np.tile(np.arange(1, 1 + PREDS, dtype="int32"), (size, 1))
    labels = token_ids[:, 1:1 + PREDS].copy()
    token_ids[:, 1:1 + PREDS] = 4  # [MASK]
    inputs = {"token_ids": token_ids, "segment_ids": np.zeros_like(token_ids),
              "padding_mask": np.ones_like(token_ids), "mask_positions": positions}
    return inputs, labels


def build(settings):
    strategy, plan = training.prepare(settings)
    with strategy.scope():
        model = build_masked_lm(VOCAB, SEQ, "tiny", dropout=0.0)
        model.compile(optimizer=training.make_optimizer(settings, plan), loss=masked_lm_loss())
    return model, plan


@pytest.fixture
def reset_policy():
    yield
    keras.mixed_precision.set_dtype_policy("float32")


def config(**changes):
    return MaskedLMSettings(train_steps=10, checkpoint_every=10, warmup_ratio=0.0,
                            learning_rate=1e-2, **changes)


def test_gradient_accumulation_updates_every_k_steps():
    model, plan = build(config(batch_size=4, grad_accum_steps=2))
    assert plan.effective_batch == 8
    inputs, labels = batch(4)
    before = [w.numpy().copy() for w in model.trainable_weights]
    model.train_on_batch(inputs, labels)  # accumulated, not applied
    assert int(model.optimizer.iterations.numpy()) == 0
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(before, model.trainable_weights))
    model.train_on_batch(inputs, labels)  # the second step applies the averaged gradient
    assert int(model.optimizer.iterations.numpy()) == 1
    assert not all(np.array_equal(a, w.numpy()) for a, w in zip(before, model.trainable_weights))


def test_mixed_bfloat16_trains_with_float32_weights_and_loss(reset_policy):
    model, _ = build(config(mixed_precision="mixed_bfloat16"))
    assert model.backbone.compute_dtype == "bfloat16"
    assert {w.dtype for w in model.trainable_weights} == {"float32"}
    inputs, labels = batch()
    assert model.get_layer("mlm_head").compute_dtype == "float32"
    logits = model(inputs)
    loss = masked_lm_loss()(labels, logits)
    # The encoder computes in bfloat16; logits, softmax and cross-entropy in float32.
    assert "float32" in str(logits.dtype) and "float32" in str(loss.dtype)
    losses = [float(model.train_on_batch(inputs, labels)) for _ in range(15)]
    assert np.isfinite(losses).all() and losses[-1] < 0.8 * losses[0]


def test_mixed_float16_gets_loss_scaling(reset_policy):
    model, _ = build(config(mixed_precision="mixed_float16"))
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)


MIRRORED = """
import json, sys
sys.path.insert(0, {repo!r})
import numpy as np, tensorflow as tf
from models.core import distribute, training
from models.masked_lm.model import build_masked_lm, masked_lm_loss
from models.masked_lm.settings import MaskedLMSettings
from tests.models.core.test_training import batch, SEQ, VOCAB
distribute.configure_devices("mirrored", 2)  # before TensorFlow starts, as lmpipe's CLI does
settings = MaskedLMSettings(strategy="mirrored", cpu_replicas=2, batch_size=8, train_steps=4,
                            checkpoint_every=2, eval_steps=1)
strategy, plan = training.prepare(settings)
with strategy.scope():
    model = build_masked_lm(VOCAB, SEQ, "tiny", dropout=0.0)
    model.compile(optimizer=training.make_optimizer(settings, plan), loss=masked_lm_loss())
x, y = batch(8)
ds = tf.data.Dataset.from_tensors((x, y, np.ones_like(y, dtype="float32"))).repeat()
print(json.dumps(training.fit_and_log(model, settings, plan, ds, ds, {logs!r})))
"""


def test_mirrored_strategy_splits_the_batch_over_two_logical_cpus(tmp_path):
    import json
    import subprocess
    import sys

    script = MIRRORED.format(repo=REPO, logs=str(tmp_path))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["replicas"] == 2 and summary["steps"] == 4
