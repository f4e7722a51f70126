"""TFX Trainer `run_fn` for masked-LM pretraining: the whole training path in one place.

masked TFRecords → tf.data → BERT + MLM head (keras-hub) under a tf.distribute strategy →
AdamW + warmup/decay + global-norm clipping → TensorBoard, checkpoints → ExportArchive.
"""

import dataclasses
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
                    log_dir: str, chief: bool = True) -> keras.Model:
    """Builds, compiles and fits the model; returns it trained."""
    strategy, plan = prepare(cfg)
    data = dict(seq_length=cfg.seq_length, max_predictions=cfg.max_predictions,
                batch_size=plan.global_batch, seed=cfg.seed)
    train_ds = mlm_data.masked_lm_dataset(train_files, **data)
    eval_ds = mlm_data.masked_lm_dataset(eval_files, shuffle=False, **data)

    with strategy.scope():
        model = bert.build_masked_lm(vocab_size, cfg.seq_length, cfg.model_size, cfg.dropout)
        model.compile(optimizer=make_optimizer(cfg, plan), loss=bert.masked_lm_loss(),
                      weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="masked_accuracy")],
                      jit_compile=cfg.keras_jit_compile)
    model.summary(print_fn=logging.info)

    fit_and_log(model, cfg, plan, train_ds, eval_ds, log_dir, chief=chief)
    return model


def prepare(cfg):
    """Seeds, sets the mixed-precision policy, starts the configured strategy and works out
    the batch plan; returns (strategy, plan)."""
    keras.utils.set_random_seed(cfg.seed)
    if cfg.mixed_precision:
        keras.mixed_precision.set_dtype_policy(cfg.mixed_precision)
        if cfg.mixed_precision == "mixed_float16" and not tf.config.list_physical_devices("GPU"):
            logging.warning("mixed_float16 without a GPU is slow on CPU; use mixed_bfloat16.")
    strategy = distribute.make_strategy(cfg.strategy, cfg.cpu_replicas, cfg.worker_timeout)
    plan = distribute.batch_plan(cfg.batch_size, cfg.grad_accum_steps,
                                 strategy.num_replicas_in_sync, cfg.learning_rate,
                                 cfg.base_batch_size, cfg.lr_scaling)
    logging.info("Strategy %s with %d replica(s); %s", cfg.strategy,
                 strategy.num_replicas_in_sync, plan)
    return strategy, plan


def make_optimizer(cfg, plan: distribute.BatchPlan) -> keras.optimizers.Optimizer:
    return optim.make_optimizer(plan.learning_rate, epoch_plan(cfg)[2], cfg.warmup_ratio,
                                cfg.weight_decay, cfg.clip_norm, plan.grad_accum_steps)


