"""AdamW with linear warmup then linear decay, and global-norm gradient clipping (BERT's recipe).

Example:

>>> schedule = WarmupLinearDecay(peak_learning_rate=1e-3, warmup_steps=10, total_steps=100)
>>> [round(float(schedule(s)), 5) for s in (0, 5, 10, 55, 100)]
[0.0, 0.0005, 0.001, 0.0005, 0.0]
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="lmpipe")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """0 → peak over `warmup_steps`, then linearly to 0 at `total_steps`."""

    def __init__(self, peak_learning_rate: float, warmup_steps: int, total_steps: int):
        self.peak_learning_rate = peak_learning_rate
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warmup = ops.cast(max(self.warmup_steps, 1), "float32")
        decay_span = ops.cast(max(self.total_steps - self.warmup_steps, 1), "float32")
        rising = self.peak_learning_rate * step / warmup
        falling = self.peak_learning_rate * (1.0 - (step - self.warmup_steps) / decay_span)
        rate = ops.where(step < self.warmup_steps, rising, falling)
        return ops.maximum(rate, 0.0)

    def get_config(self):
        return {"peak_learning_rate": self.peak_learning_rate,
                "warmup_steps": self.warmup_steps, "total_steps": self.total_steps}


def make_optimizer(learning_rate: float, total_steps: int, warmup_ratio: float = 0.1,
                   weight_decay: float = 0.01, clip_norm: float = 1.0,
                   grad_accum_steps: int = 1) -> keras.optimizers.AdamW:
    """AdamW on the warmup/decay schedule; no weight decay on biases and LayerNorm.

    `total_steps` counts optimizer updates; with `grad_accum_steps` > 1 an update averages that
    many steps' gradients (Keras counts `optimizer.iterations` and the schedule in updates)."""
    schedule = WarmupLinearDecay(learning_rate, int(total_steps * warmup_ratio), total_steps)
    optimizer = keras.optimizers.AdamW(
        learning_rate=schedule, weight_decay=weight_decay, epsilon=1e-6,
        global_clipnorm=clip_norm,
        gradient_accumulation_steps=grad_accum_steps if grad_accum_steps > 1 else None)
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta", "layer_norm"])
    return optimizer
