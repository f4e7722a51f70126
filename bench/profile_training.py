"""Where our MLM training step's time goes (run by hand): the whole step as the Trainer runs
it, then the same step without dropout, without the optimizer update (forward + backward
only) and the forward pass alone, each XLA-compiled or not.

    .venv/bin/python bench/profile_training.py --size mini

Prints one JSON line of milliseconds per step (median of `--steps`).
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.ours_train import write_masked_examples  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="mini")
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()

    import keras
    import tensorflow as tf

    from models.core import optim
    from models.masked_lm.inputs import masked_lm_dataset
    from models.masked_lm import model as masked_lm

    seq_length, batch, vocab, max_predictions = 128, 32, 8000, 19
    data = os.path.join(tempfile.mkdtemp(), "masked.gz")
    write_masked_examples(data, batch, seq_length, max_predictions, vocab, 0.15)
    inputs, labels, weights = next(iter(masked_lm_dataset(
        [data], seq_length, max_predictions, batch)))
    loss_fn = masked_lm.masked_lm_loss()

    def median_ms(fn):
        for _ in range(3):
            fn()
        times = []
        for _ in range(args.steps):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return round(1000 * statistics.median(times), 1)

    report = {"size": args.size, "seq_length": seq_length, "batch_size": batch}
    for xla in (True, False):
        for dropout in (0.1, 0.0):
            keras.utils.set_random_seed(0)
            model = masked_lm.build_masked_lm(vocab, seq_length, args.size, dropout=dropout)
            optimizer = optim.make_optimizer(1e-4, 10_000)
            model.compile(optimizer=optimizer, loss=loss_fn, jit_compile=xla)
            name = f"{'xla' if xla else 'no_xla'}_dropout_{dropout}"
            # The closures below run within this iteration, so `model` is this iteration's.
            report[f"{name}_train_step_ms"] = median_ms(
                lambda: model.train_on_batch(inputs, labels, sample_weight=weights))  # noqa: B023
            if dropout:
                @tf.function(jit_compile=xla)
                def forward_backward():
                    with tf.GradientTape() as tape:
                        loss = loss_fn(labels, model(inputs, training=True), weights)  # noqa: B023
                    return tape.gradient(loss, model.trainable_variables)  # noqa: B023

                @tf.function(jit_compile=xla)
                def forward():
                    return model(inputs, training=True)  # noqa: B023

                report[f"{name}_forward_backward_ms"] = median_ms(forward_backward)
                report[f"{name}_forward_ms"] = median_ms(forward)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