def epoch_plan(cfg):
    """(updates per epoch, epochs, total updates): whole epochs of `checkpoint_every` optimizer
    updates, so each epoch end is a checkpoint."""
    steps_per_epoch = min(cfg.checkpoint_every, cfg.train_steps)
    epochs = max(1, cfg.train_steps // steps_per_epoch)
    return steps_per_epoch, epochs, epochs * steps_per_epoch


def resume_point(cfg) -> int:
    """Epochs already done by a killed run with the same settings (0 if none or resume off)."""
    metadata = os.path.join(cfg.backup_dir, "training_metadata.json")
    if not cfg.resume or not tf.io.gfile.exists(metadata):
        return 0
    with tf.io.gfile.GFile(metadata) as f:
        return int(json.load(f)["epoch"])


class RestoreOnlyBackup(keras.callbacks.BackupAndRestore):
    """BackupAndRestore for a non-chief worker: restores the chief's backup, never writes it."""

    def _save_model(self):
        pass

    def on_train_end(self, logs=None):
        pass


def fit_and_log(model, cfg, plan, train_ds, eval_ds, log_dir: str, extra_callbacks=(),
                class_weight=None, best_metric=None, chief: bool = True) -> dict:
    """Fits with TensorBoard (hparams, optional profile), per-epoch checkpoints, a backup to
    resume from after a crash, and throughput logging; writes and returns
    `<log_dir>/train_summary.json` (last metrics, optimizer steps, tokens/s, best `best_metric`)."""
    updates_per_epoch, epochs, total_updates = epoch_plan(cfg)
    micro_steps = updates_per_epoch * plan.grad_accum_steps  # Keras steps per epoch
    resumed_epochs = resume_point(cfg)
    if resumed_epochs:
        logging.info("Resuming from %s: %d of %d epochs (%d optimizer steps) already done.",
                     cfg.backup_dir, resumed_epochs, epochs, resumed_epochs * updates_per_epoch)
        train_ds = train_ds.skip(resumed_epochs * micro_steps)  # continue, not replay, the data
    write_hparams(cfg, plan, log_dir)
    speed = ThroughputAndLearningRate(log_dir, plan.global_batch * cfg.seq_length)
    callbacks = [
        keras.callbacks.TensorBoard(log_dir=log_dir, update_freq=50,
                                    profile_batch=cfg.profile_range or 0),
        keras.callbacks.ModelCheckpoint(
            os.path.join(log_dir, "checkpoints", "epoch-{epoch:03d}.weights.h5"),
            save_weights_only=True),
        speed,
        *extra_callbacks,
    ]
    if cfg.resume:
        backup = keras.callbacks.BackupAndRestore if chief else RestoreOnlyBackup
        # Before EarlyStopping & co., so a restored run starts from the restored epoch.
        callbacks.insert(0, backup(cfg.backup_dir, save_freq="epoch", double_checkpoint=True))
    if isinstance(model.distribute_strategy, tf.distribute.MultiWorkerMirroredStrategy):
        build_before_fit(model, train_ds)
    history = model.fit(train_ds, epochs=epochs, steps_per_epoch=micro_steps,
                        validation_data=eval_ds, validation_steps=cfg.eval_steps,
                        class_weight=class_weight, callbacks=callbacks, verbose=2)
    summary = {name: float(values[-1]) for name, values in history.history.items() if values}
    summary.update(steps=int(model.optimizer.iterations.numpy()),
                   planned_steps=total_updates,
                   resumed_from_step=resumed_epochs * updates_per_epoch,
                   tokens_per_second=speed.tokens_per_second,
                   replicas=plan.global_batch // plan.per_replica_batch,
                   effective_batch=plan.effective_batch,
                   peak_learning_rate=plan.learning_rate,
                   weights_checksum=weights_checksum(model))
    if best_metric:
        summary[f"best_{best_metric}"] = max(history.history.get(best_metric, [float("nan")]))
    with tf.io.gfile.GFile(os.path.join(log_dir, "train_summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    logging.info("Training done: %s", summary)
    return summary


def build_before_fit(model, train_ds) -> None:
    """Keras 3.12's fit() builds metrics and loss from a batch it first reduces with
    `strategy.reduce`, which MultiWorkerMirroredStrategy cannot do for dict inputs ("Attempt to
    convert a value ({'token_ids': PerReplica...}) ... to a Tensor"). Build them from one local
    batch instead, then let fit() skip that step."""
    inputs, labels, *weights = next(iter(train_ds))
    with model.distribute_strategy.scope():
        model._symbolic_build(data_batch=(inputs, labels, *weights))
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None


def weights_checksum(model) -> float:
    """Sum of |w| over the model's weights: equal on workers that stepped together."""
    return float(sum(tf.reduce_sum(tf.abs(tf.cast(w.value, tf.float64))).numpy()
                     for w in model.weights))


def write_hparams(cfg, plan, log_dir: str) -> None:
    """The run's settings on TensorBoard's HParams tab."""
    from tensorboard.plugins.hparams import api as hp

    values = {k: (v if isinstance(v, (int, float, str, bool)) else str(v))
              for k, v in dataclasses.asdict(cfg).items() if v is not None}
    values.update(effective_batch=plan.effective_batch, peak_learning_rate=plan.learning_rate)
    with tf.summary.create_file_writer(os.path.join(log_dir, "train")).as_default():
        hp.hparams(values, trial_id=os.path.basename(log_dir.rstrip("/")))


def worker_dirs(cfg, model_run_dir: str, serving_model_dir: str):
    """(log dir, serving dir, chief?) for this task: the chief writes the real ones; another
    multi-worker task logs under `workers/<rank>` and exports to a scratch directory that is
    deleted afterwards (every task must take part in the export, only one may own it)."""
    if cfg.strategy != "multi_worker":
        return model_run_dir, serving_model_dir, True
    cluster = distribute.read_tf_config()
    if cluster.is_chief:
        return model_run_dir, serving_model_dir, True
    scratch = os.path.join(model_run_dir, "workers", str(cluster.rank))
    return scratch, os.path.join(scratch, "export", "Format-Serving"), False


def run_fn(fn_args):
    """TFX Trainer entry point. `custom_config["config"]` is the PretrainConfig as a dict."""
    import tensorflow_text  # noqa: F401  (registers the ops the transform graph uses)
    import tensorflow_transform as tft

    cfg = PretrainConfig(**fn_args.custom_config["config"])
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    vocab = tokenization.read_vocab(os.path.join(fn_args.transform_output, lm_types.VOCAB_FILE))
    log_dir, serving_dir, chief = worker_dirs(cfg, fn_args.model_run_dir,
                                              fn_args.serving_model_dir)
    try:
        model = train_masked_lm(cfg, fn_args.train_files, fn_args.eval_files, len(vocab),
                                log_dir, chief)
        export.export_masked_lm(model, tf_transform_output, serving_dir, vocab,
                                cfg.seq_length, cfg.max_predictions, cfg.top_k, cfg.model_name)
        # Beside the SavedModel, the encoder as a keras-hub preset with its vocabulary, for
        # fine-tuning to start from.
        encoder = encoder_dir(serving_dir)
        model.backbone.save_to_preset(encoder)
        tf.io.gfile.copy(os.path.join(fn_args.transform_output, lm_types.VOCAB_FILE),
                         os.path.join(encoder, lm_types.VOCAB_FILE), overwrite=True)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")  # the rest of the process: float32
    if not chief:
        tf.io.gfile.rmtree(os.path.dirname(serving_dir))


def encoder_dir(serving_model_dir: str) -> str:
    """`<model artifact>/encoder`: the pretrained BertBackbone as a local keras-hub preset."""
    return os.path.join(os.path.dirname(serving_model_dir.rstrip("/")), "encoder")
