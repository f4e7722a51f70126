"""Masked-LM pretraining, the task on top of models/core/training.py: MlmMasker's examples → BERT +
MLM head → the fill-mask SavedModel and the encoder for fine-tuning.

TFX Trainer: `run_fn="models.masked_lm.trainer.run_fn"`, `examples` = MlmMasker's (static
masking) or Tokenize's transformed examples (dynamic masking), `custom_config={"settings":
MaskedLMSettings(...).to_dict(), "backup_dir": ...}`; `base_model` (optional) = a pretrained
Model artifact to continue from (its encoder and MLM head; its size replaces `model_size`).
"""

import os
from typing import List, Optional

import keras
from absl import logging

from models import checkpoints
from models.masked_lm.checkpoint import load_masked_lm, save_mlm_head
from models.core import encoder, training
from models.masked_lm.inputs import dynamic_masked_lm_dataset, masked_lm_dataset
from models.masked_lm.export import export_masked_lm
from models.masked_lm.model import build_masked_lm, masked_lm_loss
from models.masked_lm.settings import MaskedLMSettings
from models.tokenizers.wordpiece import SpecialIds


def train_masked_lm(settings: MaskedLMSettings, train_files: List[str], eval_files: List[str],
                    vocab_size: int, log_dir: str, backup_dir: Optional[str] = None,
                    chief: bool = True, start_from: Optional[str] = None,
                    special: Optional[SpecialIds] = None, **fit_options) -> keras.Model:
    """Builds, compiles and fits the model; returns it trained. `start_from`: an lmpipe model
    directory whose weights training continues from (else random weights). The files are
    MlmMasker's examples, or with dynamic masking Transform's windows (`special`: where the
    vocabulary puts [MASK] and the other special tokens). `fit_options` (extra_callbacks,
    checkpoints): a search's trial's, for models/core/training.py: fit_and_log."""

    def build():
        if start_from is None:
            return build_masked_lm(vocab_size, settings.seq_length, settings.model_size,
                                   settings.dropout)
        start = checkpoints.inspect(start_from)
        model = load_masked_lm(start, settings.dropout)
        logging.info("Continuing pretraining from %s (%d layers, hidden %d; MLM head %s)",
                     start_from, model.backbone.num_layers, model.backbone.hidden_dim,
                     "pretrained" if model.pretrained_head else "new")
        return model

    def datasets(batch_size, repeat_eval=True):
        data = dict(seq_length=settings.seq_length, max_predictions=settings.max_predictions,
                    batch_size=batch_size, seed=settings.seed)
        if settings.masking == "dynamic":  # Transform's windows, masked as they are read
            data.update(mask_rate=settings.mask_rate, special=special, vocab_size=vocab_size)
            return (dynamic_masked_lm_dataset(train_files, **data),
                    dynamic_masked_lm_dataset(eval_files, shuffle=False, repeat=repeat_eval,
                                              **data))
        return (masked_lm_dataset(train_files, **data),
                masked_lm_dataset(eval_files, shuffle=False, repeat=repeat_eval, **data))

    return training.train(
        settings, build,
        lambda: dict(loss=masked_lm_loss(), weighted_metrics=[
            keras.metrics.SparseCategoricalAccuracy(name="masked_accuracy")]),
        datasets, log_dir, backup_dir=backup_dir, chief=chief, **fit_options)


def train(job: training.TrainerJob, **fit_options) -> keras.Model:
    """The masked LM of `job` trained (no export): the Trainer's or a search's trial's."""
    start_from = None
    if job.base_model:
        start_from = os.path.dirname(encoder.encoder_dir(job.base_model))
        encoder.check_vocabulary(encoder.encoder_dir(start_from), len(job.vocab), job.vocab_file)
    return train_masked_lm(job.settings, job.train_files, job.eval_files, len(job.vocab),
                           job.log_dir, job.backup_dir, job.chief, start_from,
                           SpecialIds.of(job.vocab, job.vocab_file), **fit_options)


def train_and_export(job: training.TrainerJob) -> None:
    settings = job.settings
    model = train(job)
    export_masked_lm(model, job.transform_output, job.serving_dir, job.vocab,
                     settings.seq_length, settings.max_predictions, settings.top_k,
                     settings.model_name)
    # Beside the SavedModel, the encoder (and MLM head) that fine-tuning or more pretraining
    # start from.
    saved = encoder.save_encoder(model.backbone, job.serving_dir, job.vocab_file)
    save_mlm_head(model, saved)


def run_fn(fn_args):
    """TFX Trainer entry point."""
    training.run_trainer(fn_args, MaskedLMSettings, train_and_export)


def tuner_fn(fn_args):
    """TFX Tuner entry point (`--tune`): trials of `train` (models/core/training.py: tuner_fn)."""
    return training.tuner_fn(fn_args, MaskedLMSettings, train)
