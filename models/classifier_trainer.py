"""TFX Trainer `run_fn` for fine-tuning: a pretrained encoder plus a classification head.

Transform output → tf.data → BertTextClassifier (encoder weights from pretraining, optional
freezing) under a tf.distribute strategy → the same AdamW/warmup/clipping as pretraining,
class weights, early stopping → TensorBoard, checkpoints → ExportArchive (raw text in).
"""

import json
import os

import keras
import tensorflow as tf
from absl import logging

from components import types as lm_types
from models import classifier, classifier_data, distribute, export, optim, tokenization
from models.trainer import ThroughputAndLearningRate, encoder_dir
from pipeline.config import FinetuneConfig


def train_classifier(cfg: FinetuneConfig, backbone, labels, train_files, eval_files,
                     log_dir: str) -> keras.Model:
    keras.utils.set_random_seed(cfg.seed)
    if cfg.mixed_precision:
        keras.mixed_precision.set_dtype_policy(cfg.mixed_precision)
    strategy = distribute.make_strategy(cfg.strategy)
    train_ds = classifier_data.classifier_dataset(
        train_files, cfg.seq_length, cfg.batch_size, seed=cfg.seed)
    eval_ds = classifier_data.classifier_dataset(eval_files, cfg.seq_length, cfg.batch_size,
                                                 shuffle=False)
    class_weight = None
    if cfg.class_weights == "balanced":
        counts = classifier_data.label_counts(train_files, cfg.seq_length, len(labels))
        class_weight = classifier.balanced_class_weights(counts)
        logging.info("Class weights for %s (counts %s): %s", labels, counts, class_weight)

    steps_per_epoch = min(cfg.checkpoint_every, cfg.train_steps)
    epochs = max(1, cfg.train_steps // steps_per_epoch)
    total_steps = epochs * steps_per_epoch
    with strategy.scope():
        model = classifier.build_classifier(backbone(), len(labels), cfg.dropout,
                                            cfg.freeze_embeddings, cfg.freeze_layers, cfg.pooling)
        model.compile(
            optimizer=optim.make_optimizer(cfg.learning_rate, total_steps, cfg.warmup_ratio,
                                           cfg.weight_decay, cfg.clip_norm),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    model.summary(print_fn=logging.info)

    speed = ThroughputAndLearningRate(log_dir, cfg.batch_size * cfg.seq_length)
    callbacks = [
        keras.callbacks.TensorBoard(log_dir=log_dir, update_freq=50),
        keras.callbacks.ModelCheckpoint(
            os.path.join(log_dir, "checkpoints", "epoch-{epoch:03d}.weights.h5"),
            save_weights_only=True),
        speed,
    ]
    if cfg.early_stopping_patience:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor="val_accuracy", mode="max", patience=cfg.early_stopping_patience,
            restore_best_weights=True))
    history = model.fit(train_ds, epochs=epochs, steps_per_epoch=steps_per_epoch,
                        validation_data=eval_ds, validation_steps=cfg.eval_steps,
                        class_weight=class_weight, callbacks=callbacks, verbose=2)
    summary = {name: float(values[-1]) for name, values in history.history.items()}
    summary.update(steps=len(history.history["loss"]) * steps_per_epoch,
                   tokens_per_second=speed.tokens_per_second,
                   best_val_accuracy=max(history.history.get("val_accuracy", [float("nan")])))
    with tf.io.gfile.GFile(os.path.join(log_dir, "train_summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    logging.info("Fine-tuning done: %s", summary)
    return model


def run_fn(fn_args):
    """TFX Trainer entry point. `custom_config`: `config` (FinetuneConfig as a dict), `labels`.

    The pretrained encoder comes in as the Trainer's `base_model` (a pretraining Model
    artifact, whose `encoder/` is a keras-hub preset)."""
    import tensorflow_text  # noqa: F401  (registers the ops the transform graph uses)
    import tensorflow_transform as tft

    cfg = FinetuneConfig(**fn_args.custom_config["config"])
    labels = list(fn_args.custom_config["labels"])
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    vocab = tokenization.read_vocab(os.path.join(fn_args.transform_output, lm_types.VOCAB_FILE))
    encoder = encoder_dir(fn_args.base_model)
    encoder_vocab = classifier.encoder_vocabulary_size(encoder)
    if encoder_vocab != len(vocab):
        raise ValueError(f"the pretrained encoder in {encoder} has {encoder_vocab} token "
                         f"embeddings but the vocabulary has {len(vocab)} entries: use the "
                         "vocabulary of the same pretraining run")

    def backbone():
        return classifier.load_encoder(encoder, pretrained=not cfg.from_scratch)

    model = train_classifier(cfg, backbone, labels, fn_args.train_files, fn_args.eval_files,
                             fn_args.model_run_dir)
    export.export_classifier(model, tf_transform_output, fn_args.serving_model_dir, labels,
                             cfg.seq_length, cfg.model_name)
