"""Fine-tuning for extractive question answering, the task on top of models/core/training.py:
Transform's windows (models/question_answering/model.py: preprocessing_fn) → a pretrained
encoder + span head → the SavedModel that answers raw questions about raw contexts
(models/question_answering/export.py).

TFX Trainer: `run_fn="models.question_answering.trainer.run_fn"`, `base_model` = a pretrained
Model artifact (its `encoder/`), `custom_config={"settings":
QuestionAnsweringSettings(...).to_dict(), "backup_dir": ...}`.
"""

import dataclasses
import json
import os
from typing import Callable, List, Optional, Sequence

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

    return inputs.windows_dataset(file_patterns, windows, batch_size, bucket_multiple, shuffle,
                                  repeat, seed)


def train_span_model(settings: QuestionAnsweringSettings, backbone: Callable,
                     train_files: List[str], eval_files: List[str], log_dir: str,
                     backup_dir: Optional[str] = None, chief: bool = True,
                     head_weights=None, **fit_options) -> keras.Model:
    """`backbone()` gives the encoder to start from (called under the strategy's scope);
    `head_weights` (the span head's kernel `[hidden, 2]` and bias): an imported
    question-answering model's head to start from, else a new random head. `fit_options`
    (extra_callbacks, checkpoints): a search's trial's, for models/core/training.py:
    fit_and_log."""
    multiple = settings.bucket_multiple

    def datasets(batch_size, repeat_eval=True):
        return (span_dataset(train_files, settings.seq_length, batch_size, multiple,
                             seed=settings.seed),
                span_dataset(eval_files, settings.seq_length, batch_size, multiple,
                             shuffle=False, repeat=repeat_eval))

    def build():
        model = qa.build_span_model(backbone(), settings.dropout)
        if head_weights is not None:
            model.output_dense.set_weights(list(head_weights))
        return model

    def compile_args():
        return dict(loss=qa.span_loss, metrics=[qa.SpanAccuracy()])

    return training.train(settings, build, compile_args, datasets, log_dir,
                          best_metric="val_span_accuracy", backup_dir=backup_dir, chief=chief,
                          **fit_options)


def train(job: training.TrainerJob, **fit_options) -> keras.Model:
    """The span model of `job` trained (no export): the Trainer's or a search's trial's."""
    pretrained, backbone = job.encoder_to_fine_tune()
    head = kept_span_head(pretrained, job.settings)
    logging.info("Span head: %s", "the imported checkpoint's" if head else "new")
    return train_span_model(job.settings, backbone, job.train_files, job.eval_files,
                            job.log_dir, job.backup_dir, job.chief, head_weights=head,
                            **fit_options)


def train_and_export(job: training.TrainerJob) -> None:
    settings = job.settings
    model = train(job)
    from models.tokenizers.wordpiece import load_tokenizer
    tokenizer = load_tokenizer(job.vocab_file)
    if settings.with_no_answer and settings.null_score_threshold is None:
        threshold, report = best_null_threshold(model, job.eval_files, settings,
                                                tokenizer.special.sep)
        logging.info("No-answer threshold learned on the eval split: %s", report)
        with tf.io.gfile.GFile(os.path.join(job.log_dir, "null_score_threshold.json"), "w") as f:
            json.dump(report, f, indent=2)
        settings = dataclasses.replace(settings, null_score_threshold=threshold)
    export_question_answering(model, tokenizer, job.serving_dir, settings, job.vocab_file)


def question_windows(file_patterns: List[str], seq_length: int) -> tf.data.Dataset:
    """Transform's examples one question at a time: its windows' token ids and segment ids
    `[windows, seq_length]` and labels `[windows, 2]`."""
    spec = {name: tf.io.VarLenFeature(tf.int64) for name in (
        features.TOKEN_IDS, features.SEGMENT_IDS, features.START_POSITIONS,
        features.END_POSITIONS)}

    def parse(serialized):
        parsed = {k: tf.sparse.to_dense(v) for k, v in
                  tf.io.parse_single_example(serialized, spec).items()}
        return (tf.reshape(parsed[features.TOKEN_IDS], [-1, seq_length]),
                tf.reshape(parsed[features.SEGMENT_IDS], [-1, seq_length]),
                tf.stack([parsed[features.START_POSITIONS], parsed[features.END_POSITIONS]], 1))

    files = tf.io.gfile.glob(file_patterns) if isinstance(file_patterns, str) else [
        f for pattern in file_patterns for f in tf.io.gfile.glob(pattern)]
    return tf.data.TFRecordDataset(files, compression_type="GZIP").map(parse)


