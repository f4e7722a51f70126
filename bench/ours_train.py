"""Our MLM training step's throughput: masked-example TFRecords → our tf.data input →
BERT + MLM head (models/masked_lm/model.py) → AdamW with clipping (models/core/optim.py), under Keras fit,
without XLA, as the pipeline's Trainer runs on CPUs (`--jit-compile on`: with XLA).

Prints one JSON line: tokens/second (sequence tokens, as the peer counts them) and peak RSS.
    .venv/bin/python bench/ours_train.py --size mini --steps 30
"""

import json
import os
import resource
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.train_common import train_arguments  # noqa: E402


def write_masked_examples(path, n, seq_length, max_predictions, vocab_size, mask_rate, seed=0):
    """Random masked examples in MlmMasker's format (the same rows the pipeline trains on)."""
    import numpy as np
    import tensorflow as tf

    from models.core import features

    rng = np.random.default_rng(seed)
    n_masks = min(max_predictions, int(round(seq_length * mask_rate)))
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for _ in range(n):
            ids = rng.integers(5, vocab_size, size=seq_length)
            positions = np.sort(rng.choice(np.arange(1, seq_length - 1), n_masks, replace=False))
            labels = ids[positions].copy()
            ids[positions] = features.MASK_ID
            pad = max_predictions - n_masks
            feature = {
                features.TOKEN_IDS: ids, features.PADDING_MASK: np.ones(seq_length, int),
                features.MASK_POSITIONS: np.pad(positions, (0, pad)),
                features.MASK_IDS: np.pad(labels, (0, pad)),
            }
            example = tf.train.Example(features=tf.train.Features(feature={
                **{k: tf.train.Feature(int64_list=tf.train.Int64List(value=v.tolist()))
                   for k, v in feature.items()},
                features.MASK_WEIGHTS: tf.train.Feature(float_list=tf.train.FloatList(
                    value=[1.0] * n_masks + [0.0] * pad))}))
            writer.write(example.SerializeToString())


def StepClock(warmup_steps):
    """Times the steps after `warmup_steps` (tracing, compiling) inside one fit(), so that
    neither fit's start (iterator, shuffle buffer) nor the warm-up is counted."""
    import keras

    class Clock(keras.callbacks.Callback):
        seconds = 0.0

        def on_train_batch_begin(self, batch, logs=None):
            if batch == warmup_steps:
                self.start = time.perf_counter()

        def on_train_end(self, logs=None):
            self.seconds = time.perf_counter() - self.start

    return Clock()


def main():
    parser = train_arguments("e.g. mixed_bfloat16 (Keras' dtype policy)")
    parser.add_argument("--jit-compile", choices=("on", "off"), default="off",
                        help="XLA (the pipeline's jit_compile=auto is off on CPUs)")
    args = parser.parse_args()

    import keras

    from models.core import optim
    from models.masked_lm.inputs import masked_lm_dataset
    from models.masked_lm import model as masked_lm

    max_predictions = int(round(args.seq_length * args.mask_rate))
    data = os.path.join(tempfile.mkdtemp(), "masked.gz")
    write_masked_examples(data, 4 * args.batch_size, args.seq_length, max_predictions,
                          args.vocab_size, args.mask_rate)
    ds = masked_lm_dataset([data], args.seq_length, max_predictions, args.batch_size)
    model = masked_lm.build_masked_lm(args.vocab_size, args.seq_length, args.size,
                                      dtype=args.mixed_precision)
    model.compile(optimizer=optim.make_optimizer(1e-4, 10_000), loss=masked_lm.masked_lm_loss(),
                  jit_compile=args.jit_compile == "on")
    clock = StepClock(args.warmup_steps)
    model.fit(ds, steps_per_epoch=args.warmup_steps + args.steps, epochs=1, verbose=0,
              callbacks=[clock])
    seconds = clock.seconds
    print(json.dumps({
        "impl": "ours", "size": args.size, "seq_length": args.seq_length,
        "batch_size": args.batch_size, "steps": args.steps, "jit_compile": args.jit_compile,
        "mixed_precision": args.mixed_precision,
        "tokens_per_second": args.steps * args.batch_size * args.seq_length / seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "params": model.count_params(), "keras": keras.__version__}))


if __name__ == "__main__":
    main()
