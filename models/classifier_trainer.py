"""TFX Trainer `run_fn` for fine-tuning: a pretrained encoder plus a classification head.

Transform output → tf.data → BertTextClassifier (encoder weights from pretraining, optional
freezing) under a tf.distribute strategy → the same AdamW/warmup/clipping as pretraining,
class weights, early stopping → TensorBoard, checkpoints → ExportArchive (raw text in).
"""

import os

import keras
from absl import logging

from components import types as lm_types
from models import classifier, classifier_data, export, optim, tokenization
from models.trainer import encoder_dir, epoch_plan, fit_and_log, prepare
from pipeline.config import FinetuneConfig


def train_classifier(cfg: FinetuneConfig, backbone, labels, train_files, eval_files,
                     log_dir: str) -> keras.Model:
    strategy = prepare(cfg)
    train_ds = classifier_data.classifier_dataset(
        train_files, cfg.seq_length, cfg.batch_size, seed=cfg.seed)
    eval_ds = classifier_data.classifier_dataset(eval_files, cfg.seq_length, cfg.batch_size,
                                                 shuffle=False)
    class_weight = None
    if cfg.class_weights == "balanced":
        counts = classifier_data.label_counts(train_files, cfg.seq_length, len(labels))
        class_weight = classifier.balanced_class_weights(counts)
        logging.info("Class weights for %s (counts %s): %s", labels, counts, class_weight)

    total_steps = epoch_plan(cfg)[2]
    with strategy.scope():
        model = classifier.build_classifier(backbone(), len(labels), cfg.dropout,
                                            cfg.freeze_embeddings, cfg.freeze_layers, cfg.pooling)
        model.compile(
            optimizer=optim.make_optimizer(cfg.learning_rate, total_steps, cfg.warmup_ratio,
                                           cfg.weight_decay, cfg.clip_norm),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    model.summary(print_fn=logging.info)

    early_stopping = []
    if cfg.early_stopping_patience:
        early_stopping.append(keras.callbacks.EarlyStopping(
            monitor="val_accuracy", mode="max", patience=cfg.early_stopping_patience,
            restore_best_weights=True))
    fit_and_log(model, cfg, train_ds, eval_ds, log_dir, early_stopping, class_weight,
                best_metric="val_accuracy")
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
