"""LabelledExampleGen executor: labelled text rows (CSV, TSV, JSONL) to tf.train.Examples.

Each row becomes one example with bytes features `text` (features.TEXT) and `label`
(features.LABEL), and `text_pair` (features.TEXT_PAIR) for pairs, whatever the input columns
are called. The column names come from `exec_properties["custom_config"]` (keys
`text_column`, `label_column`, `text_pair_column`; see component.py).
"""

import json
import os
from typing import Any, Dict, Optional, Tuple

from absl import logging
import apache_beam as beam
from google.protobuf import json_format, struct_pb2
import tensorflow as tf
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import standard_component_specs

from components.labelled_example_gen import reader
from components import split_counts
from components.split_counts import SplitCountsMixin
from models.core import features

DEFAULT_TEXT_COLUMN = "text"
DEFAULT_LABEL_COLUMN = "label"


def _bytes_feature(value: str) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode("utf-8")]))


def columns(exec_properties: Dict[str, Any]) -> Tuple[str, str, Optional[str]]:
    """(text column, label column, text-pair column or None) from the custom config; defaults
    "text", "label" and no pair."""
    config = _custom_config(exec_properties)
    text_column = config.get("text_column") or DEFAULT_TEXT_COLUMN
    label_column = config.get("label_column") or DEFAULT_LABEL_COLUMN
    pair_column = config.get("text_pair_column") or None
    return str(text_column), str(label_column), pair_column and str(pair_column)


def tsv_quoting(exec_properties: Dict[str, Any]) -> str:
    """How TSV files are read (reader.TSV_QUOTING) from the custom config; default "auto"."""
    return str(_custom_config(exec_properties).get("tsv_quoting") or "auto")


def _custom_config(exec_properties: Dict[str, Any]) -> Dict[str, Any]:
    """The custom config as a dict.

    FileBasedExampleGen stores `custom_config` (an example_gen_pb2.CustomConfig whose Any packs
    a google.protobuf.Struct) in exec_properties as its JSON string. A plain dict, or the JSON
    of one, is accepted too (e.g. in tests).
    """
    config = exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY)
    if isinstance(config, example_gen_pb2.CustomConfig):
        config = json_format.MessageToDict(config)
    if isinstance(config, str):
        config = json.loads(config) if config.strip() else None
    config = dict(config or {})
    if "custom_config" in config:  # CustomConfig JSON: {"custom_config": {"@type", "value"}}
        packed = config["custom_config"] or {}
        config = packed.get("value", packed) if isinstance(packed, dict) else {}
        if not isinstance(config, dict):
            config = {}
    return config


def custom_config(text_column: str, label_column: str, pair_column: Optional[str] = None,
                  tsv_quoting: str = "auto") -> example_gen_pb2.CustomConfig:
    """The CustomConfig that carries the column names (and a TSV quoting other than the
    default "auto") to the executor."""
    struct = struct_pb2.Struct()
    struct.update({"text_column": text_column, "label_column": label_column})
    if pair_column:
        struct.update({"text_pair_column": pair_column})
    if tsv_quoting != "auto":
        struct.update({"tsv_quoting": tsv_quoting})
    config = example_gen_pb2.CustomConfig()
    config.custom_config.Pack(struct)
    return config


def _to_examples(path: str, text_column: str, label_column: str, pair_column: Optional[str],
                 quoting: str = "auto"):
    for _, text, label, *pair in reader.read_labelled(path, text_column, label_column,
                                                      pair_column, quoting):
        feature = {features.TEXT: _bytes_feature(text), features.LABEL: _bytes_feature(label)}
        if pair:
            feature[features.TEXT_PAIR] = _bytes_feature(pair[0])
        yield tf.train.Example(features=tf.train.Features(feature=feature))


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(tf.train.Example)
def _LabelledToExample(pipeline: beam.Pipeline, exec_properties: Dict[str, Any],
                       split_pattern: str) -> beam.pvalue.PCollection:
    """Reads the data files matching `input_base/split_pattern`; one example per row."""
    input_base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
    text_column, label_column, pair_column = columns(exec_properties)
    quoting = tsv_quoting(exec_properties)
    pattern = os.path.join(input_base, split_pattern)
    files = sorted(f for f in fileio.glob(pattern) if reader.is_data_file(f))
    if not files:
        raise reader.LabelledDataError(
            f"split pattern {pattern} matches no data files (non-hidden "
            f"{', '.join(reader.DATA_EXTENSIONS)} files); add some or fix the pattern")
    # Validate every file before building the graph: all bad rows reported at once. The class
    # checks (schema domain, two or more classes) belong to check_labelled_data, run before the
    # pipeline: one split of user-split data may legitimately be small.
    counts = reader.check_files(files, text_column, label_column, labels=None, what=pattern,
                                min_classes=0, pair_column=pair_column, tsv_quoting=quoting)
    split_counts.expect(exec_properties, sum(counts.values()))
    logging.info("LabelledExampleGen: reading %d file(s) matching %s (text column %r, label "
                 "column %r)", len(files), pattern, text_column, label_column)
    return (pipeline
            | "CreateFilenames" >> beam.Create(files)
            | "Reshuffle" >> beam.Reshuffle()
            | "ReadRows" >> beam.FlatMap(_to_examples, text_column, label_column, pair_column,
                                         quoting))


class Executor(SplitCountsMixin, BaseExampleGenExecutor):
    """ExampleGen executor for labelled text (CSV, TSV, JSONL) with a text and a label column."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        return _LabelledToExample
