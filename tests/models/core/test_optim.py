"""AdamW with warmup/decay and clipping (models/core/optim.py)."""

import numpy as np

from models.core import optim
from models.masked_lm.model import build_masked_lm


def test_warmup_then_linear_decay():
    schedule = optim.WarmupLinearDecay(1e-3, warmup_steps=10, total_steps=110)
    values = [float(schedule(s)) for s in (0, 5, 10, 60, 110, 200)]
    np.testing.assert_allclose(values, [0.0, 5e-4, 1e-3, 5e-4, 0.0, 0.0], atol=1e-9)
    assert optim.WarmupLinearDecay(**schedule.get_config()).get_config() == schedule.get_config()


def test_optimizer_clips_global_norm_and_skips_decay_on_norms_and_biases():
    optimizer = optim.make_optimizer(1e-3, total_steps=100, clip_norm=0.5, weight_decay=0.01)
    assert optimizer.global_clipnorm == 0.5
    model = build_masked_lm(40, 16, "tiny")
    decayed = {v.path for v in model.trainable_variables if optimizer._use_weight_decay(v)}
    assert decayed and all("gamma" not in p and "beta" not in p and "bias" not in p for p in decayed)
    assert any("kernel" in p for p in decayed)
