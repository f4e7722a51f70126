"""The one training loop both tasks use, and the TFX Trainer `run_fn` set-up around it.

A task (models/masked_lm/trainer.py, models/text_classification/trainer.py) says how to build and
compile its model and read its data; everything else is here, in the order it happens:

    run_trainer(fn_args, ...)     tensorflow-text ops, settings from custom_config, Transform
                                  output and vocabulary, chief/worker directories
      train_and_export(job)       the task's: train(...), then its SavedModel export
        train(settings, ...)      seed, dtype policy, tf.distribute strategy, batch plan,
                                  optimizer (AdamW, warmup/decay, clipping), compile
          fit_and_log(...)        epochs of `checkpoint_every` updates, resume from a backup,
                                  TensorBoard (+ hparams, profile), checkpoints, tokens/s,
                                  train_summary.json
    (always)                      dtype policy back to float32; a worker's scratch removed
"""

import dataclasses
import hashlib
import json
import os
import time
from typing import Callable, List, Optional, Tuple

import keras
import tensorflow as tf
from absl import logging

from models.core import distribute, encoder, features, optim
from models.core.settings import TrainSettings

# -- the TFX Trainer set-up -------------------------------------------------------------------

@dataclasses.dataclass
class TrainerJob:
    """What a task's `train_and_export` gets from the TFX Trainer."""

    settings: TrainSettings
    custom_config: dict  # the Trainer's custom_config (task extras such as `labels`)
    transform_output: object  # tft.TFTransformOutput
    vocab_file: str  # the vocabulary beside the transform graph (vocab.txt, or BPE's vocab.json)
    vocab: List[str]  # tokens in id order
    train_files: List[str]
    eval_files: List[str]
    base_model: Optional[str]  # the Trainer's base_model (a pretrained model's SavedModel)
    log_dir: str  # TensorBoard, checkpoints, train_summary.json
    serving_dir: str  # where the SavedModel goes
    backup_dir: Optional[str]  # where a killed run's last checkpoint waits (None: no resume)
    chief: bool  # only the chief writes the real model; other workers export to scratch
    hyperparameters: dict = dataclasses.field(default_factory=dict)  # searched values applied

    def encoder_to_fine_tune(self) -> Tuple[str, Callable[[], keras.Model]]:
        """For a fine-tuning task: the encoder directory of `base_model` (its vocabulary checked
        against the one Tokenize used; EncoderError names both) and a function that loads the
        encoder, with its weights or, under the settings' `from_scratch`, the same architecture
        with random weights, in the settings' mixed-precision dtype."""
        pretrained = encoder.encoder_dir(self.base_model)
        encoder.check_vocabulary(pretrained, len(self.vocab), self.vocab_file)

        def backbone():
            return encoder.load_encoder(pretrained, pretrained=not self.settings.from_scratch,
                                        dtype=self.settings.mixed_precision)

        return pretrained, backbone


def trainer_job(fn_args, settings_class, log_dir: Optional[str] = None) -> TrainerJob:
    """The TrainerJob of a TFX Trainer's (or Tuner's) `fn_args`: tensorflow-text's ops
    registered, the settings of `custom_config["settings"]` with the values of the Trainer's
    `hyperparameters` input (a Tuner's best_hyperparameters, or imported) put in, the
    Transform output and its vocabulary, the chief/worker directories (`log_dir`: the Tuner's,
    which has no model_run_dir). A killed run resumes only into a rerun with the same
    hyper-parameters: they are part of its backup directory's name."""
    import tensorflow_text  # noqa: F401  (registers the ops the transform graph uses)
    import tensorflow_transform as tft

    from models.core.tuning import searched_values
    from models.tokenizers import bpe
    from models.tokenizers.wordpiece import read_vocab

    config = fn_args.custom_config
    settings = settings_class.from_dict(config["settings"])
    tuned = searched_values(getattr(fn_args, "hyperparameters", None))
    backup_dir = config.get("backup_dir") if settings.resume else None
    if tuned:
        logging.info("Training with the hyper-parameters given to the Trainer: %s", tuned)
        settings = dataclasses.replace(settings, **tuned)
        if backup_dir:
            digest = hashlib.sha256(json.dumps(tuned, sort_keys=True).encode()).hexdigest()[:8]
            backup_dir = f"{backup_dir}-hp{digest}"
    # The Trainer's fn_args name the transform graph `transform_output`, the Tuner's only
    # `transform_graph_path`.
    transform = getattr(fn_args, "transform_output", None) or fn_args.transform_graph_path
    if bpe.has_bpe_vocabulary(transform):  # byte-level BPE (causal LM)
        vocab_file = os.path.join(transform, bpe.VOCAB_JSON)
        vocab = bpe.tokens_by_id(bpe.read_bpe(transform)[0])
    else:
        vocab_file = os.path.join(transform, features.VOCAB_FILE)
        vocab = read_vocab(vocab_file)
    if log_dir is None:
        log_dir, serving_dir, chief = worker_dirs(settings, fn_args.model_run_dir,
                                                  fn_args.serving_model_dir)
    else:
        serving_dir, chief = None, True
    return TrainerJob(
        settings=settings, custom_config=config,
        transform_output=tft.TFTransformOutput(transform),
        vocab_file=vocab_file, vocab=vocab,
        train_files=fn_args.train_files, eval_files=fn_args.eval_files,
        base_model=getattr(fn_args, "base_model", None), log_dir=log_dir,
        serving_dir=serving_dir, backup_dir=backup_dir, chief=chief, hyperparameters=tuned)


