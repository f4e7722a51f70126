"""Masked-LM pretraining, the task on top of models/training.py: MlmMasker's examples → BERT +
MLM head → the fill-mask SavedModel and the encoder for fine-tuning.

TFX Trainer: `run_fn="models.masked_lm_trainer.run_fn"`, `custom_config={"settings":
MaskedLMSettings(...).to_dict(), "backup_dir": ...}`.
"""

from typing import List, Optional

import keras

from models import encoder, export, inputs, training
from models.masked_lm import build_masked_lm, masked_lm_loss
from models.settings import MaskedLMSettings


def train_masked_lm(settings: MaskedLMSettings, train_files: List[str], eval_files: List[str],
                    vocab_size: int, log_dir: str, backup_dir: Optional[str] = None,
                    chief: bool = True) -> keras.Model:
    """Builds, compiles and fits the model; returns it trained."""
    def datasets(batch_size):
        data = dict(seq_length=settings.seq_length, max_predictions=settings.max_predictions,
                    batch_size=batch_size, seed=settings.seed)
        return (inputs.masked_lm_dataset(train_files, **data),
                inputs.masked_lm_dataset(eval_files, shuffle=False, **data))

    return training.train(
        settings,
        lambda: build_masked_lm(vocab_size, settings.seq_length, settings.model_size,
                                settings.dropout),
        lambda: dict(loss=masked_lm_loss(), weighted_metrics=[
            keras.metrics.SparseCategoricalAccuracy(name="masked_accuracy")]),
        datasets, log_dir, backup_dir=backup_dir, chief=chief)


def train_and_export(job: training.TrainerJob) -> None:
    settings = job.settings
    model = train_masked_lm(settings, job.train_files, job.eval_files, len(job.vocab),
                            job.log_dir, job.backup_dir, job.chief)
    export.export_masked_lm(model, job.transform_output, job.serving_dir, job.vocab,
                            settings.seq_length, settings.max_predictions, settings.top_k,
                            settings.model_name)
    # Beside the SavedModel, the encoder for fine-tuning to start from.
    encoder.save_encoder(model.backbone, job.serving_dir, job.vocab_file)


def run_fn(fn_args):
    """TFX Trainer entry point."""
    training.run_trainer(fn_args, MaskedLMSettings, train_and_export)
