"""The question-answering SavedModel (keras.export.ExportArchive, TF Serving's layout):

- `serving_default(question: string[None], context: string[None])`: raw questions and their
  raw contexts → the best answer of each, `answer` `[batch]` string, `start`, `end` `[batch]`
  int64 (character offsets into the raw context, Unicode code points, end exclusive:
  `context[start:end] == answer`), `score` float32 (p(start) x p(end), summed over the spans
  of the same text), `has_answer` bool; and the `top_k` best, best first, `answers`,
  `starts`, `ends`, `scores` `[batch, top_k]` (padding "", -1, -1, 0). A context longer than
  one window is read whole, every window in the graph. A model trained with unanswerable
  questions (`with_no_answer`) answers "" (start = end = 0, `has_answer` false, `score` the
  no-answer score) when the no-answer score beats the best answer's by more than
  `null_score_threshold` (learned on the eval split unless given); otherwise
  `has_answer` is false only when no span was found (an empty context).
- `qa_eval(examples: string[None])`: serialized raw examples (`question`, `context`,
  `answer_text`) → `prediction` `[batch]` (the best answer's text, "" for no answer),
  `gold_answers` `[batch, n]` (padded with ""; n is one more than the most gold answers),
  `gold_count` `[batch]` int64, and `best_score`, `null_score` float32; TFMA's metrics in
  models/question_answering/metrics.py score them as the official SQuAD scripts do.

Nothing here runs Python at serving time: tokenization, windows, the answer search and the
offsets are TF and tensorflow-text ops (models/question_answering/model.py).
"""

import json
import os

import keras
import tensorflow as tf

from models.core import features
from models.core.export import MODEL_INFO_DIR, MODEL_INFO_FILE, write_warmup_requests
from models.question_answering import model as qa
from models.question_answering.settings import QuestionAnsweringSettings
from models.tokenizers.wordpiece import Tokenizer, copy_vocabulary

QA_EVAL_SIGNATURE = "qa_eval"
WARMUP = {features.QUESTION: ["Who wrote it?", "Where was she born?"],
          features.CONTEXT: ["Ada Lovelace wrote the first program.",
                             "Ada Lovelace was born in London in 1815."]}
# What model.json keeps of the settings: what the answer search needs.
SERVING_SETTINGS = ("seq_length", "doc_stride", "max_query_length", "max_answer_length",
                    "top_k", "null_score_threshold", "with_no_answer")


def _search(model, tokenizer: Tokenizer, settings: QuestionAnsweringSettings, questions,
            contexts) -> qa.Answers:
    return qa.answer(model, tokenizer, questions, contexts, settings.seq_length,
                     settings.doc_stride, settings.max_query_length, settings.top_k,
                     settings.max_answer_length)


def best_answer(answers: qa.Answers, settings: QuestionAnsweringSettings) -> dict:
    """The best answer per question (`[batch]` each), "" where no span was found or, with
    `with_no_answer`, where the no-answer score wins."""
    best_score = answers.score[:, 0]
    found = answers.count > 0
    if settings.with_no_answer:
        found &= ~(answers.null_score - best_score > settings.threshold)
    return {"answer": tf.where(found, answers.text[:, 0], ""),
            "start": tf.where(found, answers.start[:, 0], 0),
            "end": tf.where(found, answers.end[:, 0], 0),
            "score": tf.where(found, best_score, answers.null_score),
            "has_answer": found}


def answer_fn(model, tokenizer: Tokenizer, settings: QuestionAnsweringSettings):
    """The `serving_default` function (module docstring)."""

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=features.QUESTION),
                                  tf.TensorSpec([None], tf.string, name=features.CONTEXT)])
    def answer(question, context):
        answers = _search(model, tokenizer, settings, question, context)
        return {**best_answer(answers, settings), "answers": answers.text,
                "starts": answers.start, "ends": answers.end, "scores": answers.score}

    return answer


def qa_eval_fn(model, tokenizer: Tokenizer, settings: QuestionAnsweringSettings):
    """The `qa_eval` function (module docstring)."""

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def qa_eval(examples):
        parsed = tf.io.parse_example(examples, {
            features.QUESTION: tf.io.FixedLenFeature([], tf.string),
            features.CONTEXT: tf.io.FixedLenFeature([], tf.string),
            features.ANSWER_TEXT: tf.io.RaggedFeature(tf.string, row_splits_dtype=tf.int64)})
        answers = _search(model, tokenizer, settings, parsed[features.QUESTION],
                          parsed[features.CONTEXT])
        best = best_answer(answers, settings)
        gold = parsed[features.ANSWER_TEXT]
        return {"prediction": best["answer"],
                # One "" column more than the most gold answers: never zero columns.
                "gold_answers": tf.concat([gold.to_tensor(default_value=""),
                                           tf.fill([tf.shape(examples)[0], 1], "")], axis=1),
                "gold_count": gold.row_lengths(),
                "best_score": answers.score[:, 0], "null_score": answers.null_score}

    return qa_eval


def export_question_answering(model: keras.Model, tokenizer: Tokenizer, export_dir: str,
                              settings: QuestionAnsweringSettings, vocab_file: str) -> str:
    """Writes the question-answering SavedModel (signatures in the module docstring), TF
    Serving warmup requests and `assets.extra/lmpipe/` (vocabulary, `model.json`: task and
    the answer search's settings)."""
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.track(tokenizer)
    archive.add_endpoint(features.SERVING_SIGNATURE, answer_fn(model, tokenizer, settings))
    archive.add_endpoint(QA_EVAL_SIGNATURE, qa_eval_fn(model, tokenizer, settings))
    archive.write_out(export_dir)
    write_warmup_requests(export_dir, settings.model_name, (), named_inputs=WARMUP)
    directory = os.path.join(export_dir, "assets.extra", MODEL_INFO_DIR)
    copy_vocabulary(vocab_file, directory)
    with tf.io.gfile.GFile(os.path.join(directory, MODEL_INFO_FILE), "w") as f:
        json.dump({"task": "question-answering", "labels": [],
                   **{name: getattr(settings, name) for name in SERVING_SETTINGS},
                   "text_pairs": False}, f, indent=2)
    return export_dir
