"""TextExampleGen executor: plain-text documents to tf.train.Examples.

Each document (blank-line-separated block, see reader.py) becomes one example with bytes
features `text` (the document) and `source` (the file's path relative to `input_base`). Files
are found recursively (reader.list_corpus_files); each split's examples and bytes are counted
(components/split_counts.py).
"""

import os
from typing import Any, Dict

from absl import logging
import apache_beam as beam
import tensorflow as tf
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.types import standard_component_specs

from components import split_counts
from components.split_counts import SplitCountsMixin
from components.text_example_gen import reader
from models.core import features


def _bytes_feature(value: str) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode("utf-8")]))


def _to_examples(path: str, input_base: str):
    source = os.path.relpath(path, input_base)
    for document in reader.read_documents(path):
        yield tf.train.Example(features=tf.train.Features(feature={
            features.TEXT: _bytes_feature(document),
            features.SOURCE: _bytes_feature(source),
        }))


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(tf.train.Example)
def _TextToExample(pipeline: beam.Pipeline, exec_properties: Dict[str, Any],
                   split_pattern: str) -> beam.pvalue.PCollection:
    """Reads the text files under `input_base` (recursively, hidden ones skipped) whose
    relative path matches `split_pattern`; one example per document."""
    input_base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
    pattern = os.path.join(input_base, split_pattern)
    files = reader.list_corpus_files(input_base, split_pattern)
    if not files:
        raise reader.CorpusError(
            f"split pattern {pattern} matches no (non-hidden) files; "
            "put UTF-8 text files in the corpus directory or fix the pattern")
    # Validate every file before building the graph: all bad files reported at once.
    read = reader.check_files(files, what=pattern)
    split_counts.expect(exec_properties, sum(f.documents for f in read))
    logging.info("TextExampleGen: reading %d file(s) matching %s", len(files), pattern)
    return (pipeline
            | "CreateFilenames" >> beam.Create(files)
            | "Reshuffle" >> beam.Reshuffle()
            | "ReadDocuments" >> beam.FlatMap(_to_examples, input_base))


class Executor(SplitCountsMixin, BaseExampleGenExecutor):
    """ExampleGen executor for plain-text corpora (blank-line-separated documents)."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        return _TextToExample
