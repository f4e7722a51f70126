"""Fine-tuning a text classifier, the task on top of models/core/training.py: Transform's examples →
a pretrained encoder + classification head (optional freezing, class weights, early stopping)
→ the classifier SavedModel (raw text in).

TFX Trainer: `run_fn="models.text_classification.trainer.run_fn"`, `base_model` = a pretrained
Model artifact (its `encoder/`), `custom_config={"settings": ClassifierSettings(...).to_dict(),
"labels": [...], "backup_dir": ...}`, plus `"distill": {"temperature", "alpha"}` when the
examples carry a teacher's probabilities (components/teacher_scores).
"""

from typing import Callable, List, Optional, Sequence

import keras
from absl import logging

from models.core import training
from models.text_classification.inputs import classifier_dataset, label_counts
from models.text_classification.export import export_classifier
from models.text_classification.distillation import Distiller
from models.text_classification.settings import ClassifierSettings
from models.text_classification.model import (WindowedClassifier, balanced_class_weights, build_classifier,
                                              head_layers)


def train_classifier(settings: ClassifierSettings, backbone: Callable, labels: Sequence[str],
                     train_files: List[str], eval_files: List[str], log_dir: str,
                     backup_dir: Optional[str] = None, chief: bool = True,
                     distill: Optional[dict] = None, head_weights=None,
                     extra_callbacks=(), **fit_options) -> keras.Model:
    """`backbone()` gives the encoder to start from (called under the strategy's scope).
    `head_weights` (the weights of models/text_classification/model.py: head_layers, in order): the head
    to start from (an imported classifier's, `--pooling cls`), else a new random head.

    `distill` ({"temperature", "alpha"}): the examples carry a teacher's probabilities and the
    classifier learns from them too (models/text_classification/distillation.py); the trained
    classifier itself is returned either way. `extra_callbacks` and `fit_options` (e.g.
    `checkpoints=False`) go to models/core/training.py: fit_and_log (a search's trial)."""
    teacher_classes = len(labels) if distill else 0
    class_weight = None
    if settings.class_weights == "balanced":
        counts = label_counts(train_files, len(labels))
        class_weight = balanced_class_weights(counts)
        logging.info("Class weights for %s (counts %s): %s", labels, counts, class_weight)

    multiple = settings.bucket_multiple
    windows = settings.long_text == "windows"

    def datasets(batch_size, repeat_eval=True):
        return (classifier_dataset(train_files, settings.seq_length, batch_size,
                                   teacher_classes, multiple, windows, seed=settings.seed),
                classifier_dataset(eval_files, settings.seq_length, batch_size,
                                   teacher_classes, multiple, windows, shuffle=False,
                                   repeat=repeat_eval))

    def build():
        model = build_classifier(backbone(), len(labels), settings.dropout,
                                 settings.freeze_embeddings, settings.freeze_layers,
                                 settings.pooling)
        if head_weights is not None:
            weights = list(head_weights)
            for layer in head_layers(model):
                count = len(layer.weights)
                layer.set_weights(weights[:count])
                weights = weights[count:]
        if windows:  # a text's logits from its windows'
            model = WindowedClassifier(model, settings.window_pooling)
        return Distiller(model, **distill) if distill else model

    def compile_args():
        accuracy = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        if distill:  # Distiller.compute_loss
            return dict(metrics=accuracy)
        return dict(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                    metrics=accuracy)

    early_stopping = list(extra_callbacks)
    if settings.early_stopping_patience:
        early_stopping.append(keras.callbacks.EarlyStopping(
            monitor="val_accuracy", mode="max", patience=settings.early_stopping_patience,
            restore_best_weights=True))
    model = training.train(
        settings, build, compile_args, datasets, log_dir, extra_callbacks=early_stopping,
        class_weight=class_weight, best_metric="val_accuracy", backup_dir=backup_dir, chief=chief,
        **fit_options)
    return model.student if distill else model


def train(job: training.TrainerJob, **fit_options) -> keras.Model:
    """The classifier of `job` trained (no export): the Trainer's, or a search's trial
    (`fit_options`: train_classifier's)."""
    settings, labels = job.settings, list(job.custom_config["labels"])
    pretrained, backbone = job.encoder_to_fine_tune()
    head = keeps_classifier_head(pretrained, labels, settings)
    logging.info("Classifier head: %s", "the imported checkpoint's" if head else "new")
    return train_classifier(settings, backbone, labels, job.train_files, job.eval_files,
                            job.log_dir, job.backup_dir, job.chief,
                            distill=job.custom_config.get("distill"), head_weights=head,
                            **fit_options)


def train_and_export(job: training.TrainerJob) -> None:
    settings, labels = job.settings, list(job.custom_config["labels"])
    model = train(job)
    export_classifier(model, job.transform_output, job.serving_dir, labels,
                      settings.seq_length, settings.model_name, job.vocab_file,
                      long_text=long_text_info(settings))


def long_text_info(settings: ClassifierSettings) -> dict:
    """How the model reads a text longer than one window, for the export's model.json."""
    info = {"long_text": settings.long_text}
    if settings.long_text == "windows":
        info.update(window_stride=settings.stride, max_windows=settings.max_windows,
                    window_pooling=settings.window_pooling)
    return info


def keeps_classifier_head(encoder_dir: str, labels: Sequence[str], settings: ClassifierSettings):
    """The weights of an imported classifier's head (models/text_classification/checkpoint.py:
    save_classifier) when fine-tuning goes on from it: its classes are the data's, in the same order, the
    pooling is `cls` (its pooler's) and the weights are kept (not --from-scratch); else None."""
    from models import checkpoints

    head = checkpoints.classifier_head(encoder_dir)
    if head and head[0] == list(labels) and settings.pooling == "cls" and not settings.from_scratch:
        return head[1]
    return None


def run_fn(fn_args):
    """TFX Trainer entry point; the pretrained encoder comes in as the Trainer's `base_model`."""
    training.run_trainer(fn_args, ClassifierSettings, train_and_export)


def tuner_fn(fn_args):
    """TFX Tuner entry point (`--tune`): trials of `train` (models/core/training.py: tuner_fn)."""
    return training.tuner_fn(fn_args, ClassifierSettings, train)
