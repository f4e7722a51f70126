"""Causal-LM (GPT-2) pretraining, the task on top of models/core/training.py: Tokenize's blocks →
keras-hub GPT2CausalLM → the generation SavedModel and the model more pretraining starts from.

TFX Trainer: `run_fn="models.causal_lm.trainer.run_fn"`, `examples` = Tokenize's transformed
examples (`token_ids` blocks), `transform_graph` = Tokenize's (the byte-level BPE vocabulary,
`vocab.json` + `merges.txt`, beside it), `custom_config={"settings":
CausalLMSettings(...).to_dict(), "backup_dir": ...}`; `base_model` (optional) = a GPT-2
checkpoint (Hugging Face or lmpipe: models/checkpoints/gpt2.py) to continue from (its size
replaces `model_size`).
"""

import os

import keras
from absl import logging

from models.tokenizers import bpe
from models.causal_lm import model as causal_lm, export as causal_lm_export
from models.checkpoints import gpt2 as gpt2_checkpoint
from models.causal_lm.checkpoint import load_causal_lm, save_causal_lm
from models.core import training
from models.causal_lm.settings import CausalLMSettings


def _start_from(base_model: str) -> str:
    """The checkpoint directory of a `base_model`: a CausalCheckpointImport Model artifact (or
    its Format-Serving SavedModel) holds it in `causal_lm/`."""
    base_model = base_model.rstrip("/")
    if os.path.basename(base_model) == "Format-Serving":
        base_model = os.path.dirname(base_model)
    return base_model


def train(job: training.TrainerJob, **fit_options) -> keras.Model:
    """The causal LM of `job` trained (no export): the Trainer's, or a search's trial
    (`fit_options`: extra_callbacks, checkpoints, for models/core/training.py: fit_and_log)."""
    settings: CausalLMSettings = job.settings
    vocab, _ = bpe.read_bpe(os.path.dirname(job.vocab_file))

    def build():
        if not job.base_model:
            return causal_lm.build_causal_lm(len(vocab), settings.seq_length, settings.model_size,
                                             settings.dropout)
        ckpt = gpt2_checkpoint.inspect_gpt2(_start_from(job.base_model))
        gpt2_checkpoint.check_positions(ckpt, settings.seq_length)
        if ckpt.vocab_size != len(vocab):
            raise gpt2_checkpoint.CheckpointError(
                f"{ckpt.path}: its token embedding has {ckpt.vocab_size} rows but the "
                f"vocabulary Tokenize used has {len(vocab)} tokens")
        logging.info("Continuing pretraining from %s (%d layers, hidden %d, %d positions)",
                     ckpt.path, ckpt.num_layers, ckpt.hidden_dim, ckpt.positions)
        return load_causal_lm(ckpt, dropout=settings.dropout)

    def datasets(batch_size, repeat_eval=True):
        data = dict(seq_length=settings.seq_length, batch_size=batch_size, seed=settings.seed)
        return (causal_lm.causal_lm_dataset(job.train_files, **data),
                causal_lm.causal_lm_dataset(job.eval_files, shuffle=False, repeat=repeat_eval,
                                            **data))

    return training.train(
        settings, build,
        lambda: dict(loss=causal_lm.causal_lm_loss(), weighted_metrics=[
            keras.metrics.SparseCategoricalAccuracy(name="next_token_accuracy")]),
        datasets, job.log_dir, backup_dir=job.backup_dir, chief=job.chief, **fit_options)


def train_and_export(job: training.TrainerJob) -> None:
    settings: CausalLMSettings = job.settings
    vocab, merges = bpe.read_bpe(os.path.dirname(job.vocab_file))
    model = train(job)
    keras.mixed_precision.set_dtype_policy("float32")
    causal_lm_export.export_causal_lm(
        model, vocab, merges, job.serving_dir, settings.seq_length, settings.model_name,
        causal_lm_export.GenerationDefaults(max_new_tokens=settings.max_new_tokens))
    # Beside the SavedModel: the model more pretraining (or `lmpipe import`) starts from.
    save_causal_lm(model, vocab, merges, os.path.dirname(job.serving_dir))


def run_fn(fn_args):
    """TFX Trainer entry point."""
    training.run_trainer(fn_args, CausalLMSettings, train_and_export)


def tuner_fn(fn_args):
    """TFX Tuner entry point (`--tune`): trials of `train` (models/core/training.py: tuner_fn)."""
    return training.tuner_fn(fn_args, CausalLMSettings, train)
