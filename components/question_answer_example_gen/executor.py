"""QuestionAnswerExampleGen executor: SQuAD JSON / JSON Lines to tf.train.Examples.

Each question becomes one example: bytes features `id`, `title`, `question`, `context`, and its
gold answers `answer_text` (bytes list) and `answer_start` (int64 list, code points into the
context; both empty for an unanswerable question). The custom config holds `misaligned`
(reader.MISALIGNED).
"""

import os
from typing import Any, Dict

import apache_beam as beam
import tensorflow as tf
from absl import logging
from google.protobuf import struct_pb2
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import standard_component_specs

from components import split_counts
from components.labelled_example_gen.executor import _custom_config
from components.question_answer_example_gen import reader
from components.split_counts import SplitCountsMixin
from models.core import features


def custom_config(misaligned: str = "error") -> example_gen_pb2.CustomConfig:
    """The CustomConfig that carries what to do with misaligned answers to the executor."""
    struct = struct_pb2.Struct()
    struct.update({"misaligned": misaligned})
    config = example_gen_pb2.CustomConfig()
    config.custom_config.Pack(struct)
    return config


def _bytes(values) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v.encode("utf-8")
                                                                 for v in values]))


def to_example(q: reader.Question) -> tf.train.Example:
    """One question as the example QuestionAnswerExampleGen writes."""
    return tf.train.Example(features=tf.train.Features(feature={
        features.QUESTION_ID: _bytes([q.id]), "title": _bytes([q.title]),
        features.QUESTION: _bytes([q.question]), features.CONTEXT: _bytes([q.context]),
        features.ANSWER_TEXT: _bytes(q.answer_texts),
        features.ANSWER_START: tf.train.Feature(int64_list=tf.train.Int64List(
            value=q.answer_starts))}))


def _to_examples(path: str, misaligned: str):
    for q in reader.read_questions(path, misaligned):
        yield to_example(q)


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(tf.train.Example)
def _QuestionsToExample(pipeline: beam.Pipeline, exec_properties: Dict[str, Any],
                        split_pattern: str) -> beam.pvalue.PCollection:
    """Reads the data files matching `input_base/split_pattern`; one example per question."""
    misaligned = str(_custom_config(exec_properties).get("misaligned") or "error")
    pattern = os.path.join(exec_properties[standard_component_specs.INPUT_BASE_KEY],
                           split_pattern)
    files = sorted(f for f in fileio.glob(pattern) if reader.is_data_file(f))
    if not files:
        raise reader.QADataError(f"split pattern {pattern} matches no question-answering files "
                                 f"({', '.join(reader.DATA_EXTENSIONS)}); add some or fix it")
    report = reader.check_qa_data(pattern, misaligned, files=files)  # all problems at once
    split_counts.expect(exec_properties, report.to_json()["questions"])
    logging.info("QuestionAnswerExampleGen: reading %d file(s) matching %s", len(files), pattern)
    return (pipeline
            | "CreateFilenames" >> beam.Create(files)
            | "Reshuffle" >> beam.Reshuffle()
            | "ReadQuestions" >> beam.FlatMap(_to_examples, misaligned))


class Executor(SplitCountsMixin, BaseExampleGenExecutor):
    """ExampleGen executor for question-answering data."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        return _QuestionsToExample
