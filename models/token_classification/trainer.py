"""Fine-tuning a token classifier, the task on top of models/core/training.py: Transform's windows
(models/token_classification/model.py: preprocessing_fn) → a pretrained encoder + per-token head →
the SavedModel that serves entities from raw text (models/token_classification/export.py).

TFX Trainer: `run_fn="models.token_classification.trainer.run_fn"`, `base_model` = a pretrained
Model artifact (its `encoder/`), `custom_config={"settings":
TokenClassifierSettings(...).to_dict(), "labels": [IOB2 class names], "backup_dir": ...}`.
"""

from typing import Callable, List, Optional, Sequence

import keras
import tensorflow as tf
from absl import logging

from models.core import features, inputs, training
from models.token_classification import model as tc
from models.token_classification.settings import TokenClassifierSettings
from models.token_classification.export import export_token_classifier


def tagging_dataset(file_patterns: List[str], seq_length: int, batch_size: int,
                    bucket_multiple: int = 0, shuffle: bool = True, repeat: bool = True,
                    seed: int = 42) -> tf.data.Dataset:
    """Transform's examples (every window of every sentence) to batches of (BERT inputs,
    labels `[batch, L]` int64 with IGNORE where there is none). `bucket_multiple` > 0: windows
    of similar length batched together and cut to the batch's longest rounded up to it
    (models/core/inputs.py: length_bucketed); 0: L = seq_length. A repeated stream drops its last
    short batch."""
    spec = {features.TOKEN_IDS: tf.io.VarLenFeature(tf.int64),
            tc.LABEL_IDS: tf.io.VarLenFeature(tf.int64)}

    def windows(serialized):
        parsed = tf.io.parse_single_example(serialized, spec)
        ids, labels = (tf.reshape(tf.sparse.to_dense(parsed[k]), [-1, seq_length])
                       for k in (features.TOKEN_IDS, tc.LABEL_IDS))
        return tf.data.Dataset.from_tensor_slices((inputs.bert_inputs(ids), labels))

    return inputs.windows_dataset(file_patterns, windows, batch_size, bucket_multiple, shuffle,
                                  repeat, seed, per_position_labels=True)


def train_token_classifier(settings: TokenClassifierSettings, backbone: Callable,
                           labels: Sequence[str], train_files: List[str], eval_files: List[str],
                           log_dir: str, backup_dir: Optional[str] = None, chief: bool = True,
                           head_weights=None, **fit_options) -> keras.Model:
    """`backbone()` gives the encoder to start from (called under the strategy's scope);
    `head_weights` (the output dense's kernel and bias): an imported tagger's head to start
    from, else a new random head."""
    multiple = settings.bucket_multiple

    def datasets(batch_size, repeat_eval=True):
        return (tagging_dataset(train_files, settings.seq_length, batch_size, multiple,
                                seed=settings.seed),
                tagging_dataset(eval_files, settings.seq_length, batch_size, multiple,
                                shuffle=False, repeat=repeat_eval))

    def build():
        model = tc.build_token_classifier(backbone(), len(labels), settings.dropout)
        if head_weights is not None:
            model.output_dense.set_weights(list(head_weights))
        return model

    def compile_args():
        return dict(loss=tc.token_loss(), metrics=[tc.TokenAccuracy(), tc.EntityF1(labels)])

    return training.train(settings, build, compile_args, datasets, log_dir,
                          best_metric="val_token_accuracy", backup_dir=backup_dir, chief=chief,
                          **fit_options)


def train(job: training.TrainerJob, **fit_options) -> keras.Model:
    """The token classifier of `job` trained (no export): the Trainer's or a search's trial's."""
    settings, labels = job.settings, list(job.custom_config["labels"])
    pretrained, backbone = job.encoder_to_fine_tune()
    head = keeps_tagger_head(pretrained, labels, settings)
    logging.info("Token classifier head: %s", "the imported checkpoint's" if head else "new")
    return train_token_classifier(settings, backbone, labels, job.train_files, job.eval_files,
                                  job.log_dir, job.backup_dir, job.chief, head_weights=head,
                                  **fit_options)


def train_and_export(job: training.TrainerJob) -> None:
    settings, labels = job.settings, list(job.custom_config["labels"])
    model = train(job)
    from models.tokenizers.wordpiece import load_tokenizer
    export_token_classifier(model, load_tokenizer(job.vocab_file), job.serving_dir, labels,
                            settings.seq_length, settings.stride, settings.model_name,
                            job.vocab_file)


def keeps_tagger_head(encoder_dir: str, labels: Sequence[str],
                      settings: TokenClassifierSettings):
    """An imported token classifier's head weights (kernel `[hidden, classes]`, bias), its
    columns put in the order of `labels`, when its classes are the data's (in any order: a
    Hugging Face tagger's id2label order is its own) and the weights are kept (not
    --from-scratch); else None (a new head)."""
    from models import checkpoints
    head = checkpoints.classifier_head(encoder_dir, checkpoints.TOKEN_CLASSIFICATION)
    if not head or sorted(head[0]) != sorted(labels) or settings.from_scratch:
        return None
    order = [head[0].index(label) for label in labels]
    kernel, bias = head[1]
    return [kernel[:, order], bias[order]]


def run_fn(fn_args):
    """TFX Trainer entry point; the pretrained encoder comes in as the Trainer's `base_model`."""
    training.run_trainer(fn_args, TokenClassifierSettings, train_and_export)


def tuner_fn(fn_args):
    """TFX Tuner entry point (`--tune`): trials of `train` (models/core/training.py: tuner_fn)."""
    return training.tuner_fn(fn_args, TokenClassifierSettings, train)