def run_trainer(fn_args, settings_class, train_and_export: Callable[[TrainerJob], None]) -> None:
    """The body of every `run_fn`. `fn_args.custom_config`: `settings` (a `settings_class`
    dict), `backup_dir`, and whatever the task reads itself; `fn_args.hyperparameters`:
    searched settings that replace those (trainer_job)."""
    job = trainer_job(fn_args, settings_class)
    try:
        train_and_export(job)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")  # the rest of the process: float32
    summary_path = os.path.join(job.log_dir, "train_summary.json")
    if job.hyperparameters and tf.io.gfile.exists(summary_path):  # what it was trained with
        with tf.io.gfile.GFile(summary_path) as f:
            summary = json.load(f)
        summary["hyperparameters"] = job.hyperparameters
        with tf.io.gfile.GFile(summary_path, "w") as f:
            json.dump(summary, f, indent=2)
    if not job.chief:
        tf.io.gfile.rmtree(os.path.dirname(job.serving_dir))


def tuner_fn(fn_args, settings_class, train: Callable):
    """The body of every family's `tuner_fn` (TFX Tuner; components/tuner runs it):
    `fn_args.custom_config` holds the job's `settings` and the search `space`
    (models/core/tuning.py: SearchSpace); `train(job, **fit_options)` is the family's training
    without its export. Each trial trains `train` on a TrainerJob whose settings are the
    trial's, its TensorBoard logs under `custom_config["trials_log_dir"]/<trial id>`."""
    from tfx import v1 as tfx

    from models.core import tuning

    space = tuning.SearchSpace.from_dict(fn_args.custom_config["space"])
    base = trainer_job(fn_args, settings_class, log_dir=fn_args.working_dir)

    def train_trial(settings, log_dir, callbacks):
        job = dataclasses.replace(base, settings=settings, log_dir=log_dir, backup_dir=None)
        try:
            return train(job, extra_callbacks=callbacks, checkpoints=False, eval_once=True)
        finally:
            keras.mixed_precision.set_dtype_policy("float32")

    log_root = (fn_args.custom_config.get("trials_log_dir")
                or os.path.join(fn_args.working_dir, "tensorboard"))
    tuner = tuning.make_tuner(space, base.settings, train_trial, fn_args.working_dir, log_root,
                              base.settings.seed)
    return tfx.components.TunerFnResult(tuner=tuner, fit_kwargs={})


def worker_dirs(settings: TrainSettings, model_run_dir: str, serving_model_dir: str):
    """(log dir, serving dir, chief?) for this task: the chief writes the real ones; another
    multi-worker task logs under `workers/<rank>` and exports to a scratch directory that is
    deleted afterwards (every task must take part in the export, only one may own it)."""
    if settings.strategy != "multi_worker":
        return model_run_dir, serving_model_dir, True
    cluster = distribute.read_tf_config()
    if cluster.is_chief:
        return model_run_dir, serving_model_dir, True
    scratch = os.path.join(model_run_dir, "workers", str(cluster.rank))
    return scratch, os.path.join(scratch, "export", "Format-Serving"), False


# -- strategy, batch plan, optimizer ----------------------------------------------------------

