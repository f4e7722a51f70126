"""Fine-tuning for extractive question answering, the task on top of models/core/training.py:
Transform's windows (models/question_answering/model.py: preprocessing_fn) → a pretrained
encoder + span head → the SavedModel that answers raw questions about raw contexts
(models/question_answering/export.py).

TFX Trainer: `run_fn="models.question_answering.trainer.run_fn"`, `base_model` = a pretrained
Model artifact (its `encoder/`), `custom_config={"settings":
QuestionAnsweringSettings(...).to_dict(), "backup_dir": ...}`.
"""

from typing import Callable, List, Optional

import keras
import tensorflow as tf
from absl import logging

from models.core import features, inputs, training
from models.question_answering import model as qa
from models.question_answering.export import export_question_answering
from models.question_answering.settings import QuestionAnsweringSettings


def span_dataset(file_patterns: List[str], seq_length: int, batch_size: int,
                 bucket_multiple: int = 0, shuffle: bool = True, repeat: bool = True,
                 seed: int = 42) -> tf.data.Dataset:
    """Transform's examples (every window of every question) to batches of (BERT inputs with
    segment ids, labels `[batch, 2]` int64: the answer's start and end positions, 0 where the
    window does not hold it). `bucket_multiple` > 0: windows of similar length batched
    together and cut to the batch's longest rounded up to it (models/core/inputs.py:
    length_bucketed); 0: every window `seq_length`. A repeated stream drops its last short
    batch."""
    spec = {name: tf.io.VarLenFeature(tf.int64) for name in (
        features.TOKEN_IDS, features.SEGMENT_IDS, features.START_POSITIONS,
        features.END_POSITIONS)}

    def windows(serialized):
        parsed = {k: tf.sparse.to_dense(v) for k, v in
                  tf.io.parse_single_example(serialized, spec).items()}
        ids, segments = (tf.reshape(parsed[k], [-1, seq_length])
                         for k in (features.TOKEN_IDS, features.SEGMENT_IDS))
        labels = tf.stack([parsed[features.START_POSITIONS], parsed[features.END_POSITIONS]],
                          axis=1)
        return tf.data.Dataset.from_tensor_slices(
            (inputs.bert_inputs(ids, segment_ids=segments), labels))

    files = tf.data.Dataset.list_files(file_patterns, shuffle=shuffle, seed=seed)
    ds = tf.data.TFRecordDataset(files, compression_type="GZIP").flat_map(windows)
    if shuffle:
        ds = inputs.uniform_shuffle(ds, seed)  # the whole split, when it fits
    if repeat:
        ds = ds.repeat()
    if bucket_multiple:
        ds = inputs.length_bucketed(ds, batch_size, bucket_multiple, drop_remainder=repeat)
    else:
        ds = ds.batch(batch_size, drop_remainder=repeat)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.prefetch(tf.data.AUTOTUNE).with_options(options)


def train_span_model(settings: QuestionAnsweringSettings, backbone: Callable,
                     train_files: List[str], eval_files: List[str], log_dir: str,
                     backup_dir: Optional[str] = None, chief: bool = True,
                     head_weights=None) -> keras.Model:
    """`backbone()` gives the encoder to start from (called under the strategy's scope);
    `head_weights` (the span head's kernel `[hidden, 2]` and bias): an imported
    question-answering model's head to start from, else a new random head."""
    multiple = settings.bucket_multiple

    def datasets(batch_size):
        return (span_dataset(train_files, settings.seq_length, batch_size, multiple,
                             seed=settings.seed),
                span_dataset(eval_files, settings.seq_length, batch_size, multiple,
                             shuffle=False))

    def build():
        model = qa.build_span_model(backbone(), settings.dropout)
        if head_weights is not None:
            model.output_dense.set_weights(list(head_weights))
        return model

    def compile_args():
        return dict(loss=qa.span_loss, metrics=[qa.SpanAccuracy()])

    return training.train(settings, build, compile_args, datasets, log_dir,
                          best_metric="val_span_accuracy", backup_dir=backup_dir, chief=chief)


def train_and_export(job: training.TrainerJob) -> None:
    settings = job.settings
    pretrained, backbone = job.encoder_to_fine_tune()
    head = kept_span_head(pretrained, settings)
    logging.info("Span head: %s", "the imported checkpoint's" if head else "new")
    model = train_span_model(settings, backbone, job.train_files, job.eval_files, job.log_dir,
                             job.backup_dir, job.chief, head_weights=head)
    from models.tokenizers.wordpiece import load_tokenizer
    export_question_answering(model, load_tokenizer(job.vocab_file), job.serving_dir, settings,
                              job.vocab_file)


def kept_span_head(encoder_dir: str, settings: QuestionAnsweringSettings):
    """An imported question-answering model's span head (kernel `[hidden, 2]`, bias), unless
    --from-scratch; else None (a new head)."""
    from models import checkpoints
    head = checkpoints.classifier_head(encoder_dir, checkpoints.QUESTION_ANSWERING)
    if not head or settings.from_scratch:
        return None
    return list(head[1])


def run_fn(fn_args):
    """TFX Trainer entry point; the pretrained encoder comes in as the Trainer's `base_model`."""
    training.run_trainer(fn_args, QuestionAnsweringSettings, train_and_export)
