"""TFX Trainer `run_fn` for fine-tuning: a pretrained encoder plus a classification head.

Transform output → tf.data → BertTextClassifier (encoder weights from pretraining, optional
freezing) under a tf.distribute strategy → the same AdamW/warmup/clipping as pretraining,
class weights, early stopping → TensorBoard, checkpoints → ExportArchive (raw text in).
"""

import os

import keras
from absl import logging

from components import types as lm_types
import tensorflow as tf

from models import classifier, classifier_data, export, tokenization
from models.trainer import encoder_dir, fit_and_log, make_optimizer, prepare, worker_dirs
from pipeline.config import FinetuneConfig


def train_classifier(cfg: FinetuneConfig, backbone, labels, train_files, eval_files,
                     log_dir: str, chief: bool = True) -> keras.Model:
    strategy, plan = prepare(cfg)
    train_ds = classifier_data.classifier_dataset(
        train_files, cfg.seq_length, plan.global_batch, seed=cfg.seed)
    eval_ds = classifier_data.classifier_dataset(eval_files, cfg.seq_length, plan.global_batch,
                                                 shuffle=False)
    class_weight = None
    if cfg.class_weights == "balanced":
        counts = classifier_data.label_counts(train_files, cfg.seq_length, len(labels))
        class_weight = classifier.balanced_class_weights(counts)
        logging.info("Class weights for %s (counts %s): %s", labels, counts, class_weight)

    with strategy.scope():
        model = classifier.build_classifier(backbone(), len(labels), cfg.dropout,
                                            cfg.freeze_embeddings, cfg.freeze_layers, cfg.pooling)
        model.compile(
            optimizer=make_optimizer(cfg, plan),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
            jit_compile=cfg.keras_jit_compile)
    model.summary(print_fn=logging.info)

    early_stopping = []
    if cfg.early_stopping_patience:
        early_stopping.append(keras.callbacks.EarlyStopping(
            monitor="val_accuracy", mode="max", patience=cfg.early_stopping_patience,
            restore_best_weights=True))
    fit_and_log(model, cfg, plan, train_ds, eval_ds, log_dir, early_stopping, class_weight,
                best_metric="val_accuracy", chief=chief)
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
        return classifier.load_encoder(encoder, pretrained=not cfg.from_scratch,
                                       dtype=cfg.mixed_precision)

    log_dir, serving_dir, chief = worker_dirs(cfg, fn_args.model_run_dir,
                                              fn_args.serving_model_dir)
    try:
        model = train_classifier(cfg, backbone, labels, fn_args.train_files, fn_args.eval_files,
                                 log_dir, chief)
        export.export_classifier(model, tf_transform_output, serving_dir, labels,
                                 cfg.seq_length, cfg.model_name)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")  # the rest of the process: float32
    if not chief:
        tf.io.gfile.rmtree(os.path.dirname(serving_dir))