def prepare(settings: TrainSettings):
    """Seeds, sets the mixed-precision policy, starts the configured strategy and works out
    the batch plan; returns (strategy, plan)."""
    keras.utils.set_random_seed(settings.seed)
    if settings.mixed_precision:
        keras.mixed_precision.set_dtype_policy(settings.mixed_precision)
        if settings.mixed_precision == "mixed_float16" and not tf.config.list_physical_devices("GPU"):
            logging.warning("mixed_float16 without a GPU is slow on CPU; use mixed_bfloat16.")
    strategy = distribute.make_strategy(settings.strategy, settings.cpu_replicas)
    plan = distribute.batch_plan(settings.batch_size, settings.grad_accum_steps,
                                 strategy.num_replicas_in_sync, settings.learning_rate,
                                 settings.base_batch_size, settings.lr_scaling)
    logging.info("Strategy %s with %d replica(s); %s", settings.strategy,
                 strategy.num_replicas_in_sync, plan)
    return strategy, plan


def epoch_plan(settings: TrainSettings):
    """(updates per epoch, epochs, total updates): whole epochs of `checkpoint_every` optimizer
    updates, so each epoch end is a checkpoint."""
    steps_per_epoch = min(settings.checkpoint_every, settings.train_steps)
    epochs = max(1, settings.train_steps // steps_per_epoch)
    return steps_per_epoch, epochs, epochs * steps_per_epoch


def make_optimizer(settings: TrainSettings, plan: distribute.BatchPlan) -> keras.optimizers.Optimizer:
    return optim.make_optimizer(plan.learning_rate, epoch_plan(settings)[2], settings.warmup_ratio,
                                settings.weight_decay, settings.clip_norm, plan.grad_accum_steps)


def train(settings: TrainSettings, build_model: Callable[[], keras.Model],
          compile_args: Callable[[], dict], datasets: Callable[..., tuple], log_dir: str,
          eval_once: bool = False, **fit_args) -> keras.Model:
    """Builds `build_model()` under the strategy, compiles it with lmpipe's optimizer and
    `compile_args()` (loss, metrics), fits it on `datasets(global_batch)` = (train, eval) with
    `fit_and_log(**fit_args)` and returns it trained. `eval_once` (a search's trial): each
    evaluation reads the eval split once, each example once (`datasets(global_batch,
    repeat_eval=False)`; at most `eval_steps` batches), not `eval_steps` batches of a repeated
    stream. Both builders run under the strategy's
    scope: models and metrics own variables, and nothing may touch TensorFlow's runtime before
    a multi-worker strategy starts."""
    strategy, plan = prepare(settings)
    train_ds, eval_ds = (datasets(plan.global_batch, repeat_eval=False) if eval_once
                         else datasets(plan.global_batch))
    with strategy.scope():
        model = build_model()
        model.compile(optimizer=make_optimizer(settings, plan),
                      jit_compile=settings.keras_jit_compile, **compile_args())
    model.summary(print_fn=logging.info)
    fit_and_log(model, settings, plan, train_ds, eval_ds, log_dir, **fit_args)
    return model


# -- the fit ----------------------------------------------------------------------------------

class ThroughputAndLearningRate(keras.callbacks.Callback):
    """Logs examples/second, tokens/second and the learning rate to TensorBoard every `every`
    steps. Tokens are sequence positions at `seq_length` (examples/s x seq_length), so runs
    with length-aware batching, whose batches are shorter, compare with fixed-length ones."""

    def __init__(self, log_dir: str, examples_per_step: int, seq_length: int, every: int = 50):
        super().__init__()
        self._writer = tf.summary.create_file_writer(os.path.join(log_dir, "train"))
        self._examples_per_step = examples_per_step
        self._seq_length = seq_length
        self._every = every
        self._step = 0
        self._last = None
        self.examples_per_second = None
        self.tokens_per_second = None

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        if self._last is None:  # the first step includes tracing; start timing after it
            self._last = (time.perf_counter(), self._step)
            return
        if self._step % self._every:
            return
        now, last_step = time.perf_counter(), self._last[1]
        self.examples_per_second = (self._examples_per_step * (self._step - last_step)
                                    / (now - self._last[0]))
        self.tokens_per_second = self.examples_per_second * self._seq_length
        self._last = (now, self._step)
        with self._writer.as_default(step=self._step):
            tf.summary.scalar("examples_per_second", self.examples_per_second)
            tf.summary.scalar("tokens_per_second", self.tokens_per_second)
            tf.summary.scalar("learning_rate", float(self.model.optimizer.learning_rate))
        self._writer.flush()


def resume_point(backup_dir: Optional[str]) -> int:
    """Epochs already done by a killed run with the same settings (0 if none or no backup)."""
    metadata = os.path.join(backup_dir, "training_metadata.json") if backup_dir else None
    if not metadata or not tf.io.gfile.exists(metadata):
        return 0
    with tf.io.gfile.GFile(metadata) as f:
        return int(json.load(f)["epoch"])


class RestoreOnlyBackup(keras.callbacks.BackupAndRestore):
    """BackupAndRestore for a non-chief worker: restores the chief's backup, never writes it."""

    def _save_model(self):
        pass

    def on_train_end(self, logs=None):
        pass


def fit_and_log(model, settings: TrainSettings, plan, train_ds, eval_ds, log_dir: str,
                extra_callbacks=(), class_weight=None, best_metric=None,
                backup_dir: Optional[str] = None, chief: bool = True,
                checkpoints: bool = True) -> dict:
    """Fits with TensorBoard (hparams, optional profile), per-epoch checkpoints (unless
    `checkpoints` is False: a search's trial), throughput logging and, given a `backup_dir`, a
    backup to resume from after a crash; writes and returns `<log_dir>/train_summary.json`
    (last metrics, optimizer steps, tokens/s, best `best_metric`)."""
    updates_per_epoch, epochs, total_updates = epoch_plan(settings)
    micro_steps = updates_per_epoch * plan.grad_accum_steps  # Keras steps per epoch
    resumed_epochs = resume_point(backup_dir)
    if resumed_epochs:
        logging.info("Resuming from %s: %d of %d epochs (%d optimizer steps) already done.",
                     backup_dir, resumed_epochs, epochs, resumed_epochs * updates_per_epoch)
        train_ds = train_ds.skip(resumed_epochs * micro_steps)  # continue, not replay, the data
    write_hparams(settings, plan, log_dir)
    speed = ThroughputAndLearningRate(log_dir, plan.global_batch, settings.seq_length)
    callbacks = [
        keras.callbacks.TensorBoard(log_dir=log_dir, update_freq=50,
                                    profile_batch=settings.profile_range or 0),
        speed,
        *extra_callbacks,
    ]
    if checkpoints:
        callbacks.insert(1, keras.callbacks.ModelCheckpoint(
            os.path.join(log_dir, "checkpoints", "epoch-{epoch:03d}.weights.h5"),
            save_weights_only=True))
    if backup_dir:
        backup = keras.callbacks.BackupAndRestore if chief else RestoreOnlyBackup
        # Before EarlyStopping & co., so a restored run starts from the restored epoch.
        callbacks.insert(0, backup(backup_dir, save_freq="epoch", double_checkpoint=True))
    if isinstance(model.distribute_strategy, tf.distribute.MultiWorkerMirroredStrategy):
        build_before_fit(model, train_ds)
    history = model.fit(train_ds, epochs=epochs, steps_per_epoch=micro_steps,
                        validation_data=eval_ds, validation_steps=settings.eval_steps,
                        class_weight=class_weight, callbacks=callbacks, verbose=2)
    summary = {name: float(values[-1]) for name, values in history.history.items() if values}
    summary.update(steps=int(model.optimizer.iterations.numpy()),
                   planned_steps=total_updates,
                   resumed_from_step=resumed_epochs * updates_per_epoch,
                   examples_per_second=speed.examples_per_second,
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


def write_hparams(settings: TrainSettings, plan, log_dir: str) -> None:
    """The run's training settings on TensorBoard's HParams tab: a session at `log_dir`, so
    that its metrics (`validation/epoch_*`, `train/epoch_*`) sit beneath it, as the HParams
    dashboard looks for them (a search's trials are sessions under one directory)."""
    from tensorboard.plugins.hparams import api as hp

    values = {k: (v if isinstance(v, (int, float, str, bool)) else str(v))
              for k, v in settings.to_dict().items() if v is not None}
    values.update(effective_batch=plan.effective_batch, peak_learning_rate=plan.learning_rate)
    with tf.summary.create_file_writer(log_dir).as_default():
        hp.hparams(values, trial_id=os.path.basename(log_dir.rstrip("/")))
