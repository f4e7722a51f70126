"""TaggedExampleGen executor: tagged sentences (CoNLL, CoNLL-U-like, JSONL) to tf.train.Examples.

Each sentence becomes one example with bytes-list features `tokens` and `tags` (IOB2, one per
token), whatever the input's columns or scheme. The custom config (see component.py) holds
`scheme`, and `token_column` / `tag_column` when given.
"""

import os
from typing import Any, Dict, Optional

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
from components.split_counts import SplitCountsMixin
from components.tagged_example_gen import reader
from models.core.features import TAGS, TOKENS


def custom_config(scheme: str = "iob2", token_column: Optional[str] = None,
                  tag_column: Optional[str] = None) -> example_gen_pb2.CustomConfig:
    """The CustomConfig that carries the tag scheme and columns to the executor."""
    struct = struct_pb2.Struct()
    struct.update({"scheme": scheme})
    for key, value in (("token_column", token_column), ("tag_column", tag_column)):
        if value is not None:
            struct.update({key: str(value)})
    config = example_gen_pb2.CustomConfig()
    config.custom_config.Pack(struct)
    return config


def _bytes_list(values) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v.encode("utf-8")
                                                                 for v in values]))


def _to_examples(path: str, scheme: str, token_column, tag_column):
    for sentence in reader.read_tagged(path, scheme, token_column, tag_column):
        yield tf.train.Example(features=tf.train.Features(feature={
            TOKENS: _bytes_list(sentence.tokens), TAGS: _bytes_list(sentence.tags)}))


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(tf.train.Example)
def _TaggedToExample(pipeline: beam.Pipeline, exec_properties: Dict[str, Any],
                     split_pattern: str) -> beam.pvalue.PCollection:
    """Reads the data files matching `input_base/split_pattern`; one example per sentence."""
    config = _custom_config(exec_properties)
    scheme = str(config.get("scheme") or "iob2")
    token_column, tag_column = config.get("token_column"), config.get("tag_column")
    pattern = os.path.join(exec_properties[standard_component_specs.INPUT_BASE_KEY],
                           split_pattern)
    files = sorted(f for f in fileio.glob(pattern) if reader.is_data_file(f))
    if not files:
        raise reader.TaggedDataError(
            f"split pattern {pattern} matches no tagged-data files "
            f"({', '.join(reader.DATA_EXTENSIONS)}); add some or fix the pattern")
    # Every file checked (all problems reported at once) before the graph is built.
    sentences = 0
    for f in files:
        sentences += reader.check_tagged_data(f, scheme, token_column, tag_column).to_json()[
            "sentences"]
    split_counts.expect(exec_properties, sentences)
    logging.info("TaggedExampleGen: reading %d file(s) matching %s (%s tags)", len(files),
                 pattern, scheme.upper())
    return (pipeline
            | "CreateFilenames" >> beam.Create(files)
            | "Reshuffle" >> beam.Reshuffle()
            | "ReadSentences" >> beam.FlatMap(_to_examples, scheme, token_column, tag_column))


class Executor(SplitCountsMixin, BaseExampleGenExecutor):
    """ExampleGen executor for tagged sentences."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        return _TaggedToExample