def best_threshold(null_minus_best: Sequence[float], has_answer: Sequence[bool],
                   correct: Sequence[bool]):
    """The official SQuAD v2.0 script's `find_best_thresh` on exact match: questions answered
    in order of `null_minus_best` (the no-answer score less the best answer's), starting from
    "no answer" for all; returns (the threshold with the best exact match, that exact match in
    [0, 1]). A question is then answered "" when its value is above the threshold.

    >>> best_threshold([-0.5, 0.1, 0.3, 0.9], [True, True, False, False], [True, False, False, False])
    (-0.5, 0.75)
    """
    order = sorted(range(len(null_minus_best)), key=lambda i: null_minus_best[i])
    score = best = sum(not h for h in has_answer)
    threshold = min(null_minus_best, default=0.0) - 1.0  # below every question: none answered
    for i in order:
        score += (1 if correct[i] else 0) if has_answer[i] else -1
        if score > best:
            best, threshold = score, null_minus_best[i]
    return threshold, best / len(has_answer) if has_answer else 0.0


def best_null_threshold(model, eval_files: List[str], settings: QuestionAnsweringSettings,
                        sep_id: int):
    """The no-answer threshold with the best exact match on the eval split (`best_threshold`),
    from its Transform examples: per question the no-answer score (the least over its windows),
    the best span's score (over every window), whether it has an answer (a window labelled
    off [CLS]) and whether the best span is a labelled one (exact match, on word pieces).
    Returns (threshold, a report of the counts and exact match)."""
    @tf.function(reduce_retracing=True)
    def scores(token_ids, segment_ids):
        from models.core.inputs import bert_inputs
        logits = tf.cast(model(bert_inputs(token_ids, segment_ids=segment_ids),
                               training=False), tf.float32)
        in_context = tf.equal(segment_ids, 1) & tf.not_equal(token_ids, sep_id)
        null, spans = qa.span_scores(logits, in_context, settings.max_answer_length)
        flat = tf.reshape(spans, [-1])
        best = tf.argmax(flat)
        per_window = tf.shape(spans, out_type=tf.int64)[1]
        window, span = best // per_window, best % per_window
        start = span // settings.max_answer_length
        return (tf.reduce_min(null), flat[best], window, start,
                start + span % settings.max_answer_length)

    diffs, has_answer, correct = [], [], []
    for token_ids, segment_ids, labels in question_windows(eval_files, settings.seq_length):
        null, best, window, start, end = (x.numpy() for x in scores(token_ids, segment_ids))
        labels = labels.numpy()
        diffs.append(float(null - best))
        has_answer.append(bool(labels.any()))
        correct.append(bool(has_answer[-1] and labels[window].tolist() == [start, end]))
    threshold, exact = best_threshold(diffs, has_answer, correct)
    return threshold, {"null_score_threshold": threshold, "best_exact_match": exact,
                       "questions": len(diffs), "unanswerable": has_answer.count(False),
                       "exact_match_at_0": best_threshold_at(0.0, diffs, has_answer, correct)}


def best_threshold_at(threshold: float, null_minus_best, has_answer, correct) -> float:
    """Exact match in [0, 1] when questions above `threshold` are answered ""."""
    right = sum((not h) if d > threshold else (h and c)
                for d, h, c in zip(null_minus_best, has_answer, correct))
    return right / len(has_answer) if has_answer else 0.0


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


def tuner_fn(fn_args):
    """TFX Tuner entry point (`--tune`): trials of `train` (models/core/training.py: tuner_fn)."""
    return training.tuner_fn(fn_args, QuestionAnsweringSettings, train)
