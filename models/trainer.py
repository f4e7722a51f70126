"""TFX Trainer `run_fn` for masked-LM pretraining: the whole training path in one place.

masked TFRecords → tf.data → BertMaskedLM (keras-hub) under a tf.distribute strategy →
AdamW + warmup/decay + global-norm clipping → TensorBoard, checkpoints → ExportArchive.
"""

import json
import os
import time

import keras
import tensorflow as tf
from absl import logging

from components import types as lm_types
from models import bert, distribute, export, mlm_data, optim, tokenization
from pipeline.config import PretrainConfig


class ThroughputAndLearningRate(keras.callbacks.Callback):
    """Logs tokens/second and the learning rate to TensorBoard every `every` steps."""

    def __init__(self, log_dir: str, tokens_per_step: int, every: int = 50):
        super().__init__()
        self._writer = tf.summary.create_file_writer(os.path.join(log_dir, "train"))
        self._tokens_per_step = tokens_per_step
        self._every = every
        self._step = 0
        self._last = None
        self.tokens_per_second = None

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        if self._last is None:  # the first step includes tracing; start timing after it
            self._last = (time.perf_counter(), self._step)
            return
        if self._step % self._every:
            return
        now, last_step = time.perf_counter(), self._last[1]
        self.tokens_per_second = self._tokens_per_step * (self._step - last_step) / (now - self._last[0])
        self._last = (now, self._step)
        with self._writer.as_default(step=self._step):
            tf.summary.scalar("tokens_per_second", self.tokens_per_second)
            tf.summary.scalar("learning_rate", float(self.model.optimizer.learning_rate))
        self._writer.flush()


def train_masked_lm(cfg: PretrainConfig, train_files, eval_files, vocab_size: int,
                    log_dir: str) -> keras.Model:
    """Builds, compiles and fits the model; returns it trained."""
    strategy = prepare(cfg)
    data = dict(seq_length=cfg.seq_length, max_predictions=cfg.max_predictions,
                batch_size=cfg.batch_size, seed=cfg.seed)
    train_ds = mlm_data.masked_lm_dataset(train_files, **data)
    eval_ds = mlm_data.masked_lm_dataset(eval_files, shuffle=False, **data)

    total_steps = epoch_plan(cfg)[2]
    with strategy.scope():
        model = bert.build_masked_lm(vocab_size, cfg.seq_length, cfg.model_size, cfg.dropout)
        model.compile(
            optimizer=optim.make_optimizer(cfg.learning_rate, total_steps, cfg.warmup_ratio,
                                           cfg.weight_decay, cfg.clip_norm),
            loss=bert.masked_lm_loss(),
            weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="masked_accuracy")])
    model.summary(print_fn=logging.info)

    fit_and_log(model, cfg, train_ds, eval_ds, log_dir)
    return model


def prepare(cfg) -> tf.distribute.Strategy:
    """Seeds, sets the mixed-precision policy and returns the configured strategy."""
    keras.utils.set_random_seed(cfg.seed)
    if cfg.mixed_precision:
        keras.mixed_precision.set_dtype_policy(cfg.mixed_precision)
    return distribute.make_strategy(cfg.strategy)


def epoch_plan(cfg):
    """(steps per epoch, epochs, total steps): whole epochs of `checkpoint_every` steps, so each
    epoch end is a checkpoint."""
    steps_per_epoch = min(cfg.checkpoint_every, cfg.train_steps)
    epochs = max(1, cfg.train_steps // steps_per_epoch)
    return steps_per_epoch, epochs, epochs * steps_per_epoch


def fit_and_log(model, cfg, train_ds, eval_ds, log_dir: str, extra_callbacks=(),
                class_weight=None, best_metric=None) -> dict:
    """Fits with TensorBoard, per-epoch checkpoints and throughput logging; writes and returns
    `<log_dir>/train_summary.json` (last metrics, steps run, tokens/s, best `best_metric`)."""
    steps_per_epoch, epochs, _ = epoch_plan(cfg)
    speed = ThroughputAndLearningRate(log_dir, cfg.batch_size * cfg.seq_length)
    callbacks = [
        keras.callbacks.TensorBoard(log_dir=log_dir, update_freq=50),
        keras.callbacks.ModelCheckpoint(
            os.path.join(log_dir, "checkpoints", "epoch-{epoch:03d}.weights.h5"),
            save_weights_only=True),
        speed,
        *extra_callbacks,
    ]
    history = model.fit(train_ds, epochs=epochs, steps_per_epoch=steps_per_epoch,
                        validation_data=eval_ds, validation_steps=cfg.eval_steps,
                        class_weight=class_weight, callbacks=callbacks, verbose=2)
    summary = {name: float(values[-1]) for name, values in history.history.items()}
    summary.update(steps=len(history.history["loss"]) * steps_per_epoch,
                   tokens_per_second=speed.tokens_per_second)
    if best_metric:
        summary[f"best_{best_metric}"] = max(history.history.get(best_metric, [float("nan")]))
    with tf.io.gfile.GFile(os.path.join(log_dir, "train_summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    logging.info("Training done: %s", summary)
    return summary


def run_fn(fn_args):
    """TFX Trainer entry point. `custom_config["config"]` is the PretrainConfig as a dict."""
    import tensorflow_text  # noqa: F401  (registers the ops the transform graph uses)
    import tensorflow_transform as tft

    cfg = PretrainConfig(**fn_args.custom_config["config"])
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    vocab = tokenization.read_vocab(os.path.join(fn_args.transform_output, lm_types.VOCAB_FILE))
    model = train_masked_lm(cfg, fn_args.train_files, fn_args.eval_files, len(vocab),
                            fn_args.model_run_dir)
    export.export_masked_lm(model, tf_transform_output, fn_args.serving_model_dir, vocab,
                            cfg.seq_length, cfg.max_predictions, cfg.top_k)
    # Beside the SavedModel, the encoder as a keras-hub preset with its vocabulary, for
    # fine-tuning to start from.
    encoder = encoder_dir(fn_args.serving_model_dir)
    model.backbone.save_to_preset(encoder)
    tf.io.gfile.copy(os.path.join(fn_args.transform_output, lm_types.VOCAB_FILE),
                     os.path.join(encoder, lm_types.VOCAB_FILE), overwrite=True)


def encoder_dir(serving_model_dir: str) -> str:
    """`<model artifact>/encoder`: the pretrained BertBackbone as a local keras-hub preset."""
    return os.path.join(os.path.dirname(serving_model_dir.rstrip("/")), "encoder")
